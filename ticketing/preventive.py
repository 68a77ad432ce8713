"""Preventive schedules: work orders that come round on the calendar or after running hours.

A schedule names its assets (or an asset class), the job (``task``, checklist, service type and
priority, so the SLA policy serving them applies) and when it falls due:

- **calendar**, ``every: 14d`` (or ``2w``): *fixed* — on ``start``, ``start + every``, … whatever
  happened in between; *floating* — ``every`` after the last completion (the job's resolution), so a
  late job moves the next one back.
- **meter**, ``every_hours: 500`` of running time, counted from stored telemetry since the last
  completion: the hours in which ``sensor`` read above ``running_above`` (a pump's vibration over
  its idle level means it runs). The wiring gives the count (`RunningHours`); `hours_above` is the
  arithmetic.

An order a schedule opens has the fault mode ``preventive:<schedule>``, so the store keeps one open
per asset and schedule. It does not open beside condition-based work: while the asset has an open,
unresolved order from a finding, the schedule leaves a comment on that order ("preventive … is due:
do it with this job") instead, and the resolution of that order counts as the schedule's completion.

`PreventiveScheduler.tick` is what the service runs every ``check_every_s``; tests call it after
moving a `faultline.vocabulary.ManualClock`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from faultline.vocabulary import Clock, Duration
from faultline.ticketing.lifecycle import SYSTEM, DeadlinesOf, with_deadlines
from faultline.ticketing.models import PRIORITIES, ChecklistItem, Comment, OrderEvent, ServiceType, Status, WorkOrder
from faultline.ticketing.store import DuplicateOpenOrder, WorkOrderStore

log = logging.getLogger(__name__)

#: Fault modes of preventive orders start with this, then the schedule's name.
PREFIX = "preventive:"


class CalendarRule(BaseModel):
    """Every ``every``, ``fixed`` to the calendar from ``start`` or ``floating`` after the last completion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration
    mode: Literal["fixed", "floating"] = "floating"
    start: AwareDatetime | None = Field(
        None, description="fixed: the first due time; floating: due when never done (default: at once)"
    )

    @model_validator(mode="after")
    def _sane(self) -> "CalendarRule":
        if self.every <= timedelta(0):
            raise ValueError("every must be longer than 0")
        if self.mode == "fixed" and self.start is None:
            raise ValueError("a fixed calendar needs start (the first due time, e.g. 2026-01-05T06:00:00+01:00)")
        return self


class MeterRule(BaseModel):
    """After ``every_hours`` of running: hours in which ``sensor`` read above ``running_above``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str
    running_above: float
    every_hours: float = Field(gt=0)
    max_gap: Duration = Field(
        timedelta(minutes=10), description="a gap between readings longer than this counts as not running"
    )
    since: AwareDatetime | None = Field(
        None, description="count from here when never done (default: all stored telemetry)"
    )


class PreventiveSchedule(BaseModel):
    """One recurring job on a set of assets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    task: str = ""
    assets: list[str] = Field(default_factory=list)
    asset_class: str | None = None
    site: str | None = Field(
        None,
        description="the ticketing site of its assets (default: from the detector "
        "configuration or the stored telemetry)",
    )
    service_type: ServiceType = ServiceType.PREVENTIVE
    priority: str = "P3"
    checklist: list[str] = Field(default_factory=list)
    calendar: CalendarRule | None = None
    meter: MeterRule | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> "PreventiveSchedule":
        if (self.calendar is None) == (self.meter is None):
            raise ValueError(f"schedule {self.name!r}: give exactly one of calendar or meter")
        if not self.assets and self.asset_class is None:
            raise ValueError(f"schedule {self.name!r}: name its assets or an asset_class")
        if self.priority not in PRIORITIES:
            raise ValueError(
                f"schedule {self.name!r}: unknown priority {self.priority!r} (known: {', '.join(PRIORITIES)})"
            )
        return self

    @property
    def fault_mode(self) -> str:
        return PREFIX + self.name


class PreventiveSettings(BaseModel):
    """The ``preventive:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_every_s: float = Field(300.0, gt=0, description="how often the schedules are looked at")
    schedules: list[PreventiveSchedule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "PreventiveSettings":
        names = [s.name for s in self.schedules]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"schedule name {dupes[0]!r} is used twice")
        return self


def hours_above(ts_ns: np.ndarray, values: np.ndarray, level: float, max_gap: timedelta) -> float:
    """Running hours in a series: each reading above ``level`` counts the time to the next reading
    (at most ``max_gap``; the last reading counts nothing).

    >>> ts = np.arange(0, 7 * 600, 600) * 1_000_000_000      # a reading every 10 min
    >>> hours_above(ts, np.array([0.1, 2.0, 2.2, 0.2, 2.1, 2.3, 2.0]), 1.0, timedelta(minutes=15))
    0.6666666666666666
    """
    if len(ts_ns) < 2:
        return 0.0
    step = np.minimum(np.diff(ts_ns), int(max_gap.total_seconds() * 1e9))
    return float(step[values[:-1] > level].sum()) / 3.6e12


class RunningHours(Protocol):
    """Running hours of ``asset`` from stored telemetry of ``rule.sensor`` in ``[since, until)``."""

    def __call__(self, site: str, asset: str, rule: MeterRule, since: datetime | None, until: datetime) -> float: ...


class Fleet(Protocol):
    """What the scheduler needs to know of the assets."""

    def assets_of_class(self, asset_class: str) -> list[str]: ...

    def site_of(self, asset: str) -> str: ...


@dataclass(frozen=True)
class Due:
    """A schedule due on an asset now, and why (the order's first comment)."""

    schedule: PreventiveSchedule
    site: str
    asset: str
    why: str


class PreventiveScheduler:
    """Opens the preventive orders that are due (see the module docstring).

    Parameters
    ----------
    settings
        The schedules.
    store
        The work-order store.
    clock
        Where "now" comes from.
    fleet
        The assets of a class, and the ticketing site of an asset.
    running_hours
        Counts running hours from telemetry (needed only by meter schedules).
    deadlines
        SLA deadlines of a new order (`ticketing.lifecycle.config_deadlines`).
    assign
        Chooses the engineer of a new order.
    notify
        Told of every order opened or commented on.
    """

    def __init__(
        self,
        settings: PreventiveSettings,
        store: WorkOrderStore,
        clock: Clock,
        fleet: Fleet,
        running_hours: RunningHours | None = None,
        deadlines: DeadlinesOf | None = None,
        assign: Callable[[WorkOrder], str | None] | None = None,
        notify: Callable[[OrderEvent], None] = lambda event: None,
    ) -> None:
        self.settings, self.store, self.clock, self.fleet = settings, store, clock, fleet
        self.running_hours, self.deadlines, self.assign, self.notify = running_hours, deadlines, assign, notify
        if running_hours is None and any(s.meter for s in settings.schedules):
            raise ValueError("meter schedules need running hours from telemetry (running_hours)")

    def targets(self) -> Iterable[tuple[PreventiveSchedule, str, str]]:
        """Every (schedule, site, asset) the schedules cover."""
        for schedule in self.settings.schedules:
            assets = list(schedule.assets)
            if schedule.asset_class is not None:
                assets += [a for a in self.fleet.assets_of_class(schedule.asset_class) if a not in assets]
            for asset in assets:
                yield schedule, schedule.site or self.fleet.site_of(asset), asset

    def due(self) -> list[Due]:
        """What is due now (whether or not an order is already open for it)."""
        now = self.clock.now()
        by_asset: dict[tuple[str, str], list[WorkOrder]] = {}
        found = []
        for schedule, site, asset in self.targets():
            if (site, asset) not in by_asset:
                by_asset[(site, asset)] = self.store.orders_of_asset(site, asset)
            why = self._why_due(schedule, site, asset, by_asset[(site, asset)], now)
            if why:
                found.append(Due(schedule, site, asset, why))
        return found

    def tick(self) -> list[OrderEvent]:
        """Open (or fold into condition-based work) what is due; returns the changes made."""
        events = []
        for due in self.due():
            try:
                event = self._open(due)
            except Exception:  # noqa: BLE001 - one schedule's failure must not stop the others
                log.exception("preventive %s on %s could not be opened", due.schedule.name, due.asset)
                continue
            if event is not None:
                events.append(event)
                self.notify(event)
        return events

    def run(self, stop: threading.Event) -> None:
        """`tick` every ``check_every_s`` until ``stop`` (a `threading.Event`) is set."""
        while not stop.is_set():
            try:
                opened = self.tick()
                if opened:
                    log.info("preventive schedules: %d orders opened or noted", len(opened))
            except Exception:  # noqa: BLE001 - the store may be briefly busy
                log.exception("preventive schedules tick failed")
            stop.wait(self.settings.check_every_s)

    # --- when is it due ---------------------------------------------------------------------------
    def _why_due(
        self, schedule: PreventiveSchedule, site: str, asset: str, orders: list[WorkOrder], now: datetime
    ) -> str | None:
        mine = [o for o in orders if o.fault_mode == schedule.fault_mode]
        if any(o.status is not Status.CLOSED and o.resolved_at is None for o in mine):
            return None  # already open and not yet done
        last_done = _last_done(schedule, orders)
        if schedule.calendar is not None:
            return _calendar_due(schedule.calendar, mine, last_done, now)
        rule = schedule.meter
        # a schedule has a calendar or a meter, and meter schedules were refused without running hours
        assert rule is not None and self.running_hours is not None
        since = last_done or rule.since
        hours = self.running_hours(site, asset, rule, since, now)
        if hours >= rule.every_hours:
            start = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "in the stored telemetry"
            return (
                f"{hours:.1f} running hours ({rule.sensor} above {rule.running_above:g}) {start}; "
                f"due every {rule.every_hours:g} h"
            )
        return None

    # --- opening ----------------------------------------------------------------------------------
    def _open(self, due: Due) -> OrderEvent | None:
        now = self.clock.now()
        schedule = due.schedule
        condition = [
            o
            for o in self.store.orders_of_asset(due.site, due.asset)
            if not o.fault_mode.startswith(PREFIX) and o.status not in (Status.RESOLVED, Status.CLOSED)
        ]
        if condition:
            return self._fold_into(condition[0], schedule, due.why)
        order = WorkOrder(
            site=due.site,
            asset=due.asset,
            fault_mode=schedule.fault_mode,
            service_type=schedule.service_type,
            priority=schedule.priority,
            opened_at=now,
            checklist=[ChecklistItem(text=step) for step in schedule.checklist],
            comments=[Comment(author=SYSTEM.name, at=now, text=f"{schedule.task or schedule.name}: due — {due.why}")],
        )
        if self.assign is not None:
            order.assignee = self.assign(order)
        order = with_deadlines(order, self.deadlines, now)
        try:
            return self.store.insert(order, actor=SYSTEM.name, at=now, action="open")
        except DuplicateOpenOrder:
            return None  # another worker opened it first

    def _fold_into(self, order: WorkOrder, schedule: PreventiveSchedule, why: str) -> OrderEvent | None:
        marker = _marker(schedule)
        if any(c.text.startswith(marker) for c in order.comments):
            return None
        text = f"{marker} ({schedule.task or schedule.name}; {why}): do it with this job"

        def note(o: WorkOrder) -> WorkOrder:
            o.comments.append(Comment(author=SYSTEM.name, at=self.clock.now(), text=text))
            return o

        assert order.id is not None  # orders read from the store have their ids
        return self.store.update(order.id, note, actor=SYSTEM.name, at=self.clock.now(), action="comment")


def _marker(schedule: PreventiveSchedule) -> str:
    return f"preventive {schedule.name} is due"


def _last_done(schedule: PreventiveSchedule, orders: list[WorkOrder]) -> datetime | None:
    """When the job was last done: its own orders' resolutions, and those of condition-based orders
    it was folded into."""
    marker = _marker(schedule)
    done = [
        o.resolved_at
        for o in orders
        if o.resolved_at is not None
        and (o.fault_mode == schedule.fault_mode or any(c.text.startswith(marker) for c in o.comments))
    ]
    return max(done, default=None)


def _calendar_due(rule: CalendarRule, mine: list[WorkOrder], last_done: datetime | None, now: datetime) -> str | None:
    if rule.mode == "floating":
        due_at = last_done + rule.every if last_done else (rule.start or now)
        if due_at <= now:
            after = f"{_days(rule.every)} after the last completion {last_done:%Y-%m-%d}" if last_done else "never done"
            return f"every {_days(rule.every)} (floating): {after}"
        return None
    assert rule.start is not None  # a fixed calendar needs a start (CalendarRule checks it)
    if now < rule.start:
        return None
    occurrence = rule.start + (now - rule.start) // rule.every * rule.every
    opened = max((o.opened_at for o in mine), default=None)
    if opened is None or opened < occurrence:
        return f"every {_days(rule.every)} (fixed), due {occurrence:%Y-%m-%d %H:%M} UTC"
    return None


def _days(every: timedelta) -> str:
    if every % timedelta(weeks=1) == timedelta(0):
        return f"{every // timedelta(weeks=1)} w"
    if every % timedelta(days=1) == timedelta(0):
        return f"{every.days} d"
    return f"{every.total_seconds() / 3600:g} h"


__all__ = [
    "CalendarRule",
    "Due",
    "Fleet",
    "MeterRule",
    "PreventiveSchedule",
    "PreventiveScheduler",
    "PreventiveSettings",
    "RunningHours",
    "hours_above",
]
