"""Escalation: which steps are due when, that they stop on acknowledgement or resolution, and the
scheduler that fires them as a manual clock moves (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from faultline.ticketing.calendar import AlwaysOpen
from faultline.vocabulary import ManualClock
from faultline.ticketing.config import default_ticketing_config
from faultline.ticketing.escalation import EscalationScheduler, due_escalations, next_escalation
from faultline.ticketing.roles import Role
from faultline.ticketing.sla import Hold, SlaClock, SlaPolicy, SlaTimeline

BERLIN = ZoneInfo("Europe/Berlin")
M, H = timedelta(minutes=1), timedelta(hours=1)
CONFIG = default_ticketing_config()
EMERGENCY = CONFIG.sla_clock("north", "emergency-repair")  # 15 min / 4 h, 24x7
CORRECTIVE = CONFIG.sla_clock("north", "corrective")  # 2 h / 48 h, business hours
T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # a Saturday night


def keys(actions) -> list[str]:
    return [a.key for a in actions]


class TestDueEscalations:
    def test_steps_fire_at_their_share_of_the_target(self):
        order = SlaTimeline(T0)
        assert due_escalations(order, EMERGENCY, T0 + 11 * M) == []
        assert keys(due_escalations(order, EMERGENCY, T0 + 11 * M + timedelta(seconds=15))) == [
            "response@0.75:notify_assignee"
        ]
        due = due_escalations(order, EMERGENCY, T0 + 15 * M)
        assert keys(due) == ["response@0.75:notify_assignee", "response@1:reassign"]
        assert due[1].role is Role.SENIOR_ENGINEER and due[1].due_at == T0 + 15 * M and due[1].fraction == 1.0

    def test_fired_steps_do_not_fire_again(self):
        fired = {"response@0.75:notify_assignee", "response@1:reassign"}
        assert due_escalations(SlaTimeline(T0), EMERGENCY, T0 + 20 * M, fired) == []

    def test_acknowledging_stops_response_steps_but_not_resolution_steps(self):
        order = SlaTimeline(T0, acknowledged_at=T0 + 10 * M)
        assert due_escalations(order, EMERGENCY, T0 + 2 * H) == []
        assert keys(due_escalations(order, EMERGENCY, T0 + 3 * H)) == ["resolution@0.75:notify_assignee"]
        assert keys(due_escalations(order, EMERGENCY, T0 + 4 * H)) == [
            "resolution@0.75:notify_assignee",
            "resolution@1:notify_manager",
        ]

    def test_resolving_stops_everything(self):
        order = SlaTimeline(T0, acknowledged_at=T0 + 5 * M, resolved_at=T0 + H)
        assert due_escalations(order, EMERGENCY, T0 + 10 * H) == []

    def test_a_step_missed_before_the_acknowledgement_is_not_fired_after_it(self):
        late_ack = SlaTimeline(T0, acknowledged_at=T0 + 20 * M)
        # judged after the acknowledgement, the response steps are over: nobody needs reminding now
        assert keys(due_escalations(late_ack, EMERGENCY, T0 + 21 * M)) == []
        # judged before it, they were due
        assert len(due_escalations(late_ack, EMERGENCY, T0 + 16 * M)) == 2

    def test_nothing_fires_while_on_hold(self):
        order = SlaTimeline(T0, acknowledged_at=T0 + 5 * M, holds=[Hold(T0 + H)])
        assert due_escalations(order, EMERGENCY, T0 + 30 * H) == []
        resumed = SlaTimeline(T0, acknowledged_at=T0 + 5 * M, holds=[Hold(T0 + H, T0 + 30 * H)])
        # 1 h before the hold and 2 h after it make 75 % of the 4 h resolution target
        assert due_escalations(resumed, EMERGENCY, T0 + 32 * H - M) == []
        assert keys(due_escalations(resumed, EMERGENCY, T0 + 32 * H)) == ["resolution@0.75:notify_assignee"]

    def test_business_calendar_does_not_escalate_over_the_weekend(self):
        friday = datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
        order = SlaTimeline(friday)
        assert due_escalations(order, CORRECTIVE, datetime(2026, 11, 23, 8, 29, tzinfo=BERLIN)) == []
        assert keys(due_escalations(order, CORRECTIVE, datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN))) == [
            "response@0.75:notify_assignee"
        ]
        assert next_escalation(order, CORRECTIVE, friday) == datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN)

    def test_policy_with_its_own_chain(self):
        policy = SlaPolicy(
            name="p",
            service_type="inspection",
            priorities=("P4",),
            resolution="10h",
            calendar="24x7",
            escalation=[{"at": 0.5, "of": "resolution", "action": "notify_manager"}],
        )
        sla = SlaClock(policy, AlwaysOpen())
        assert keys(due_escalations(SlaTimeline(T0), sla, T0 + 5 * H)) == ["resolution@0.5:notify_manager"]
        assert next_escalation(SlaTimeline(T0), sla, T0 + 5 * H, {"resolution@0.5:notify_manager"}) is None


class TestScheduler:
    def test_fires_each_step_once_as_the_clock_moves(self):
        clock = ManualClock(T0)
        calls = []
        scheduler = EscalationScheduler(clock, lambda order_id, action: calls.append((order_id, action.key)))
        scheduler.track("WO-000001", SlaTimeline(T0), EMERGENCY)
        scheduler.track("WO-000002", SlaTimeline(T0 + 5 * M, acknowledged_at=T0 + 6 * M), EMERGENCY)
        assert scheduler.next_due() == T0 + 11 * M + timedelta(seconds=15)
        assert scheduler.tick() == []
        clock.set(T0 + 15 * M)
        scheduler.tick()
        scheduler.tick()
        assert calls == [("WO-000001", "response@0.75:notify_assignee"), ("WO-000001", "response@1:reassign")]
        assert scheduler.fired("WO-000001") == {"response@0.75:notify_assignee", "response@1:reassign"}
        # order 1 gets acknowledged: updating it keeps what already fired
        scheduler.track("WO-000001", SlaTimeline(T0, acknowledged_at=T0 + 16 * M), EMERGENCY)
        assert scheduler.next_due() == T0 + 3 * H
        clock.set(T0 + 4 * H + 5 * M)
        scheduler.tick()
        assert calls[2:] == [
            ("WO-000001", "resolution@0.75:notify_assignee"),
            ("WO-000001", "resolution@1:notify_manager"),
            ("WO-000002", "resolution@0.75:notify_assignee"),
            ("WO-000002", "resolution@1:notify_manager"),
        ]
        assert scheduler.next_due() is None

    def test_sleep_until_the_next_step_but_not_too_long(self):
        clock = ManualClock(T0)
        scheduler = EscalationScheduler(clock, lambda o, a: None)
        assert scheduler.sleep_seconds(60) == 60
        scheduler.track(1, SlaTimeline(T0), EMERGENCY)
        assert scheduler.sleep_seconds(3600) == 11.25 * 60
        assert scheduler.sleep_seconds(60) == 60
        clock.advance(20 * M)
        assert scheduler.sleep_seconds(60) == 0

    def test_a_failing_callback_is_retried_not_lost(self, caplog):
        clock = ManualClock(T0 + 12 * M)
        attempts = []

        def flaky(order_id, action):
            attempts.append(action.key)
            if len(attempts) == 1:
                raise ConnectionError("SMTP server down")

        scheduler = EscalationScheduler(clock, flaky)
        scheduler.track(7, SlaTimeline(T0), EMERGENCY)
        assert scheduler.tick() == [] and scheduler.failures == 1
        assert "SMTP server down" in caplog.text and "response@0.75:notify_assignee" in caplog.text
        assert [key for _, key in [(o, a.key) for o, a in scheduler.tick()]] == ["response@0.75:notify_assignee"]
        assert attempts == ["response@0.75:notify_assignee"] * 2

    def test_steps_fired_before_a_restart_come_from_the_store(self):
        clock = ManualClock(T0 + 15 * M)
        calls = []
        scheduler = EscalationScheduler(clock, lambda o, a: calls.append(a.key))
        scheduler.track(1, SlaTimeline(T0), EMERGENCY, fired={"response@0.75:notify_assignee"})
        scheduler.tick()
        assert calls == ["response@1:reassign"]

    def test_forgotten_orders_do_not_escalate(self):
        clock = ManualClock(T0)
        calls = []
        scheduler = EscalationScheduler(clock, lambda o, a: calls.append(a.key))
        scheduler.track(1, SlaTimeline(T0), EMERGENCY)
        scheduler.forget(1)
        scheduler.forget(2)  # unknown: nothing to do
        clock.advance(10 * H)
        assert scheduler.tick() == [] and calls == [] and scheduler.next_due() is None


def test_reassign_step_requires_a_role():
    from pydantic import ValidationError

    from faultline.ticketing.sla import EscalationStep

    with pytest.raises(ValidationError, match="needs a role"):
        EscalationStep(at=1.0, of="response", action="reassign")
