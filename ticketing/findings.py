"""From findings to work orders: one order per real problem.

A finding is what a detector reported about an asset (the wiring converts the detectors' own type to
`FindingIn`; ticketing imports nothing from the detectors). `FindingIntake.receive` decides:

- an order for the same (site, asset, fault mode) is not closed → the finding is added to its
  evidence, and its priority goes up when the new finding's risk is higher (never down);
- the last order for that key was closed less than ``reopen_window`` ago → that order is reopened
  (the fault came back: it counts against first-time fix);
- otherwise → a new order, with its priority from the risk matrix (severity × asset criticality),
  its service type from the priority, an engineer and SLA deadlines.

The store's unique index is what guarantees one open order: when two workers race, the loser's
insert fails, and it reads the winner's order and adds its evidence there instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from faultline.vocabulary import SEVERITIES, Clock, require_aware
from faultline.ticketing.lifecycle import (
    SYSTEM,
    DeadlinesOf,
    Lifecycle,
    Notifier,
    Retype,
    config_deadlines,
    config_retype,
    with_deadlines,
)
from faultline.ticketing.models import ChecklistItem, Evidence, OrderEvent, ServiceType, Status, WorkOrder, more_urgent
from faultline.ticketing.store import DuplicateOpenOrder, StoreError, WorkOrderStore

if TYPE_CHECKING:
    from faultline.ticketing.config import TicketingConfig

_ATTEMPTS = 5


@dataclass(frozen=True)
class FindingIn:
    """A detector's finding as ticketing receives it.

    ``ended_at`` is None while the condition is still active; ``evidence`` summarises the readings
    window (e.g. ``{"max": 7.9, "mean": 6.8, "n": 60}``); ``thresholds`` are the rule's limits.
    ``kind`` is ``anomaly`` (about the machine) or ``data_quality`` (about the data: a stuck or
    silent sensor), which may open a different class of job (``finding_kinds`` in the configuration).
    """

    site: str
    asset: str
    sensor: str
    fault_mode: str
    severity: str
    score: float
    started_at: datetime
    detector: str
    detector_version: str
    rule: str
    config_version: str
    ended_at: datetime | None = None
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "anomaly"

    def __post_init__(self) -> None:
        for name in ("site", "asset", "sensor", "fault_mode", "detector", "rule"):
            if not getattr(self, name):
                raise ValueError(f"finding has an empty {name}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")
        if not isinstance(self.score, int | float) or not math.isfinite(self.score):
            raise ValueError(f"finding score {self.score!r} is not a finite number")
        require_aware(self.started_at, "finding started_at")
        if self.ended_at is not None:
            require_aware(self.ended_at, "finding ended_at")

    @property
    def key(self) -> tuple[str, str, str]:
        return self.site, self.asset, self.fault_mode

    def as_evidence(self, received_at: datetime) -> Evidence:
        return Evidence(
            sensor=self.sensor,
            severity=self.severity,
            score=self.score,
            started_at=self.started_at,
            ended_at=self.ended_at,
            detector=self.detector,
            detector_version=self.detector_version,
            rule=self.rule,
            config_version=self.config_version,
            thresholds=dict(self.thresholds),
            readings=dict(self.evidence),
            received_at=received_at,
        )


class _Changed(Exception):
    """The order changed between reading and locking it (closed, or reopened by another worker): decide again."""


class FindingIntake:
    """Turns findings into work orders in a store.

    Parameters
    ----------
    store
        A `ticketing.store.WorkOrderStore`.
    clock
        Where "now" comes from.
    priority_of
        ``(finding) -> priority``: the risk matrix of severity × the asset's criticality.
    service_type_of
        ``(priority) -> ServiceType``: the class of job an order of that priority is.
    kind_service_types
        The class of job a finding of a kind opens whatever its priority (``data_quality`` →
        ``sensor_check``); kinds not listed follow ``service_type_of``.
    reopen_window
        A finding this soon after its order was closed reopens that order.
    deadlines
        Computes SLA deadlines for an order (see `ticketing.lifecycle.DeadlinesOf`).
    assign
        ``(order) -> engineer name or None``, e.g. `ticketing.assignment.Assigner.choose`.
    checklist_of
        ``(fault mode) -> steps`` a new order lists for the engineer to tick off at close-out.
    notify
        Called with each `OrderEvent` after it is saved (the adapters).
    """

    def __init__(
        self,
        store: WorkOrderStore,
        clock: Clock,
        *,
        priority_of: Callable[[FindingIn], str],
        service_type_of: Callable[[str], ServiceType],
        reopen_window: timedelta,
        deadlines: DeadlinesOf | None = None,
        assign: Callable[[WorkOrder], str | None] | None = None,
        checklist_of: Callable[[str], list[str]] = lambda fault_mode: [],
        notify: Callable[[OrderEvent], None] = Notifier(),
        kind_service_types: Mapping[str, ServiceType] | None = None,
        retype: Retype | None = None,
    ):
        self.store, self.clock = store, clock
        self.priority_of, self.service_type_of = priority_of, service_type_of
        self.reopen_window, self.deadlines, self.assign, self.notify = reopen_window, deadlines, assign, notify
        self.checklist_of = checklist_of
        self.kind_service_types = dict(kind_service_types or {})
        self._lifecycle = Lifecycle(clock, deadlines, retype=retype)

    @classmethod
    def from_config(
        cls,
        config: TicketingConfig,
        store: WorkOrderStore,
        clock: Clock,
        notify: Callable[[OrderEvent], None] = Notifier(),
    ) -> "FindingIntake":
        """An intake following a `ticketing.config.TicketingConfig`: its risk matrix, asset
        criticalities, catalogue, reopen window and assignment rules."""
        from faultline.ticketing.assignment import Assigner

        return cls(
            store,
            clock,
            priority_of=lambda f: config.priority_for(f.severity, config.criticality_of(f.asset)),
            service_type_of=lambda priority: config.policy_for(priority).service_type,
            reopen_window=config.reopen_window,
            deadlines=config_deadlines(config),
            assign=Assigner.from_config(config, store).choose,
            checklist_of=config.checklist_for,
            notify=notify,
            kind_service_types=config.finding_kinds,
            retype=config_retype(config),
        )

    def receive(self, finding: FindingIn) -> OrderEvent:
        """Record ``finding`` on the right order (new, existing or reopened) and return what happened."""
        for _ in range(_ATTEMPTS):
            try:
                event = self._try(finding)
            except (DuplicateOpenOrder, _Changed):
                continue  # another worker changed this key between our read and our write
            self.notify(event)
            return event
        raise StoreError(
            f"could not record finding for {finding.key} after {_ATTEMPTS} attempts: the order kept changing under us"
        )

    def _try(self, finding: FindingIn) -> OrderEvent:
        now = self.clock.now()
        current = self.store.find_open(*finding.key)
        if current is not None:
            assert current.id is not None  # orders read from the store have their ids
            return self.store.update(
                current.id,
                lambda order: self._add(order, finding, now),
                actor=SYSTEM.name,
                at=now,
                action="add_evidence",
            )
        last = self.store.last_closed(*finding.key)
        if last is not None and last.closed_at is not None and now - last.closed_at <= self.reopen_window:
            assert last.id is not None
            return self.store.update(
                last.id, lambda order: self._reopen(order, finding, now), actor=SYSTEM.name, at=now, action="reopen"
            )
        return self.store.insert(self._new(finding, now), actor=SYSTEM.name, at=now, action="open")

    def _new(self, finding: FindingIn, now: datetime) -> WorkOrder:
        priority = self.priority_of(finding)
        service_type = self.kind_service_types.get(finding.kind) or self.service_type_of(priority)
        order = WorkOrder(
            site=finding.site,
            asset=finding.asset,
            fault_mode=finding.fault_mode,
            service_type=service_type,
            priority=priority,
            opened_at=now,
            checklist=[ChecklistItem(text=step) for step in self.checklist_of(finding.fault_mode)],
        )
        order.add_evidence(finding.as_evidence(now))
        if self.assign is not None:
            order.assignee = self.assign(order)
        return with_deadlines(order, self.deadlines, now)

    def _add(self, order: WorkOrder, finding: FindingIn, now: datetime) -> WorkOrder:
        if order.status is Status.CLOSED:
            raise _Changed
        if order.status is Status.RESOLVED and order.resolved_at is not None and order.resolved_at < finding.started_at:
            # the fault started again after the fix: the fix did not hold
            order = self._lifecycle.reopen(order, SYSTEM, f"{finding.fault_mode} returned after resolution")
        order.add_evidence(finding.as_evidence(now))
        priority = self.priority_of(finding)
        if more_urgent(priority, order.priority):
            order = self._lifecycle.set_priority(order, SYSTEM, priority)
        return order

    def _reopen(self, order: WorkOrder, finding: FindingIn, now: datetime) -> WorkOrder:
        if order.status is not Status.CLOSED:
            raise _Changed  # someone reopened it already; decide again
        window = self.reopen_window
        order = self._lifecycle.reopen(order, SYSTEM, f"{finding.fault_mode} returned within {window} of closing")
        return self._add(order, finding, now)
