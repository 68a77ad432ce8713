"""Who may do what to which work order.

The permission matrix is role × action × priority (or service type): for every step on an order —
acknowledge, start, hold, resume, comment, assign, resolve, close, reopen, and a change of priority
or of service type — it names the roles allowed by default and, where stricter or looser rules
apply, the roles allowed for a priority (``P1``) or a service type (``corrective``). A specific rule
replaces the default; when both a priority rule and a service-type rule match, a role must be
allowed by both (the stricter one wins). ``ticketing.lifecycle.Lifecycle`` asks it before every step,
so this is the one place the rules live.

The defaults: anyone may acknowledge, start, resume and comment; a junior engineer may not put a P1
on hold (that stops its SLA clock), resolve emergency work, close or reopen anything; only a senior
engineer, a manager or an admin assigns, changes priority or type, and closes emergency and
corrective work.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.ticketing.models import PRIORITIES, ServiceType


class Role(StrEnum):
    """A person's role in the maintenance service."""

    JUNIOR_ENGINEER = "junior_engineer"
    MID_ENGINEER = "mid_engineer"
    SENIOR_ENGINEER = "senior_engineer"
    MANAGER = "manager"
    RELIABILITY_ENGINEER = "reliability_engineer"
    ADMIN = "admin"


class Action(StrEnum):
    """Something done to a work order that the permission matrix governs."""

    ACKNOWLEDGE = "acknowledge"
    START = "start"
    HOLD = "hold"
    RESUME = "resume"
    COMMENT = "comment"
    ASSIGN = "assign"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    SET_PRIORITY = "set_priority"
    SET_TYPE = "set_type"
    FEEDBACK = "feedback"


class PermissionDenied(Exception):
    """Raised when a role may not do an action to an order of that priority or service type."""

    def __init__(self, role: str, action: str, priority: str, service_type: str | None, reason: str):
        self.role, self.action, self.priority, self.service_type = role, action, priority, service_type
        self.reason = reason
        super().__init__(reason)


_E = TypeVar("_E", bound=StrEnum)


def _parse(kind: type[_E], value: object) -> _E:
    try:
        # calling an enum looks the value up; one that is not a string is not found (ValueError below)
        return kind(value)  # type: ignore[arg-type]
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise ValueError(f"unknown {kind.__name__.lower()} {value!r} (known: {known})") from None


def parse_role(value: object) -> Role:
    """`Role` from its name, with an error listing the known roles."""
    return _parse(Role, value)


def parse_action(value: object) -> Action:
    """`Action` from its name, with an error listing the known actions."""
    return _parse(Action, value)


_R = Role
_EVERYONE = [_R.JUNIOR_ENGINEER, _R.MID_ENGINEER, _R.SENIOR_ENGINEER, _R.RELIABILITY_ENGINEER, _R.MANAGER, _R.ADMIN]
_EXPERIENCED = [_R.MID_ENGINEER, _R.SENIOR_ENGINEER, _R.RELIABILITY_ENGINEER, _R.MANAGER, _R.ADMIN]
_SENIOR = [_R.SENIOR_ENGINEER, _R.MANAGER, _R.ADMIN]
# who speaks for the requester after a close: the reliability engineer who raised it, or a supervisor
_SUPERVISORS = [_R.SENIOR_ENGINEER, _R.RELIABILITY_ENGINEER, _R.MANAGER, _R.ADMIN]
_RuleSet = dict[str, list[Role]]


def _rules(default: list[Role], **specific: list[Role]) -> _RuleSet:
    return {"default": list(default), **{k: list(v) for k, v in specific.items()}}


class PermissionMatrix(BaseModel):
    """For each action, ``default`` roles plus rules per priority or service type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    acknowledge: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE))
    start: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE))
    hold: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE, P1=_EXPERIENCED))
    resume: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE))
    comment: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE))
    assign: _RuleSet = Field(default_factory=lambda: _rules(_SENIOR))
    resolve: _RuleSet = Field(default_factory=lambda: _rules(_EVERYONE, emergency_repair=_EXPERIENCED))
    close: _RuleSet = Field(default_factory=lambda: _rules(_EXPERIENCED, emergency_repair=_SENIOR, corrective=_SENIOR))
    reopen: _RuleSet = Field(default_factory=lambda: _rules(_EXPERIENCED))
    set_priority: _RuleSet = Field(default_factory=lambda: _rules(_SENIOR))
    set_type: _RuleSet = Field(default_factory=lambda: _rules(_SENIOR))
    feedback: _RuleSet = Field(default_factory=lambda: _rules(_SUPERVISORS))

    @field_validator(*(a.value for a in Action))
    @classmethod
    def _known_keys(cls, rules: _RuleSet) -> _RuleSet:
        if "default" not in rules:
            raise ValueError("needs a 'default' list of roles")
        allowed = {"default", *PRIORITIES, *(t.value for t in ServiceType)}
        for key in rules:
            if key not in allowed:
                raise ValueError(
                    f"unknown rule key {key!r}: use default, a priority ({', '.join(PRIORITIES)}) "
                    f"or a service type ({', '.join(t.value for t in ServiceType)})"
                )
        return rules

    def allowed(
        self, action: Action | str, priority: str, service_type: str | None = None
    ) -> tuple[frozenset[Role], str]:
        """The roles allowed, and the name of the rule that decided it (``close.corrective``)."""
        action = parse_action(action)
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r} (known: {', '.join(PRIORITIES)})")
        rules: _RuleSet = getattr(self, action.value)
        keys = [k for k in (priority, str(service_type) if service_type is not None else None) if k in rules]
        if not keys:
            return frozenset(rules["default"]), f"{action.value}.default"
        roles = frozenset(rules[keys[0]])
        for key in keys[1:]:
            roles &= frozenset(rules[key])
        return roles, " + ".join(f"{action.value}.{k}" for k in keys)

    def check(self, role: Role | str, action: Action | str, priority: str, service_type: str | None = None) -> None:
        """Return quietly when ``role`` may do ``action``; raise `PermissionDenied` saying why not."""
        role, action = parse_role(role), parse_action(action)
        roles, rule = self.allowed(action, priority, service_type)
        if role in roles:
            return
        what = f"{priority} {service_type} orders" if service_type else f"{priority} orders"
        who = ", ".join(r.value for r in Role if r in roles) or "nobody"
        raise PermissionDenied(
            role.value,
            action.value,
            priority,
            service_type,
            f"{role.value} may not {action.value} {what}: only {who} may (rule {rule})",
        )


DEFAULT_PERMISSIONS = PermissionMatrix()


def check(
    role: Role | str,
    action: Action | str,
    priority: str,
    service_type: str | None = None,
    matrix: PermissionMatrix = DEFAULT_PERMISSIONS,
) -> None:
    """`PermissionMatrix.check` on ``matrix`` (the default matrix unless given).

    >>> check("senior_engineer", "close", "P2", "corrective")
    >>> check("mid_engineer", "close", "P2", "corrective")
    Traceback (most recent call last):
    ...
    faultline.ticketing.roles.PermissionDenied: mid_engineer may not close P2 corrective orders: only senior_engineer, manager, admin may (rule close.corrective)
    """
    matrix.check(role, action, priority, service_type)


__all__ = [
    "Action",
    "DEFAULT_PERMISSIONS",
    "PermissionDenied",
    "PermissionMatrix",
    "Role",
    "check",
    "parse_action",
    "parse_role",
]
