"""The figures a service manager runs the maintenance team by, computed from the work orders.

Per-order figures are over the *cohort* of orders opened in the period ``[start, end)``, each judged
as it stands now:

- **MTTA** (mean time to acknowledge): mean of ``acknowledged_at - opened_at``, in real time.
- **MTTR** (mean time to resolve, in the sense of repair): mean of ``resolved_at - opened_at`` over
  resolved orders, in real time including time on hold (the SLA figures below are the ones that
  pause on hold and count business hours).
- **SLA response / resolution compliance**: of the orders whose target is decided (met, or its
  deadline has passed unmet), the share met by the deadline, in percent. An order still on hold has
  an undecided resolution target.
- **First-time fix rate**: of the closed orders whose outcome confirmed a fault, the share never
  reopened.
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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from statistics import fmean

from ticketing.models import PRIORITIES, HoldReason, Outcome, Status, WorkOrder

#: Backlog age buckets: (label, upper bound of age).
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("<1d", timedelta(days=1)), ("1-7d", timedelta(days=7)), ("7-30d", timedelta(days=30)),
    (">30d", timedelta.max))
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
class PartsWait:
    """Time orders stood still for want of parts in the period."""

    total: timedelta = timedelta(0)
    holds: int = 0
    orders: int = 0
    by_part: dict[str, timedelta] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"hours": _hours(self.total), "holds": self.holds, "orders": self.orders,
                "hours_by_part": {part: _hours(d) for part, d in sorted(self.by_part.items())}}


def _hours(d: timedelta) -> float:
    return round(d.total_seconds() / 3600, 3)


@dataclass(frozen=True)
class Kpis:
    """The KPIs of one period (see the module docstring for each definition)."""

    start: datetime
    end: datetime
    now: datetime
    orders_opened: int
    mtta: timedelta | None
    mttr: timedelta | None
    response_compliance: float | None
    resolution_compliance: float | None
    first_time_fix_rate: float | None
    rules: list[RuleFeedback] = field(default_factory=list)
    backlog: dict[str, dict[str, int]] = field(default_factory=dict)
    repeat_failures: list[RepeatFailure] = field(default_factory=list)
    parts_wait: PartsWait = field(default_factory=PartsWait)

    def as_json(self) -> dict:
        """Plain data: times ISO 8601, durations in hours, rates in percent."""
        def hours(d: timedelta | None) -> float | None:
            return None if d is None else round(d.total_seconds() / 3600, 3)

        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat(), "as_of": self.now.isoformat()},
            "orders_opened": self.orders_opened,
            "mtta_hours": hours(self.mtta), "mttr_hours": hours(self.mttr),
            "sla_response_compliance_pct": _round(self.response_compliance),
            "sla_resolution_compliance_pct": _round(self.resolution_compliance),
            "first_time_fix_rate_pct": _round(self.first_time_fix_rate),
            "false_alarm_rate_by_rule": [{**asdict(r), "false_alarm_rate_pct": _round(r.false_alarm_rate)}
                                         for r in self.rules],
            "backlog": self.backlog,
            "repeat_failures": [asdict(r) for r in self.repeat_failures],
            "parts_wait": self.parts_wait.as_json(),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _percent(hits: int, total: int) -> float | None:
    return 100.0 * hits / total if total else None


def _mean(durations: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=fmean(d.total_seconds() for d in durations)) if durations else None


def _compliance(cohort: list[WorkOrder], now: datetime, due_of, met_of, undecided=lambda o: False) -> float | None:
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
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
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
    per_asset: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for order in orders:
        if order.outcome in _FALSE:
            continue
        times = [order.opened_at, *order.reopened_at]
        hits = sum(start <= t < end for t in times)
        if hits:
            per_asset[(order.site, order.asset)][order.fault_mode] += hits
    found = [RepeatFailure(site, asset, sum(c.values()), dict(c), sum(c.values()) >= threshold)
             for (site, asset), c in per_asset.items() if sum(c.values()) > 1]
    return sorted(found, key=lambda r: (-r.occurrences, r.site, r.asset))


def parts_wait(orders: Iterable[WorkOrder], start: datetime, end: datetime, now: datetime) -> PartsWait:
    """Time on hold awaiting parts within ``[start, min(end, now))`` (see the module docstring)."""
    stop = min(end, now)
    total, holds, waiting, by_part = timedelta(0), 0, set(), defaultdict(timedelta)
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


def compute_kpis(orders: Iterable[WorkOrder], start: datetime, end: datetime, now: datetime,
                 repeat_threshold: int = 3) -> Kpis:
    """KPIs of the orders opened in ``[start, end)`` as they stand at ``now``; backlog at ``now``."""
    if end <= start:
        raise ValueError(f"the period must end after it starts: {start.isoformat()} .. {end.isoformat()}")
    orders = list(orders)
    cohort = [o for o in orders if start <= o.opened_at < end]
    acknowledged = [o.acknowledged_at - o.opened_at for o in cohort if o.acknowledged_at is not None]
    resolved = [o.resolved_at - o.opened_at for o in cohort if o.resolved_at is not None]
    fixes = [o for o in cohort if o.status is Status.CLOSED and o.outcome is Outcome.FAULT_CONFIRMED]
    return Kpis(
        start=start, end=end, now=now, orders_opened=len(cohort), mtta=_mean(acknowledged), mttr=_mean(resolved),
        response_compliance=_compliance(cohort, now, lambda o: o.response_due,
                                        lambda o: o.acknowledged_at or o.resolved_at),
        resolution_compliance=_compliance(cohort, now, lambda o: o.resolution_due, lambda o: o.resolved_at,
                                          undecided=lambda o: o.status is Status.ON_HOLD),
        first_time_fix_rate=_percent(sum(not o.reopened_at for o in fixes), len(fixes)),
        rules=_rules(cohort),
        backlog=_backlog(orders, now),
        repeat_failures=_repeats(orders, start, end, repeat_threshold),
        parts_wait=parts_wait(orders, start, end, now),
    )


def kpis_from_store(store, start: datetime, end: datetime, now: datetime, repeat_threshold: int = 3) -> Kpis:
    """`compute_kpis` over a `ticketing.store.WorkOrderStore`."""
    return compute_kpis(store.orders(opened_before=max(end, now)), start, end, now, repeat_threshold)
