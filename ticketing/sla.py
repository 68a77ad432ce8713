"""SLA policies, deadlines and the running SLA clock of a work order.

A policy gives a *response* target (time to acknowledge) and a *resolution* target (time to resolve),
counted on a calendar: the site's business hours or 24×7. The clock stops while the order is on hold
(awaiting parts or the customer). A deadline is the earliest instant at which the target's worth of
counted time has passed since the order opened (or was last reopened: ``sla_started_at``); when the
priority changes, the deadlines are computed again from that start with the new priority's policy.

Nothing here reads the time: every question takes ``now``, so tests move a clock instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultline.ticketing.calendar import Calendar
from faultline.vocabulary import Duration, require_aware
from faultline.ticketing.models import PRIORITIES, ServiceType
from faultline.ticketing.roles import Role

Target = Literal["response", "resolution"]
# ``breach`` is the notice that a target has passed; the service adds one per target to every chain
EscalationKind = Literal["notify_assignee", "reassign", "notify_manager", "breach"]


class EscalationStep(BaseModel):
    """One step of an escalation chain: at ``at`` × the ``of`` target, do ``action``.

    ``at`` is the fraction of the target consumed (0.75 = three quarters of the response time has
    passed, 1.0 = the deadline). ``role`` is whom ``reassign`` hands the order to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(gt=0, le=10)
    of: Target
    action: EscalationKind
    role: Role | None = None

    @model_validator(mode="after")
    def _reassign_names_a_role(self) -> EscalationStep:
        if self.action == "reassign" and self.role is None:
            raise ValueError("a reassign step needs a role to hand the order to (e.g. role: senior_engineer)")
        return self

    @property
    def key(self) -> str:
        """A stable name of the step, recorded once it has fired: ``response@0.75:notify_assignee``."""
        return f"{self.of}@{self.at:g}:{self.action}"


def unique_steps(steps: Sequence[EscalationStep] | None) -> Sequence[EscalationStep] | None:
    """The steps unchanged, or an error naming a step given twice (it could only fire once)."""
    keys = [step.key for step in steps or ()]
    if dupes := sorted({k for k in keys if keys.count(k) > 1}):
        raise ValueError(f"escalation step {dupes[0]!r} is listed more than once")
    return steps


class TargetOverride(BaseModel):
    """Other targets for one site, one priority, or one priority at one site (the more specific wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str | None = None
    priority: str | None = None
    response: Duration | None = None
    resolution: Duration | None = None

    @model_validator(mode="after")
    def _says_where_and_what(self) -> TargetOverride:
        if self.site is None and self.priority is None:
            raise ValueError("a target override names a site, a priority or both")
        if self.response is None and self.resolution is None:
            raise ValueError("a target override sets response, resolution or both")
        if self.priority is not None and self.priority not in PRIORITIES:
            raise ValueError(f"unknown priority {self.priority!r} (known: {', '.join(PRIORITIES)})")
        for value in (self.response, self.resolution):
            if value is not None and value <= timedelta(0):
                raise ValueError(f"a target must be longer than zero, got {value}")
        return self

    def matches(self, site: str, priority: str) -> bool:
        return self.site in (None, site) and self.priority in (None, priority)

    @property
    def specificity(self) -> int:
        return (self.site is not None) + (self.priority is not None)


class SlaPolicy(BaseModel):
    """Targets for one class of job (a service of the catalogue): which priorities it serves, how
    long, on which calendar, other targets per site and priority, and the share of jobs it promises
    on time (``on_time_target``, percent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    service_type: ServiceType
    priorities: tuple[str, ...] = Field(min_length=1)
    response: Duration | None = None
    resolution: Duration | None = None
    calendar: Literal["business", "24x7"] = "business"
    escalation: tuple[EscalationStep, ...] | None = Field(
        None, description="steps of this policy; None takes the configuration's default chain"
    )
    targets: tuple[TargetOverride, ...] = Field(
        (), description="other response/resolution targets for a site, a priority, or both"
    )
    on_time_target: float = Field(95.0, gt=0, le=100, description="percent of jobs the service promises on time")

    @field_validator("priorities")
    @classmethod
    def _known_priorities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for p in value:
            if p not in PRIORITIES:
                raise ValueError(f"unknown priority {p!r} (known: {', '.join(PRIORITIES)})")
        return value

    _unique_steps = field_validator("escalation")(unique_steps)

    @field_validator("response", "resolution")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"a target must be longer than zero, got {value}")
        return value

    @model_validator(mode="after")
    def _has_a_target(self) -> SlaPolicy:
        if self.response is None and self.resolution is None:
            raise ValueError(f"policy {self.name!r} needs a response or a resolution target")
        for step in self.escalation or ():
            if self.target(step.of) is None:
                raise ValueError(f"policy {self.name!r} escalates on {step.of} but has no {step.of} target")
        return self

    def target(self, of: Target) -> timedelta | None:
        """The response or resolution target."""
        return self.response if of == "response" else self.resolution

    def at(self, site: str, priority: str) -> SlaPolicy:
        """This policy with the targets that apply at ``site`` for ``priority`` (overrides applied,
        the more specific last).

        >>> p = SlaPolicy(name="c", service_type="corrective", priorities=("P2",), response="2h", resolution="48h",
        ...               targets=[{"site": "south", "response": "4h"}, {"site": "south", "priority": "P2",
        ...                                                                "resolution": "24h"}])
        >>> q = p.at("south", "P2"); (q.response, q.resolution)
        (datetime.timedelta(seconds=14400), datetime.timedelta(days=1))
        """
        update: dict[str, Any] = {}
        for override in sorted((o for o in self.targets if o.matches(site, priority)), key=lambda o: o.specificity):
            update.update(
                {
                    k: v
                    for k, v in (("response", override.response), ("resolution", override.resolution))
                    if v is not None
                }
            )
        return self.model_copy(update=update) if update else self


class Interval(Protocol):
    """A stretch of time on hold; ``end`` is None while it lasts (the orders' ``HoldPeriod``)."""

    start: datetime
    end: datetime | None


class Timeline(Protocol):
    """What the SLA clock reads of an order; a ``WorkOrder`` provides it, and so does `SlaTimeline`."""

    # read-only members, so an order whose fields are narrower (a list of its own holds) provides them
    @property
    def opened_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def holds(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Hold:
    """A stretch on hold: the clock stops from ``start`` until ``end`` (None: still on hold)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class SlaTimeline:
    """The times of an order that the SLA clock needs, for callers without a ``WorkOrder``.

    ``sla_started_at`` moves the start of the count (a reopened order counts from its reopening).
    """

    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    holds: Sequence[Hold] = ()
    sla_started_at: datetime | None = None


@dataclass(frozen=True)
class Deadlines:
    """When the order must be acknowledged and resolved; None where the policy has no target."""

    response_due: datetime | None
    resolution_due: datetime | None

    def as_json(self) -> dict[str, str | None]:
        """ISO 8601 strings, each with the offset it carries (the site's, from a site calendar)."""
        return {"response_due": _iso(self.response_due), "resolution_due": _iso(self.resolution_due)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class TargetStatus:
    """Where one target stands at a moment.

    ``consumed`` is the counted time used so far (stopped at ``met_at`` once met); ``left`` is the
    target minus that, negative once overrun; ``breached`` says whether the deadline passed before the
    target was met (met exactly on the deadline is in time).
    """

    of: Target
    target: timedelta
    due: datetime
    consumed: timedelta
    met_at: datetime | None
    breached: bool

    @property
    def left(self) -> timedelta:
        return self.target - self.consumed

    @property
    def fraction(self) -> float:
        """Share of the target consumed: 0.5 halfway, 1.0 at the deadline, above 1 when overrun."""
        return self.consumed / self.target

    @property
    def percent(self) -> float:
        return 100.0 * self.fraction

    def as_json(self) -> dict[str, Any]:
        """Plain values for an API or a report; times ISO 8601, durations in seconds."""
        return {
            "due": self.due.isoformat(),
            "met_at": _iso(self.met_at),
            "target_s": self.target.total_seconds(),
            "consumed_s": self.consumed.total_seconds(),
            "left_s": self.left.total_seconds(),
            "percent": round(self.percent, 2),
            "breached": self.breached,
        }


@dataclass(frozen=True)
class SlaStatus:
    """Both targets of an order at a moment, and whether its clock is stopped (on hold).

    Times are shown in the calendar's zone (the site's), like the deadlines.
    """

    at: datetime
    paused: bool
    response: TargetStatus | None
    resolution: TargetStatus | None

    @property
    def breached(self) -> bool:
        return any(t is not None and t.breached for t in (self.response, self.resolution))

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "paused": self.paused,
            "breached": self.breached,
            "response": self.response.as_json() if self.response else None,
            "resolution": self.resolution.as_json() if self.resolution else None,
        }


def _start(timeline: Timeline) -> datetime:
    started = getattr(timeline, "sla_started_at", None)
    return require_aware(started if started is not None else timeline.opened_at, "opened_at").astimezone(UTC)


def met_at(timeline: Timeline, of: Target) -> datetime | None:
    """When the target was met (acknowledged or resolved for the response; resolved for resolution)."""
    # resolving an order also answers it, even if nobody pressed "acknowledge" first
    met = timeline.resolved_at if of == "resolution" else (timeline.acknowledged_at or timeline.resolved_at)
    return require_aware(met, f"{of} time").astimezone(UTC) if met is not None else None


def _holds(timeline: Timeline, start: datetime, now: datetime | None) -> list[tuple[datetime, datetime]]:
    """The holds after ``start`` as seen at ``now``, as sorted, merged UTC intervals.

    An open hold lasts until ``now``; a hold that begins after ``now`` had not happened then.
    """
    spans = []
    now = require_aware(now, "now").astimezone(UTC) if now is not None else None
    for hold in timeline.holds:
        begin = require_aware(hold.start, "hold start").astimezone(UTC)
        if now is not None and begin >= now:
            continue
        if hold.end is not None:
            end = require_aware(hold.end, "hold end").astimezone(UTC)
        elif now is not None:
            end = now
        else:
            raise ValueError(
                f"the order is on hold since {hold.start.isoformat()}: its deadlines depend on now; pass now"
            )
        begin = max(begin, start)
        if end > begin:
            spans.append((begin, end))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


@dataclass(frozen=True)
class SlaClock:
    """A policy on a calendar: answers deadlines and status for any order's `Timeline`.

    Examples
    --------
    >>> from faultline.ticketing.calendar import AlwaysOpen
    >>> policy = SlaPolicy(name="emergency", service_type="emergency_repair", priorities=("P1",),
    ...                    response="15m", resolution="4h", calendar="24x7")
    >>> sla = SlaClock(policy, AlwaysOpen("Europe/Berlin"))
    >>> opened = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    >>> sla.deadlines(SlaTimeline(opened)).as_json()
    {'response_due': '2026-11-21T23:15:00+01:00', 'resolution_due': '2026-11-22T03:00:00+01:00'}
    >>> sla.status(SlaTimeline(opened), now=opened + timedelta(minutes=12)).response.percent
    80.0
    """

    policy: SlaPolicy
    calendar: Calendar = field(repr=False)

    def when_consumed(self, timeline: Timeline, amount: timedelta, now: datetime | None = None) -> datetime:
        """The earliest instant at which ``amount`` of counted time has passed, holds excluded.

        As seen at ``now``: while the order is on hold the answer assumes the hold ends at ``now``.
        """
        cursor = _start(timeline)
        remaining = amount
        for hold_start, hold_end in _holds(timeline, cursor, now):
            if hold_end <= cursor:
                continue
            candidate = self.calendar.add(cursor, remaining)
            if candidate <= hold_start:
                return candidate
            remaining -= self.calendar.elapsed(cursor, hold_start)
            cursor = hold_end
        return self.calendar.add(cursor, remaining)

    def consumed(self, timeline: Timeline, until: datetime) -> timedelta:
        """Counted time from the start of the order's clock to ``until``, holds excluded."""
        start = _start(timeline)
        until = require_aware(until, "until").astimezone(UTC)
        if until <= start:
            return timedelta(0)
        total = self.calendar.elapsed(start, until)
        for hold_start, hold_end in _holds(timeline, start, until):
            if hold_start < until:
                total -= self.calendar.elapsed(hold_start, min(hold_end, until))
        return total

    def due(
        self, timeline: Timeline, of: Target, fraction: float = 1.0, now: datetime | None = None
    ) -> datetime | None:
        """When ``fraction`` of the ``of`` target is consumed; None if the policy has no such target."""
        target = self.policy.target(of)
        if target is None:
            return None
        return self.when_consumed(timeline, target * fraction, now)

    def deadlines(self, timeline: Timeline, now: datetime | None = None) -> Deadlines:
        """Response and resolution deadlines (``now`` is needed only while the order is on hold)."""
        return Deadlines(self.due(timeline, "response", now=now), self.due(timeline, "resolution", now=now))

    def target_status(self, timeline: Timeline, of: Target, now: datetime) -> TargetStatus | None:
        target = self.policy.target(of)
        if target is None:
            return None
        now = require_aware(now, "now").astimezone(UTC)
        met = met_at(timeline, of)
        if met is not None and met > now:
            met = None  # not yet met as seen from `now`
        until = met or now
        # a met target keeps the deadline it had when it was met; later holds do not move it
        due = self.when_consumed(timeline, target, until)
        shown = met.astimezone(self.calendar.tz) if met is not None else None
        return TargetStatus(of, target, due, self.consumed(timeline, until), shown, breached=until > due)

    def status(self, timeline: Timeline, now: datetime) -> SlaStatus:
        """Time used, time left and breach of both targets as seen at ``now``."""
        now_utc = require_aware(now, "now").astimezone(UTC)
        paused = any(
            require_aware(h.start, "hold start") <= now_utc
            and (h.end is None or now_utc < require_aware(h.end, "hold end"))
            for h in timeline.holds
        )
        return SlaStatus(
            now_utc.astimezone(self.calendar.tz),
            paused,
            self.target_status(timeline, "response", now_utc),
            self.target_status(timeline, "resolution", now_utc),
        )


__all__ = [
    "Deadlines",
    "EscalationStep",
    "TargetOverride",
    "Hold",
    "Interval",
    "SlaClock",
    "SlaPolicy",
    "SlaStatus",
    "SlaTimeline",
    "Target",
    "TargetStatus",
    "Timeline",
    "met_at",
    "unique_steps",
]
