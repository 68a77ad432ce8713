"""The ``ticketing:`` section of the configuration: sites, SLA catalogue, escalation, roles, routing.

Every model rejects unknown keys, and cross-references are checked when the section is read (a
policy's priorities, the risk matrix's cells, an engineer's sites), so a typo is an error naming the
key and the value before anything runs. ``service.settings`` composes this section into the one
``Settings`` of a run; `default_ticketing_config` gives the sample catalogue shipped with the package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Container, Mapping
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import holidays as holiday_tables
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from faultline.ticketing.calendar import WEEKDAYS, AlwaysOpen, BusinessCalendar, Calendar, Weekday, parse_span, zone
from faultline.vocabulary import Duration, Severity
from faultline.ticketing.models import PRIORITIES, ServiceType
from faultline.ticketing.roles import PermissionMatrix, Role
from faultline.ticketing.sla import EscalationStep, SlaClock, SlaPolicy, unique_steps


class Criticality(StrEnum):
    """How much production depends on an asset: ``A`` (critical) > ``B`` > ``C``."""

    A = "A"
    B = "B"
    C = "C"


class UnknownName(KeyError):
    """Raised when a policy, site or other configured name is asked for but not configured."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r} (configured: {', '.join(self.known) or 'none'})"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Holidays(Container[date]):
    """A country's (and state's) public holidays plus a site's own closing days."""

    def __init__(self, table: Container[date] | None, extra: frozenset[date]):
        self.table, self.extra = table, extra

    def __contains__(self, day: object) -> bool:
        return day in self.extra or (self.table is not None and day in self.table)


class HolidaySettings(_Section):
    """Public holidays from the `holidays` package (``country: DE``, ``subdivision: BE``) plus ``extra``."""

    country: str | None = None
    subdivision: str | None = None
    extra: list[date] = Field(default_factory=list, description="the site's own closing days")

    @model_validator(mode="after")
    def _known_region(self) -> HolidaySettings:
        if self.subdivision and not self.country:
            raise ValueError(f"subdivision {self.subdivision!r} needs a country")
        self.table()  # fail now, naming the code, rather than on the first deadline
        return self

    def table(self) -> Container[date]:
        table = None
        if self.country:
            try:
                table = holiday_tables.country_holidays(self.country, subdiv=self.subdivision)
            except NotImplementedError as exc:
                region = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
                raise ValueError(f"no public holidays known for {region!r}: {exc}") from exc
        return _Holidays(table, frozenset(self.extra))


def _default_hours() -> dict[Weekday, list[str]]:
    return {day: ["08:00-17:00"] for day in WEEKDAYS[:5]}


class SiteSettings(_Section):
    """A place where engineers work: its time zone, working windows per weekday and holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    timezone: str
    hours: dict[Weekday, list[str]] = Field(
        default_factory=_default_hours, description="working windows per weekday, e.g. fri: [08:00-12:00, 13:00-17:00]"
    )
    holidays: HolidaySettings = Field(default_factory=HolidaySettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _one_window_as_text(cls, value: Any) -> Any:
        # `fri: 08:00-12:00` reads as well as `fri: [08:00-12:00]`
        if isinstance(value, dict):
            return {day: [w] if isinstance(w, str) else w for day, w in value.items()}
        return value

    @field_validator("hours")
    @classmethod
    def _valid_windows(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        cls._build("UTC", value, ())  # parses every window and checks overlaps
        return value

    @staticmethod
    def _build(tz: str, hours: Mapping[Weekday, list[str]], holidays: Container[date]) -> BusinessCalendar:
        spans = {WEEKDAYS.index(day): [parse_span(s) for s in windows] for day, windows in hours.items()}
        return BusinessCalendar(tz, spans, holidays)

    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        """This site's `BusinessCalendar` (built once)."""
        return self._build(self.timezone, self.hours, self.holidays.table())

    def calendar(self, kind: Literal["business", "24x7"]) -> Calendar:
        """The business calendar, or the 24×7 one in this site's time zone."""
        return self.business_calendar if kind == "business" else AlwaysOpen(self.timezone)


class EngineerSettings(_Section):
    """Someone orders can be assigned to."""

    name: str = Field(min_length=1)
    role: Role
    sites: list[str] = Field(min_length=1)
    skills: list[str] = Field(default_factory=list)
    email: str | None = None


class AssignmentSettings(_Section):
    """How an order finds its engineer: same site, the skills its fault mode needs, least open work."""

    strategy: Literal["least_loaded"] = "least_loaded"
    match_site: bool = True
    fault_skills: dict[str, list[str]] = Field(
        default_factory=dict,
        description="fault mode -> skills an engineer needs (e.g. bearing_outer_race: [vibration])",
    )
    max_open_per_engineer: int | None = Field(None, ge=1)
    roles: list[Role] = Field(
        default_factory=lambda: [Role.JUNIOR_ENGINEER, Role.MID_ENGINEER, Role.SENIOR_ENGINEER],
        description="roles that receive orders automatically",
    )


def _default_risk_matrix() -> dict[Severity, dict[Criticality, str]]:
    a, b, c = Criticality
    return {
        Severity.CRITICAL: {a: "P1", b: "P1", c: "P2"},
        Severity.HIGH: {a: "P1", b: "P2", c: "P3"},
        Severity.MEDIUM: {a: "P2", b: "P3", c: "P4"},
        Severity.LOW: {a: "P3", b: "P4", c: "P4"},
    }


def _default_escalation() -> list[EscalationStep]:
    return [
        EscalationStep(at=0.75, of="response", action="notify_assignee"),
        EscalationStep(at=1.0, of="response", action="reassign", role=Role.SENIOR_ENGINEER),
        EscalationStep(at=1.0, of="resolution", action="notify_manager"),
    ]


#: What a notification is about, in the words of the people who receive it. Each audited change to an
#: order is one of these (``escalation`` and the breaches come from the escalation scheduler).
NotificationEvent = Literal[
    "opened",
    "priority_changed",
    "escalation",
    "response_breached",
    "resolution_breached",
    "resolved",
    "reopened",
    "acknowledged",
    "started",
    "held",
    "resumed",
    "assigned",
    "closed",
    "commented",
    "evidence_added",
]
#: Every notification event, in the order above (read from the type, so the two cannot disagree).
NOTIFICATION_EVENTS: tuple[NotificationEvent, ...] = get_args(NotificationEvent)
#: The events a receiver gets unless it lists its own.
DEFAULT_NOTIFICATION_EVENTS: tuple[NotificationEvent, ...] = (
    "opened",
    "priority_changed",
    "escalation",
    "response_breached",
    "resolution_breached",
    "resolved",
    "reopened",
)


class _Routed(_Section):
    """Which events, of which sites and priorities, a receiver or a rule takes (empty: all)."""

    events: list[NotificationEvent] = Field(default_factory=lambda: list(DEFAULT_NOTIFICATION_EVENTS))
    sites: list[str] = Field(default_factory=list, description="only orders of these sites (empty: every site)")
    priorities: list[Literal["P1", "P2", "P3", "P4"]] = Field(
        default_factory=list, description="only orders of these priorities (empty: every priority)"
    )

    def takes(self, event: str, site: str, priority: str) -> bool:
        return (
            event in self.events
            and (not self.sites or site in self.sites)
            and (not self.priorities or priority in self.priorities)
        )


class WebhookSettings(_Routed):
    """An HTTP endpoint that receives order events, signed (``ticketing.adapters.webhook``).

    An empty ``url`` turns the receiver off, so a shipped file can write ``url: ${WEBHOOK_URL:-}``.
    """

    name: str = Field("webhook", min_length=1, max_length=40, description="names the receiver in the delivery log")
    url: str = Field(pattern=r"^(https?://.+)?$", description="e.g. https://cmms.example/hooks/faultline; empty: off")
    secret: str = Field("", description="shared HMAC secret, at least 16 characters; write ${WEBHOOK_SECRET}")
    max_attempts: int = Field(8, ge=1, description="attempts before a delivery is marked dead")
    timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _secret_when_on(self) -> WebhookSettings:
        if self.url and len(self.secret) < 16:
            raise ValueError(
                f"webhook {self.name!r}: secret must be at least 16 characters (write ${{WEBHOOK_SECRET}} "
                "and set the variable)"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class SmtpSettings(_Section):
    """The mail server notices go through (``ticketing.adapters.mail``). An empty ``host`` turns e-mail off."""

    host: str = Field("", description="empty: no e-mail")
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("faultline@localhost", min_length=3, description="the From address")
    starttls: bool = False
    username: str | None = None
    password: str | None = Field(None, description="write ${SMTP_PASSWORD} to keep it out of the file")
    max_attempts: int = Field(8, ge=1, description="attempts before a mail is marked dead")

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class MailRule(_Routed):
    """Who is e-mailed about which events: ``to`` lists ``assignee``, ``managers`` (the site's),
    ``site`` (every engineer of the site), ``escalation`` (whom the escalation step names),
    ``role:<role>`` (that role at the site) or plain addresses."""

    to: list[str] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _known_recipients(cls, to: list[str]) -> list[str]:
        for who in to:
            if who in ("assignee", "managers", "site", "escalation") or "@" in who:
                continue
            if who.startswith("role:"):
                Role(who.removeprefix("role:"))
                continue
            raise ValueError(
                f"unknown recipient {who!r}: assignee, managers, site, escalation, role:<role> or an e-mail address"
            )
        return to


def _default_mail_rules() -> list[MailRule]:
    return [MailRule(events=["escalation", "response_breached", "resolution_breached"], to=["escalation"])]


class TicketingConfig(_Section):
    """The whole ``ticketing:`` section."""

    sites: dict[str, SiteSettings] = Field(min_length=1)
    default_site: str | None = Field(
        None, description="findings from a site not listed under sites: are filed here (none: they wait, counted)"
    )
    escalation: list[EscalationStep] = Field(
        default_factory=_default_escalation, description="the chain of every policy that has none of its own"
    )
    policies: dict[str, SlaPolicy] = Field(min_length=1, description="the service catalogue, by policy name")
    permissions: PermissionMatrix = Field(default_factory=PermissionMatrix)
    risk_matrix: dict[Severity, dict[Criticality, str]] = Field(default_factory=_default_risk_matrix)
    assignment: AssignmentSettings = Field(default_factory=AssignmentSettings)
    engineers: list[EngineerSettings] = Field(default_factory=list)
    reopen_window: Duration = Field(timedelta(days=14), description="a fault back within this after closing reopens")
    # asset registry, added by the work-order half (findings.py reads it for the risk matrix)
    asset_criticality: dict[str, Criticality] = Field(
        default_factory=dict,
        description="asset -> A, B or C (the asset registry); unlisted assets take default_criticality",
    )
    default_criticality: Criticality = Criticality.B
    store_url: str = Field(
        "sqlite:///var/workorders.sqlite",
        description="the work-order store: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    checklists: dict[str, list[str]] = Field(
        default_factory=dict, description="fault mode (or 'default') -> steps every new order of it lists"
    )
    finding_kinds: dict[str, ServiceType] = Field(
        default_factory=lambda: {"data_quality": ServiceType.SENSOR_CHECK},
        description="finding kind -> the class of job it opens whatever its priority (others: by priority)",
    )
    webhooks: list[WebhookSettings] = Field(default_factory=list, description="receivers of order events")
    smtp: SmtpSettings | None = Field(None, description="mail server for notices; none (or no host): no e-mail")
    mail: list[MailRule] = Field(
        default_factory=_default_mail_rules,
        description="who is e-mailed about what (every matching rule adds its recipients)",
    )

    _unique_steps = field_validator("escalation")(unique_steps)

    @field_validator("reopen_window")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"must not be negative, got {value}")
        return value

    @field_validator("policies", mode="before")
    @classmethod
    def _name_from_key(cls, value: Any) -> Any:
        # the key is the name; writing it twice in YAML would only invite the two to differ
        if isinstance(value, dict):
            return {k: ({"name": k, **v} if isinstance(v, dict) and "name" not in v else v) for k, v in value.items()}
        return value

    @field_validator("policies")
    @classmethod
    def _complete_catalogue(cls, policies: dict[str, SlaPolicy], info: ValidationInfo) -> dict[str, SlaPolicy]:
        chain = info.data.get("escalation", [])
        resolved = {}
        for key, policy in policies.items():
            if policy.name != key:
                raise ValueError(f"policy {key!r} is named {policy.name!r}; leave the name out or make them equal")
            if policy.escalation is None:
                # the default chain, keeping only the steps on targets this policy has
                steps = tuple(s for s in chain if policy.target(s.of) is not None)
                policy = policy.model_copy(update={"escalation": steps})
            resolved[key] = policy
            for override in policy.targets:
                if override.site is not None and "sites" in info.data and override.site not in info.data["sites"]:
                    raise ValueError(
                        f"policy {key!r}: target for unknown site {override.site!r} "
                        f"(configured: {', '.join(sorted(info.data['sites']))})"
                    )
                if override.priority is not None and override.priority not in policy.priorities:
                    raise ValueError(
                        f"policy {key!r}: target for {override.priority}, which it does not serve "
                        f"({', '.join(policy.priorities)})"
                    )
        covered = {p for policy in policies.values() for p in policy.priorities}
        if missing := [p for p in PRIORITIES if p not in covered]:
            raise ValueError(f"no policy serves priority {', '.join(missing)}: every priority needs deadlines")
        return resolved

    @field_validator("risk_matrix")
    @classmethod
    def _every_cell(cls, matrix: dict[Severity, dict[Criticality, str]]) -> dict[Severity, dict[Criticality, str]]:
        for severity in Severity:
            row = matrix.get(severity)
            if row is None:
                raise ValueError(f"no row for severity {severity.value!r}")
            for criticality in Criticality:
                cell = row.get(criticality)
                if cell not in PRIORITIES:
                    raise ValueError(
                        f"{severity.value}.{criticality.value}: {cell!r} is not a priority ({', '.join(PRIORITIES)})"
                    )
        return matrix

    @field_validator("engineers")
    @classmethod
    def _known_sites(cls, engineers: list[EngineerSettings], info: ValidationInfo) -> list[EngineerSettings]:
        if "sites" not in info.data:
            return engineers  # the sites themselves are invalid, and that error is reported already
        sites = info.data["sites"]
        for engineer in engineers:
            for site in engineer.sites:
                if site not in sites:
                    raise ValueError(
                        f"engineer {engineer.name!r}: unknown site {site!r} (configured: {', '.join(sorted(sites))})"
                    )
        names = [e.name for e in engineers]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"engineer name {dupes[0]!r} appears more than once")
        return engineers

    @field_validator("webhooks")
    @classmethod
    def _unique_webhook_names(cls, webhooks: list[WebhookSettings]) -> list[WebhookSettings]:
        names = [w.name for w in webhooks]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"webhook name {dupes[0]!r} appears more than once (give each a name:)")
        return webhooks

    @model_validator(mode="after")
    def _routed_sites_known(self) -> TicketingConfig:
        if self.default_site is not None and self.default_site not in self.sites:
            raise ValueError(
                f"default_site: unknown site {self.default_site!r} (configured: {', '.join(sorted(self.sites))})"
            )
        for what, routed in [
            *((f"webhook {w.name!r}", w) for w in self.webhooks),
            *((f"mail rule {i + 1}", r) for i, r in enumerate(self.mail)),
        ]:
            for site in routed.sites:
                if site not in self.sites:
                    raise ValueError(f"{what}: unknown site {site!r} (configured: {', '.join(sorted(self.sites))})")
        return self

    def site(self, name: str) -> SiteSettings:
        """The configured site, or `UnknownName` listing the configured ones."""
        try:
            return self.sites[name]
        except KeyError:
            raise UnknownName("site", name, sorted(self.sites)) from None

    def policy(self, name: str) -> SlaPolicy:
        """The configured policy, or `UnknownName` listing the configured ones."""
        try:
            return self.policies[name]
        except KeyError:
            raise UnknownName("policy", name, sorted(self.policies)) from None

    def policy_for(
        self, priority: str, service_type: ServiceType | str | None = None, site: str | None = None
    ) -> SlaPolicy:
        """The policy serving ``priority`` for ``service_type``.

        Without a service type, or when no policy of that type serves the priority (an order whose
        priority was raised past its class of job), the first policy in the catalogue serving the
        priority applies.
        """
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r} (known: {', '.join(PRIORITIES)})")
        serving = [p for p in self.policies.values() if priority in p.priorities]
        exact = [p for p in serving if service_type is not None and p.service_type == service_type]
        policy = (exact or serving)[0]
        return policy if site is None else policy.at(site, priority)

    def priority_for(self, severity: Severity | str, criticality: Criticality | str) -> str:
        """The risk matrix's priority for a finding's severity on an asset of that criticality."""
        try:
            return self.risk_matrix[Severity(severity)][Criticality(criticality)]
        except ValueError:
            raise ValueError(
                f"no risk-matrix cell for severity {severity!r} and criticality {criticality!r} "
                f"(severities: {', '.join(Severity)}; criticalities: {', '.join(Criticality)})"
            ) from None

    def checklist_for(self, fault_mode: str) -> list[str]:
        """The steps a new order for ``fault_mode`` lists (the ``default`` list when it has none)."""
        return list(self.checklists.get(fault_mode, self.checklists.get("default", [])))

    def criticality_of(self, asset: str) -> Criticality:
        """The asset's criticality from ``asset_criticality``, else ``default_criticality``."""
        return self.asset_criticality.get(asset, self.default_criticality)

    def escalation_clock(self, site: str, policy: SlaPolicy | str) -> SlaClock:
        """The SLA clock the escalation scheduler judges an order by: the policy's chain plus a
        ``breach`` notice at each of its targets (unless the chain has one already)."""
        if isinstance(policy, str):
            policy = self.policy(policy)
        steps = list(policy.escalation or ())
        have = {step.key for step in steps}
        steps += [
            step
            for target in ("response", "resolution")
            if policy.target(target) is not None
            for step in (EscalationStep(at=1.0, of=target, action="breach"),)
            if step.key not in have
        ]
        return self.sla_clock(site, policy.model_copy(update={"escalation": tuple(steps)}))

    def sla_clock(self, site: str, policy: SlaPolicy | str) -> SlaClock:
        """The SLA clock of ``policy`` (an object or a name) at ``site``."""
        if isinstance(policy, str):
            policy = self.policy(policy)
        return SlaClock(policy, self.site(site).calendar(policy.calendar))


def parse_ticketing_section(document: Any, source: str = "configuration") -> Any:
    """The ``ticketing:`` mapping of a parsed YAML document, with an error naming the file if absent."""
    if not isinstance(document, dict) or "ticketing" not in document:
        raise ValueError(f"{source}: no 'ticketing:' section")
    return document["ticketing"]


def default_config_path() -> Path:
    """The sample configuration shipped inside the package (``config/ticketing.yaml`` in the repository)."""
    return Path(str(resources.files("faultline.ticketing").joinpath("default.yaml")))


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(node: Any, env: Mapping[str, str]) -> Any:
    """``${NAME}`` and ``${NAME:-default}`` in strings, as in the run's configuration file."""
    if isinstance(node, dict):
        return {k: expand_env(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env) for v in node]
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) in env:
                return env[match.group(1)]
            if match.group(2) is not None:
                return match.group(2)
            raise ValueError(f"environment variable {match.group(1)} is not set (value {node!r})")

        return _ENV.sub(substitute, node)
    return node


def default_ticketing_config(env: Mapping[str, str] | None = None) -> TicketingConfig:
    """The ``ticketing:`` section of the shipped sample configuration; its ``${VAR:-default}`` strings
    (the webhook receiver and the mail server) are read from ``env`` (default: the process environment)."""
    path = default_config_path()
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    section = expand_env(parse_ticketing_section(document, str(path)), os.environ if env is None else env)
    return TicketingConfig.model_validate(section)


__all__ = [
    "AssignmentSettings",
    "Criticality",
    "EngineerSettings",
    "HolidaySettings",
    "SiteSettings",
    "DEFAULT_NOTIFICATION_EVENTS",
    "MailRule",
    "NOTIFICATION_EVENTS",
    "SmtpSettings",
    "WebhookSettings",
    "TicketingConfig",
    "UnknownName",
    "default_config_path",
    "default_ticketing_config",
    "expand_env",
    "parse_ticketing_section",
]
