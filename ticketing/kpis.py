"""The figures a service manager runs the maintenance team by, computed from the work orders.

Per-order figures are over the *cohort* of orders opened in the period ``[start, end)``; the
time figures are over the *visits* that started in the period (an order's opening, and each
reopening: a reopened order is a new visit with its own response and resolution clock), each judged
as it stands now:

- **MTTA** (mean time to acknowledge): mean of ``acknowledged_at`` minus the visit's start, in real time.
- **MTTR** (mean time to resolve, in the sense of repair): mean of ``resolved_at`` minus the visit's
  start over resolved visits, in real time including time on hold (the SLA figures below are the
  ones that pause on hold and count business hours).
- **SLA response / resolution compliance**: of the visits whose target is decided (met, or its
  deadline has passed unmet), the share met by the deadline, in percent. A visit still on hold has
  an undecided resolution target.
- **Reopenings**: visits after the first that started in the period.
- **Requester feedback**: of the feedback given in the period (after a close), how many, the share
  "fixed" and the mean rating (1-5); "not fixed" reopened its order.
- **On time per service**: for each service type of the catalogue, of the visits whose targets are
  all decided, the share that met every target, against the service's ``on_time_target`` (95 %
  unless configured): ``meets_target`` says whether the service kept its promise.
- **First-time fix rate**: of the orders with a visit closed as ``fault_confirmed``, the share that
  needed one visit only (a reopening counts against it).
- **False-alarm rate per detector and rule**: from the close-out outcomes of every order a rule's
  findings are attached to; ``false_alarm`` and ``no_fault_found`` count as false alarms,
  ``no_access`` counts as neither (nobody could look). Precision is one minus the rate.
- **Repeat failures per asset**: each opening and reopening of an order (except those closed out as
  false alarms) in the period is an occurrence; an asset with ``repeat_threshold`` or more is
  flagged for root-cause analysis.

- **Time lost waiting for parts**: the real time orders spent on hold awaiting parts within the
  period (each hold clipped to ``[start, min(end, now))``, still-open holds counting up to now), in
  all and per part number the hold named (a hold naming two parts counts its time against each).

The **backlog** is every order not yet resolved or closed, by priority and age, as of ``now``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import TYPE_CHECKING, Any, TypeVar

from faultline.ticketing.models import PRIORITIES, HoldReason, Outcome, Status, Visit, WorkOrder

if TYPE_CHECKING:
    from faultline.ticketing.config import TicketingConfig
    from faultline.ticketing.store import WorkOrderStore

#: Backlog age buckets: (label, upper bound of age).
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-7d", timedelta(days=7)),
    ("7-30d", timedelta(days=30)),
    (">30d", timedelta.max),
)
_FALSE = {Outcome.FALSE_ALARM, Outcome.NO_FAULT_FOUND}
_JUDGED = _FALSE | {Outcome.FAULT_CONFIRMED}


@dataclass(frozen=True)
class RuleFeedback:
    """What engineers found on the orders one detector rule raised."""

    detector: str
    rule: str
    outcomes: dict[str, int]

    @property
    def false_alarm_rate(self) -> float | None:
        """False alarms (incl. no fault found) per judged close-out, in percent; None before any."""
        judged = sum(self.outcomes.get(o.value, 0) for o in _JUDGED)
        return 100.0 * sum(self.outcomes.get(o.value, 0) for o in _FALSE) / judged if judged else None


@dataclass(frozen=True)
class RepeatFailure:
    site: str
    asset: str
    occurrences: int
    fault_modes: dict[str, int]
    needs_root_cause_analysis: bool


@dataclass(frozen=True)
class ServiceCompliance:
    """How one service of the catalogue did against the share of jobs it promises on time."""

    service_type: str
    decided: int
    on_time: int
    target_pct: float

    @property
    def on_time_pct(self) -> float | None:
        return _percent(self.on_time, self.decided)

    @property
    def meets_target(self) -> bool | None:
        pct = self.on_time_pct
        return None if pct is None else pct >= self.target_pct

    def as_json(self) -> dict[str, Any]:
        return {
            "service_type": self.service_type,
            "visits_decided": self.decided,
            "on_time": self.on_time,
            "on_time_pct": _round(self.on_time_pct),
            "target_pct": self.target_pct,
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True)
class PartsWait:
    """Time orders stood still for want of parts in the period."""

    total: timedelta = timedelta(0)
    holds: int = 0
    orders: int = 0
    by_part: dict[str, timedelta] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "hours": _hours(self.total),
            "holds": self.holds,
            "orders": self.orders,
            "hours_by_part": {part: _hours(d) for part, d in sorted(self.by_part.items())},
        }


def _hours(d: timedelta) -> float:
    return round(d.total_seconds() / 3600, 3)


@dataclass(frozen=True)
class Kpis:
    """The KPIs of one period (see the module docstring for each definition)."""

    start: datetime
    end: datetime
    now: datetime
    orders_opened: int
    visits: int
    reopenings: int
    mtta: timedelta | None
    mttr: timedelta | None
    response_compliance: float | None
    resolution_compliance: float | None
    first_time_fix_rate: float | None
    rules: list[RuleFeedback] = field(default_factory=list)
    backlog: dict[str, dict[str, int]] = field(default_factory=dict)
    repeat_failures: list[RepeatFailure] = field(default_factory=list)
    services: list[ServiceCompliance] = field(default_factory=list)
    feedback: dict[str, Any] = field(default_factory=dict)
    parts_wait: PartsWait = field(default_factory=PartsWait)

    def as_json(self) -> dict[str, Any]:
        """Plain data: times ISO 8601, durations in hours, rates in percent."""

        def hours(d: timedelta | None) -> float | None:
            return None if d is None else round(d.total_seconds() / 3600, 3)

        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat(), "as_of": self.now.isoformat()},
            "orders_opened": self.orders_opened,
            "visits": self.visits,
            "reopenings": self.reopenings,
            "mtta_hours": hours(self.mtta),
            "mttr_hours": hours(self.mttr),
            "sla_response_compliance_pct": _round(self.response_compliance),
            "sla_resolution_compliance_pct": _round(self.resolution_compliance),
            "first_time_fix_rate_pct": _round(self.first_time_fix_rate),
            "false_alarm_rate_by_rule": [
                {**asdict(r), "false_alarm_rate_pct": _round(r.false_alarm_rate)} for r in self.rules
            ],
            "backlog": self.backlog,
            "repeat_failures": [asdict(r) for r in self.repeat_failures],
            "on_time_by_service": [s.as_json() for s in self.services],
            "feedback": self.feedback,
            "parts_wait": self.parts_wait.as_json(),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _percent(hits: int, total: int) -> float | None:
    return 100.0 * hits / total if total else None


def _mean(durations: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=fmean(d.total_seconds() for d in durations)) if durations else None


_T = TypeVar("_T")


def _compliance(
    cohort: Sequence[_T],
    now: datetime,
    due_of: Callable[[_T], datetime | None],
    met_of: Callable[[_T], datetime | None],
    undecided: Callable[[_T], bool] = lambda o: False,
) -> float | None:
    met = decided = 0
    for order in cohort:
        due, done = due_of(order), met_of(order)
        if due is None or undecided(order):
            continue
        if done is not None:
            decided += 1
            met += done <= due
        elif now > due:
            decided += 1
    return _percent(met, decided)


def _rules(cohort: list[WorkOrder]) -> list[RuleFeedback]:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for order in cohort:
        if order.outcome is None:
            continue
        for pair in {(e.detector, e.rule) for e in order.evidence}:
            counts[pair][order.outcome.value] += 1
    return [RuleFeedback(detector, rule, dict(c)) for (detector, rule), c in sorted(counts.items())]


def _backlog(orders: Iterable[WorkOrder], now: datetime) -> dict[str, dict[str, int]]:
    table = {p: {label: 0 for label, _ in AGE_BUCKETS} for p in PRIORITIES}
    for order in orders:
        if order.status in (Status.RESOLVED, Status.CLOSED) or order.opened_at > now:
            continue
        age = now - order.opened_at
        label = next(label for label, limit in AGE_BUCKETS if age < limit)
        table.setdefault(order.priority, {label: 0 for label, _ in AGE_BUCKETS})[label] += 1
    return table


def _repeats(orders: Iterable[WorkOrder], start: datetime, end: datetime, threshold: int) -> list[RepeatFailure]:
    per_asset: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for order in orders:
        if order.outcome in _FALSE:
            continue
        times = [order.opened_at, *order.reopened_at]
        hits = sum(start <= t < end for t in times)
        if hits:
            per_asset[(order.site, order.asset)][order.fault_mode] += hits
    found = [
        RepeatFailure(site, asset, sum(c.values()), dict(c), sum(c.values()) >= threshold)
        for (site, asset), c in per_asset.items()
        if sum(c.values()) > 1
    ]
    return sorted(found, key=lambda r: (-r.occurrences, r.site, r.asset))


def _on_time(visit: Visit, on_hold: bool, now: datetime) -> bool | None:
    """Whether a visit met every target it has (None while one is undecided)."""
    verdicts = []
    for due, met in (
        (visit.response_due, visit.acknowledged_at or visit.resolved_at),
        (visit.resolution_due, None if on_hold else visit.resolved_at),
    ):
        if due is None:
            continue
        if met is not None:
            verdicts.append(met <= due)
        elif now > due and not on_hold:
            verdicts.append(False)
        else:
            return None
    return all(verdicts) if verdicts else None


def _feedback(orders: list[WorkOrder], start: datetime, end: datetime) -> dict[str, Any]:
    given = [f for o in orders for f in o.feedback if start <= f.at < end]
    fixed = sum(f.fixed for f in given)
    return {
        "given": len(given),
        "fixed": fixed,
        "not_fixed": len(given) - fixed,
        "fixed_pct": _round(_percent(fixed, len(given))),
        "mean_rating": round(fmean(f.rating for f in given), 2) if given else None,
    }


def _services(
    visits: Sequence[tuple[Visit, bool]], now: datetime, on_time_targets: Mapping[str, float]
) -> list[ServiceCompliance]:
    found = []
    for service_type, target in sorted(on_time_targets.items()):
        verdicts = [
            v
            for v in (_on_time(visit, hold, now) for visit, hold in visits if visit.service_type == service_type)
            if v is not None
        ]
        found.append(ServiceCompliance(service_type, len(verdicts), sum(verdicts), target))
    return found


def parts_wait(orders: Iterable[WorkOrder], start: datetime, end: datetime, now: datetime) -> PartsWait:
    """Time on hold awaiting parts within ``[start, min(end, now))`` (see the module docstring)."""
    stop = min(end, now)
    total, holds, waiting = timedelta(0), 0, set()
    by_part: defaultdict[str, timedelta] = defaultdict(timedelta)
    for order in orders:
        for hold in order.holds:
            if hold.reason is not HoldReason.AWAITING_PARTS:
                continue
            lost = min(hold.end or now, stop) - max(hold.start, start)
            if lost <= timedelta(0):
                continue
            total += lost
            holds += 1
            waiting.add(order.id)
            for part in hold.parts or ["(parts not named)"]:
                by_part[part] += lost
    return PartsWait(total, holds, len(waiting), dict(by_part))


def compute_kpis(
    orders: Iterable[WorkOrder],
    start: datetime,
    end: datetime,
    now: datetime,
    repeat_threshold: int = 3,
    on_time_targets: Mapping[str, float] | None = None,
) -> Kpis:
    """KPIs of the orders opened in ``[start, end)`` as they stand at ``now``; backlog at ``now``.

    ``on_time_targets`` maps each service type to the percent of its jobs it promises on time
    (`on_time_targets_of` reads them from the catalogue)."""
    if end <= start:
        raise ValueError(f"the period must end after it starts: {start.isoformat()} .. {end.isoformat()}")
    orders = list(orders)
    cohort = [o for o in orders if start <= o.opened_at < end]
    # (visit, on hold now): only the current visit of an order can be on hold
    visits = [
        (v, o.status is Status.ON_HOLD and v.number == len(o.visits) + 1)
        for o in orders
        for v in o.all_visits()
        if start <= v.started_at < end
    ]
    acknowledged = [v.acknowledged_at - v.started_at for v, _ in visits if v.acknowledged_at is not None]
    resolved = [v.resolved_at - v.started_at for v, _ in visits if v.resolved_at is not None]
    fixes = [
        o
        for o in cohort
        if any(v.closed_at is not None and v.outcome is Outcome.FAULT_CONFIRMED for v in o.all_visits())
    ]
    return Kpis(
        start=start,
        end=end,
        now=now,
        orders_opened=len(cohort),
        visits=len(visits),
        reopenings=sum(v.number > 1 for v, _ in visits),
        mtta=_mean(acknowledged),
        mttr=_mean(resolved),
        response_compliance=_compliance(
            visits, now, lambda p: p[0].response_due, lambda p: p[0].acknowledged_at or p[0].resolved_at
        ),
        resolution_compliance=_compliance(
            visits, now, lambda p: p[0].resolution_due, lambda p: p[0].resolved_at, undecided=lambda p: p[1]
        ),
        first_time_fix_rate=_percent(sum(not o.visits for o in fixes), len(fixes)),
        rules=_rules(cohort),
        backlog=_backlog(orders, now),
        repeat_failures=_repeats(orders, start, end, repeat_threshold),
        services=_services(visits, now, on_time_targets or {}),
        feedback=_feedback(orders, start, end),
        parts_wait=parts_wait(orders, start, end, now),
    )


def on_time_targets_of(config: TicketingConfig) -> dict[str, float]:
    """Service type -> on-time target (percent) from a `ticketing.config.TicketingConfig`'s catalogue
    (the first policy of each type)."""
    targets: dict[str, float] = {}
    for policy in config.policies.values():
        targets.setdefault(policy.service_type.value, policy.on_time_target)
    return targets


def kpis_from_store(
    store: WorkOrderStore,
    start: datetime,
    end: datetime,
    now: datetime,
    repeat_threshold: int = 3,
    on_time_targets: Mapping[str, float] | None = None,
) -> Kpis:
    """`compute_kpis` over a `ticketing.store.WorkOrderStore`."""
    return compute_kpis(store.orders(opened_before=max(end, now)), start, end, now, repeat_threshold, on_time_targets)
