"""The work-order lifecycle: which step may follow which, who may take it, and what it changes.

::

    open ─▶ acknowledged ─▶ in_progress ⇄ on_hold (awaiting_parts | awaiting_customer)
                                 │
                                 ▼
                             resolved ─▶ closed
                                 │          │
                                 └─ reopen ─┴─▶ open

A step that does not follow from the current status raises `InvalidTransition` naming both and why;
a role the permission matrix does not allow raises `ticketing.roles.PermissionDenied`. Holding pauses
the SLA clock (the time spent on hold is recorded in ``holds`` and the deadlines move back by it) and
a priority change recomputes the deadlines, both through the ``deadlines`` function given.

`Lifecycle` changes orders in memory and is what tests of the rules use; `ServiceDesk` applies the
same steps to stored orders, audits each one and tells the adapters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from faultline.ticketing.attachments import check_attachment
from faultline.vocabulary import Clock
from faultline.ticketing.models import (
    PRIORITIES,
    Attachment,
    ChecklistItem,
    Comment,
    EscalationRecord,
    Feedback,
    HoldPeriod,
    HoldReason,
    OrderEvent,
    Outcome,
    Part,
    ServiceType,
    Status,
    WorkOrder,
)
from faultline.ticketing.roles import DEFAULT_PERMISSIONS, Action, PermissionDenied, PermissionMatrix
from faultline.ticketing.sla import Deadlines

if TYPE_CHECKING:
    from faultline.ticketing.adapters.base import Adapter
    from faultline.ticketing.config import TicketingConfig
    from faultline.ticketing.store import WorkOrderStore

log = logging.getLogger(__name__)

#: Computes an order's deadlines (its policy's, for its priority, service type and site) as of ``now``.
DeadlinesOf = Callable[[WorkOrder, datetime], Deadlines]


class InvalidTransition(Exception):
    """Raised when a step does not follow from the order's current status."""

    def __init__(self, order: WorkOrder, action: str, to: Status | None, reason: str):
        self.number, self.action, self.reason = order.number, action, reason
        self.from_status, self.to_status = order.status, to
        target = f" to {to.value}" if to is not None else ""
        super().__init__(f"{order.number}: cannot {action} from {order.status.value}{target}: {reason}")


@dataclass(frozen=True, slots=True)
class Actor:
    """A person (or the service itself) acting on orders, with the role the permission matrix knows."""

    name: str
    role: str


#: The intake and escalation act as this actor; they are not subject to the permission matrix.
SYSTEM = Actor("faultline", "admin")

S = Status
# action -> (statuses it may start from, status it leads to (None: unchanged), why others are refused)
_STEPS: dict[str, tuple[frozenset[Status], Status | None, str]] = {
    "acknowledge": (frozenset({S.OPEN}), S.ACKNOWLEDGED, "only an open order can be acknowledged"),
    "start": (frozenset({S.ACKNOWLEDGED}), S.IN_PROGRESS, "acknowledge the order before starting work"),
    "hold": (frozenset({S.IN_PROGRESS}), S.ON_HOLD, "only work in progress can be put on hold"),
    "resume": (frozenset({S.ON_HOLD}), S.IN_PROGRESS, "only an order on hold can be resumed"),
    "resolve": (frozenset({S.IN_PROGRESS}), S.RESOLVED, "only work in progress can be resolved (resume it first)"),
    "close": (frozenset({S.RESOLVED}), S.CLOSED, "resolve the order with an outcome before closing it"),
    "reopen": (frozenset({S.RESOLVED, S.CLOSED}), S.OPEN, "only a resolved or closed order can be reopened"),
    "assign": (frozenset(set(S) - {S.CLOSED}), None, "a closed order cannot be reassigned (reopen it)"),
    "set_priority": (frozenset(set(S) - {S.CLOSED}), None, "a closed order keeps its priority (reopen it)"),
    "set_type": (frozenset(set(S) - {S.CLOSED}), None, "a closed order keeps its service type (reopen it)"),
    "comment": (frozenset(S), None, ""),
    "feedback": (frozenset({S.CLOSED}), None, "the requester's feedback follows the close"),
    "escalate": (frozenset(set(S) - {S.CLOSED}), None, "a closed order is not escalated"),
    "attach": (frozenset(S), None, ""),
    "add_part": (frozenset(set(S) - {S.CLOSED}), None, "a closed order's parts are final (reopen it)"),
    "use_part": (frozenset(set(S) - {S.CLOSED}), None, "a closed order's parts are final (reopen it)"),
}
# every step a person takes is governed by the permission matrix action of the same name
_GUARDED = {step: Action(step) for step in _STEPS if step not in ("escalate", "attach", "add_part", "use_part")}
# evidence and parts go with the work: whoever may comment on an order may attach to it and list its parts
_GUARDED.update(attach=Action.COMMENT, add_part=Action.COMMENT, use_part=Action.COMMENT)
#: ``(new priority, current service type) -> service type``: the class of job an order of that priority is.
Retype = Callable[[str, ServiceType], ServiceType]


class UnknownAssignee(ValueError):
    """Raised when an order is assigned to someone who is not a configured engineer, or whose role may
    not do the work (resolve an order of that priority and type)."""


class Lifecycle:
    """The rules of the lifecycle, applied to orders in memory.

    Parameters
    ----------
    clock
        Where step times come from.
    deadlines
        Recomputes ``(response_due, resolution_due)`` for an order; None leaves deadlines as they are.
    permissions
        Who may take which step on which orders (`ticketing.roles.PermissionMatrix`); checked here,
        before every step, for every actor but the service itself (`SYSTEM`).
    engineers
        Name -> role of the people orders can be assigned to; None accepts any name (tests of other rules).
    retype
        The class of job for a new priority (`Retype`); None keeps the service type when the priority changes.
    """

    def __init__(
        self,
        clock: Clock,
        deadlines: DeadlinesOf | None = None,
        permissions: PermissionMatrix = DEFAULT_PERMISSIONS,
        engineers: Mapping[str, str] | None = None,
        retype: Retype | None = None,
    ):
        self.clock = clock
        self.deadlines = deadlines
        self.permissions = permissions
        self.engineers = None if engineers is None else dict(engineers)
        self.retype = retype

    @classmethod
    def from_config(cls, config: TicketingConfig, clock: Clock) -> "Lifecycle":
        """The lifecycle a `ticketing.config.TicketingConfig` describes: its catalogue's deadlines and
        service types, its permission matrix and its engineers."""
        return cls(
            clock,
            config_deadlines(config),
            config.permissions,
            {e.name: e.role.value for e in config.engineers},
            config_retype(config),
        )

    def _begin(self, order: WorkOrder, action: str, actor: Actor) -> tuple[WorkOrder, datetime]:
        sources, target, reason = _STEPS[action]
        if order.status not in sources:
            raise InvalidTransition(order, action, target, reason)
        if action in _GUARDED and actor is not SYSTEM:
            self.permissions.check(actor.role, _GUARDED[action], order.priority, order.service_type.value)
        order = order.model_copy(deep=True)
        if target is not None:
            order.status = target
        return order, self.clock.now()

    def _with_deadlines(self, order: WorkOrder, now: datetime) -> WorkOrder:
        return with_deadlines(order, self.deadlines, now)

    def acknowledge(self, order: WorkOrder, actor: Actor) -> WorkOrder:
        order, now = self._begin(order, "acknowledge", actor)
        order.acknowledged_at = order.acknowledged_at or now
        order.assignee = order.assignee or actor.name
        return order

    def start(self, order: WorkOrder, actor: Actor) -> WorkOrder:
        order, now = self._begin(order, "start", actor)
        order.started_at = order.started_at or now
        return order

    def hold(
        self, order: WorkOrder, actor: Actor, reason: HoldReason | str, parts: Iterable[str] | None = None
    ) -> WorkOrder:
        """Stop the clock. Awaiting parts, the hold names the parts: those given, else the order's
        parts still needed (part numbers given that the order does not list are added as needed)."""
        order, now = self._begin(order, "hold", actor)
        reason = HoldReason(reason)
        named: list[str] = []
        if reason is HoldReason.AWAITING_PARTS:
            named = [p.strip() for p in parts or () if p.strip()] or needed_parts(order)
            listed = {p.number for p in order.parts if p.state == "needed"}
            order.parts.extend(Part(number=n, quantity=1) for n in dict.fromkeys(named) if n not in listed)
        elif parts:
            raise ValueError(f"only an awaiting_parts hold names parts, not {reason.value}")
        order.holds.append(HoldPeriod(reason=reason, start=now, parts=list(dict.fromkeys(named))))
        return self._with_deadlines(order, now)

    def add_part(
        self,
        order: WorkOrder,
        actor: Actor,
        number: str,
        quantity: float = 1,
        description: str = "",
        used: bool = False,
    ) -> WorkOrder:
        """A spare part the job needs (or, with ``used``, one fitted); the same part again adds to its quantity."""
        order, _ = self._begin(order, "add_part", actor)
        line = Part(
            number=number.strip(), quantity=quantity, description=description, state="used" if used else "needed"
        )
        if not line.number:
            raise ValueError("a part needs a part number")
        for existing in order.parts:
            if existing.number == line.number and existing.state == line.state:
                existing.quantity += line.quantity
                existing.description = existing.description or line.description
                return order
        order.parts.append(line)
        return order

    def use_part(self, order: WorkOrder, actor: Actor, number: str, quantity: float | None = None) -> WorkOrder:
        """Record a needed part as fitted (all of it, or ``quantity``); a part not listed is added as used."""
        order, _ = self._begin(order, "use_part", actor)
        needed = next((p for p in order.parts if p.number == number and p.state == "needed"), None)
        amount = quantity if quantity is not None else (needed.quantity if needed else 1)
        if amount <= 0:
            raise ValueError(f"quantity used must be more than 0, not {amount}")
        if needed is not None:
            needed.quantity -= amount
            if needed.quantity <= 0:
                order.parts.remove(needed)
        used = next((p for p in order.parts if p.number == number and p.state == "used"), None)
        if used is None:
            order.parts.append(
                Part(number=number, quantity=amount, description=needed.description if needed else "", state="used")
            )
        else:
            used.quantity += amount
        return order

    def resume(self, order: WorkOrder, actor: Actor) -> WorkOrder:
        order, now = self._begin(order, "resume", actor)
        order.holds[-1].end = now
        return self._with_deadlines(order, now)

    def resolve(
        self,
        order: WorkOrder,
        actor: Actor,
        outcome: Outcome | str,
        notes: str = "",
        checklist: Iterable[ChecklistItem] | None = None,
        checked: Iterable[int] | None = None,
    ) -> WorkOrder:
        """Record the close-out: what was found (the detector's feedback), notes and checklist results.

        ``checklist`` replaces the list with results; ``checked`` instead gives the 1-based numbers of
        the order's own steps that were done (the others are recorded as not done).
        """
        order, now = self._begin(order, "resolve", actor)
        order.outcome, order.outcome_notes, order.resolved_at = Outcome(outcome), notes, now
        if checklist is not None:
            order.checklist = list(checklist)
        if checked is not None:
            done = set(checked)
            if bad := sorted(n for n in done if not 1 <= n <= len(order.checklist)):
                raise ValueError(f"{order.number} has checklist steps 1..{len(order.checklist)}, not {bad[0]}")
            for number, item in enumerate(order.checklist, start=1):
                item.done = number in done
        return order

    def close(self, order: WorkOrder, actor: Actor) -> WorkOrder:
        order, now = self._begin(order, "close", actor)
        order.closed_at = now
        return order

    def reopen(self, order: WorkOrder, actor: Actor, reason: str = "no reason given") -> WorkOrder:
        """Send the order back to ``open``; it keeps its history and counts against first-time fix."""
        order, now = self._begin(order, "reopen", actor)
        return self._new_visit(order, actor, now, reason)

    def _new_visit(self, order: WorkOrder, actor: Actor, now: datetime, reason: str) -> WorkOrder:
        # a new visit: the last one is kept as it ended, and the clock, the acknowledgement, the
        # holds and the escalation steps start again, as for a new order
        order.status = Status.OPEN
        order.visits.append(order.current_visit().model_copy(update={"reopen_reason": reason}))
        order.reopened_at.append(now)
        order.resolved_at = order.closed_at = order.outcome = None
        order.acknowledged_at = order.started_at = None
        order.holds, order.escalations = [], []
        order.comments.append(Comment(author=actor.name, at=now, text=f"reopened: {reason}"))
        return self._with_deadlines(order, now)

    def feedback(self, order: WorkOrder, actor: Actor, fixed: bool, rating: int, comment: str = "") -> WorkOrder:
        """Record the requester's word on a closed order, once per visit; "not fixed" reopens it (a new
        visit, against first-time fix). The engineer who did the work does not rate it."""
        order, now = self._begin(order, "feedback", actor)
        visit = len(order.visits) + 1
        if any(f.visit == visit for f in order.feedback):
            raise InvalidTransition(order, "feedback", None, f"visit {visit} has its feedback already")
        if actor is not SYSTEM and actor.name == order.assignee:
            raise PermissionDenied(
                actor.role,
                "feedback",
                order.priority,
                order.service_type.value,
                f"{actor.name} did the work on {order.number}: the requester or a supervisor gives the feedback",
            )
        order.feedback.append(Feedback(visit=visit, by=actor.name, at=now, fixed=fixed, rating=rating, comment=comment))
        if not fixed:
            return self._new_visit(order, actor, now, f"requester: not fixed ({comment or 'no comment'})")
        return order

    def assign(self, order: WorkOrder, actor: Actor, engineer: str) -> WorkOrder:
        order, _ = self._begin(order, "assign", actor)
        if self.engineers is not None:
            if engineer not in self.engineers:
                raise UnknownAssignee(
                    f"{engineer!r} is not a configured engineer (known: {', '.join(sorted(self.engineers)) or 'none'})"
                )
            try:
                self.permissions.check(
                    self.engineers[engineer], Action.RESOLVE, order.priority, order.service_type.value
                )
            except PermissionDenied as exc:
                raise UnknownAssignee(f"cannot assign {order.number} to {engineer}: {exc.reason}") from None
        order.assignee = engineer
        return order

    def set_priority(self, order: WorkOrder, actor: Actor, priority: str) -> WorkOrder:
        """Change the priority; the class of job follows it (a P2 corrective raised to P1 becomes
        emergency repair), and with it the deadlines and who may resolve and close."""
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r} (known: {', '.join(PRIORITIES)})")
        order, now = self._begin(order, "set_priority", actor)
        order.priority = priority
        if self.retype is not None:
            order.service_type = self.retype(priority, order.service_type)
        return self._with_deadlines(order, now)

    def set_type(self, order: WorkOrder, actor: Actor, service_type: ServiceType | str) -> WorkOrder:
        """Change the class of job (its deadlines follow the policy of that type for the priority)."""
        service_type = ServiceType(service_type)
        order, now = self._begin(order, "set_type", actor)
        order.service_type = service_type
        return self._with_deadlines(order, now)

    def comment(self, order: WorkOrder, actor: Actor, text: str) -> WorkOrder:
        order, now = self._begin(order, "comment", actor)
        order.comments.append(Comment(author=actor.name, at=now, text=text))
        return order

    def attach(self, order: WorkOrder, actor: Actor, attachment: Attachment, max_order_bytes: int) -> WorkOrder:
        """Record a photo, video or document (its file is already kept; see ``ticketing.attachments``)."""
        order, _ = self._begin(order, "attach", actor)
        check_attachment(order, attachment, max_order_bytes)
        order.attachments.append(attachment)
        return order

    def escalate(
        self,
        order: WorkOrder,
        actor: Actor,
        key: str,
        of: str,
        step: str,
        fraction: float,
        role: str | None = None,
        text: str = "",
    ) -> WorkOrder:
        """Record the escalation ``step`` (``notify_assignee``, ``reassign``, ``notify_manager``, ``breach``)
        that fired, as its own audited change, so the notifications hear of it."""
        order, now = self._begin(order, "escalate", actor)
        order.escalations.append(EscalationRecord(key=key, of=of, action=step, role=role, fraction=fraction, at=now))
        if text:
            order.comments.append(Comment(author=actor.name, at=now, text=text))
        return order


def config_deadlines(config: TicketingConfig) -> DeadlinesOf:
    """`DeadlinesOf` from a `ticketing.config.TicketingConfig`: the policy serving the order's
    priority (and service type) on the calendar of its site."""

    def deadlines(order: WorkOrder, now: datetime) -> Deadlines:
        policy = config.policy_for(order.priority, order.service_type, order.site)
        return config.sla_clock(order.site, policy).deadlines(order, now)

    return deadlines


def config_retype(config: TicketingConfig) -> Retype:
    """`Retype` from a `ticketing.config.TicketingConfig`: the type of the policy serving the priority
    (the current type when a policy of it does)."""
    return lambda priority, current: config.policy_for(priority, current).service_type


def with_deadlines(order: WorkOrder, deadlines: DeadlinesOf | None, now: datetime) -> WorkOrder:
    """``order`` with ``response_due``/``resolution_due`` recomputed (unchanged when ``deadlines`` is None)."""
    if deadlines is not None:
        due = deadlines(order, now)
        order.response_due, order.resolution_due = due.response_due, due.resolution_due
    return order


class Notifier:
    """Hands each order event to every adapter; one adapter's failure is logged, never raised."""

    def __init__(self, adapters: Iterable[Adapter] = ()) -> None:
        self.adapters = list(adapters)

    def __call__(self, event: OrderEvent) -> None:
        for adapter in self.adapters:
            try:
                adapter.on_event(event)
            except Exception:  # an adapter must not undo a saved change; it keeps its own dead letters
                log.exception("adapter %s failed on event %s", type(adapter).__name__, event.id)


class ServiceDesk:
    """Lifecycle steps on stored orders: each is one audited transaction, then adapters are told.

    ``desk.act(order_id, actor, "hold", reason="awaiting_parts")`` runs `Lifecycle.hold` on the stored
    order under the store's row lock.
    """

    def __init__(
        self, store: WorkOrderStore, lifecycle: Lifecycle, notify: Callable[[OrderEvent], None] = Notifier()
    ) -> None:
        self.store, self.lifecycle, self.notify = store, lifecycle, notify

    def act(self, order_id: int, actor: Actor, action: str, **arguments: Any) -> WorkOrder:
        if action not in _STEPS:
            raise ValueError(f"unknown action {action!r} (known: {', '.join(_STEPS)})")
        step = getattr(self.lifecycle, action)
        event = self.store.update(
            order_id,
            lambda order: step(order, actor, **arguments),
            actor=actor.name,
            at=self.lifecycle.clock.now(),
            action=action,
        )
        self.notify(event)
        return event.order


#: Steps a person takes from the order page (escalation is the service's own).
PERSON_STEPS: tuple[str, ...] = (
    "acknowledge",
    "start",
    "hold",
    "resume",
    "resolve",
    "close",
    "reopen",
    "assign",
    "set_priority",
    "comment",
    "add_part",
    "use_part",
)


def needed_parts(order: WorkOrder) -> list[str]:
    """The part numbers the order still waits for."""
    return [p.number for p in order.parts if p.state == "needed"]


class Refusal(NamedTuple):
    """Why a step may not be taken: ``by`` the order's ``status`` or the actor's ``role``, and the reason."""

    by: str
    reason: str


def step_refusals(
    order: WorkOrder, role: str, permissions: PermissionMatrix = DEFAULT_PERMISSIONS
) -> dict[str, Refusal | None]:
    """For each step a person can take, why ``role`` may not take it on ``order`` now (None: it may).

    The lifecycle's reason comes first (the step does not follow from the status), then the
    permission matrix's; the answers are what `Lifecycle` would raise, without changing anything.
    """
    refusals: dict[str, Refusal | None] = {}
    for action in PERSON_STEPS:
        sources, _, reason = _STEPS[action]
        refusal = None if order.status in sources else Refusal("status", reason)
        if refusal is None and action in _GUARDED:
            try:
                permissions.check(role, _GUARDED[action], order.priority, order.service_type.value)
            except PermissionDenied as exc:
                refusal = Refusal("role", exc.reason)
        refusals[action] = refusal
    return refusals
