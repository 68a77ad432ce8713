"""Escalation: what to do when nobody reacts to an order in time.

A policy's chain is a list of `EscalationStep`s, each firing once when a share of a target has been
consumed (75 % of the response time: remind the assignee; 100 %: hand the order to a senior
engineer; 100 % of the resolution time: tell the manager). Response steps stop once the order is
acknowledged, resolution steps once it is resolved, and no step fires while the clock is stopped on
hold. `due_escalations` is the pure rule; `EscalationScheduler` applies it to the orders it tracks
at the time its clock gives, and hands each new action to a callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faultline.vocabulary import Clock, require_aware
from faultline.ticketing.roles import Role
from faultline.ticketing.sla import EscalationStep, SlaClock, Timeline, met_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EscalationAction:
    """A step that is due: do ``action`` (to ``role`` for a reassignment), recorded under ``key``."""

    step: EscalationStep
    due_at: datetime
    fraction: float

    @property
    def key(self) -> str:
        return self.step.key

    @property
    def action(self) -> str:
        return self.step.action

    @property
    def role(self) -> Role | None:
        return self.step.role


def _pending(
    order: Timeline, sla: SlaClock, now: datetime, already_fired: Collection[str]
) -> Iterator[tuple[EscalationStep, datetime]]:
    """Steps not yet fired whose target is not yet met, with the instant each falls due."""
    for step in sla.policy.escalation or ():
        if step.key in already_fired:
            continue
        met = met_at(order, step.of)
        if met is not None and met <= now:
            continue
        due_at = sla.due(order, step.of, step.at, now)
        if due_at is not None:
            yield step, due_at


def due_escalations(
    order: Timeline, sla: SlaClock, now: datetime, already_fired: Collection[str] = ()
) -> list[EscalationAction]:
    """The escalation steps that should fire at ``now`` and have not fired yet, earliest first.

    Parameters
    ----------
    order
        The order's times (a ``WorkOrder`` or `ticketing.sla.SlaTimeline`).
    sla
        The order's policy on its site's calendar; the chain is ``sla.policy.escalation``.
    now
        The moment to judge at (from a clock).
    already_fired
        Keys (`EscalationStep.key`) of the steps done before, so none fires twice.
    """
    now = require_aware(now, "now").astimezone(UTC)
    due = [(due_at, step) for step, due_at in _pending(order, sla, now, already_fired) if due_at <= now]
    due.sort(key=lambda pair: (pair[0], pair[1].at))
    actions = []
    for due_at, step in due:
        target = sla.policy.target(step.of)
        assert target is not None  # _pending yields only steps on targets the policy has
        actions.append(EscalationAction(step, due_at, sla.consumed(order, now) / target))
    return actions


def next_escalation(
    order: Timeline, sla: SlaClock, now: datetime, already_fired: Collection[str] = ()
) -> datetime | None:
    """When the next step would fire if nothing changes; None when no step is pending."""
    now = require_aware(now, "now").astimezone(UTC)
    return min((due_at for _, due_at in _pending(order, sla, now, already_fired)), default=None)


@dataclass
class _Tracked:
    order: Timeline
    sla: SlaClock
    fired: set[str] = field(default_factory=set)


class EscalationScheduler:
    """Fires the escalation steps of tracked orders as the clock passes them.

    ``on_escalation(order_id, action)`` is called once per step; a step is recorded as fired only
    when the callback returns, so a failing callback (mail server down) is retried on the next
    ``tick`` instead of the escalation being lost. The caller updates an order with ``track`` after
    every change (acknowledged, on hold, priority raised) and drops it with ``forget`` once closed.

    Examples
    --------
    >>> from datetime import timedelta
    >>> from faultline.ticketing.calendar import AlwaysOpen
    >>> from faultline.vocabulary import ManualClock
    >>> from faultline.ticketing.sla import SlaPolicy, SlaTimeline
    >>> policy = SlaPolicy(name="e", service_type="emergency_repair", priorities=("P1",), response="15m",
    ...                    calendar="24x7", escalation=[{"at": 1.0, "of": "response", "action": "notify_manager"}])
    >>> clock = ManualClock(datetime(2026, 11, 21, 9, tzinfo=UTC))
    >>> fired = []
    >>> scheduler = EscalationScheduler(clock, lambda order, action: fired.append((order, action.key)))
    >>> scheduler.track("WO-1", SlaTimeline(clock.now()), SlaClock(policy, AlwaysOpen()))
    >>> _ = clock.advance(timedelta(minutes=15)); _ = scheduler.tick()
    >>> fired
    [('WO-1', 'response@1:notify_manager')]
    """

    def __init__(self, clock: Clock, on_escalation: Callable[[Hashable, EscalationAction], object]):
        self.clock = clock
        self.on_escalation = on_escalation
        self.failures = 0
        self._orders: dict[Hashable, _Tracked] = {}

    def track(self, order_id: Hashable, order: Timeline, sla: SlaClock, fired: Collection[str] = ()) -> None:
        """Start or update watching an order; ``fired`` adds steps already done (from the store)."""
        known = self._orders.get(order_id)
        done = (known.fired if known else set()) | set(fired)
        self._orders[order_id] = _Tracked(order, sla, done)

    def forget(self, order_id: Hashable) -> None:
        self._orders.pop(order_id, None)

    def fired(self, order_id: Hashable) -> frozenset[str]:
        """Keys of the steps fired for an order so far."""
        tracked = self._orders.get(order_id)
        return frozenset(tracked.fired) if tracked else frozenset()

    def tick(self) -> list[tuple[Hashable, EscalationAction]]:
        """Fire every step due now; returns the ones whose callback succeeded."""
        now = self.clock.now()
        done = []
        for order_id, tracked in list(self._orders.items()):
            for action in due_escalations(tracked.order, tracked.sla, now, tracked.fired):
                try:
                    self.on_escalation(order_id, action)
                except Exception:
                    self.failures += 1
                    log.exception("escalation %s of order %s failed; retrying at the next tick", action.key, order_id)
                    continue
                tracked.fired.add(action.key)
                done.append((order_id, action))
        return done

    def sleep_seconds(self, longest: float = 60.0) -> float:
        """How long a service loop may sleep before its next ``tick``: until the next step falls due,
        but at most ``longest`` (an order that changes meanwhile may bring its steps forward)."""
        due = self.next_due()
        if due is None:
            return longest
        return min(longest, max(0.0, (due - self.clock.now()).total_seconds()))

    def next_due(self) -> datetime | None:
        """The earliest instant a tracked order's next step falls due (to sleep until); None if none."""
        now = self.clock.now()
        times = (next_escalation(t.order, t.sla, now, t.fired) for t in self._orders.values())
        return min((t for t in times if t is not None), default=None)


__all__ = ["EscalationAction", "EscalationScheduler", "due_escalations", "next_escalation"]
