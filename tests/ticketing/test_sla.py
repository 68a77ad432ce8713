"""SLA deadlines and status: holds stop the clock, a priority change recomputes, a clock is moved."""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from faultline.vocabulary import ManualClock, NaiveDatetimeError
from faultline.ticketing.config import default_ticketing_config
from faultline.ticketing.models import HoldPeriod, HoldReason, ServiceType, WorkOrder
from faultline.ticketing.sla import Hold, SlaPolicy, SlaTimeline

BERLIN = ZoneInfo("Europe/Berlin")
H, M = timedelta(hours=1), timedelta(minutes=1)
CONFIG = default_ticketing_config()
CORRECTIVE = CONFIG.sla_clock("north", "corrective")
EMERGENCY = CONFIG.sla_clock("north", "emergency-repair")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    "module",
    [
        "faultline.ticketing.calendar",
        "faultline.ticketing.sla",
        "faultline.ticketing.escalation",
        "faultline.ticketing.roles",
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


class TestDeadlines:
    def test_corrective_job_opened_friday_afternoon(self):
        due = CORRECTIVE.deadlines(SlaTimeline(berlin(2026, 11, 20, 16, 0)))
        # response: 1 h on Friday, 1 h on Monday; resolution 48 h = 1 + 9 × 5 (Mon–Fri) + 2 h next Monday
        assert due.response_due == berlin(2026, 11, 23, 9, 0)
        assert due.resolution_due == berlin(2026, 11, 30, 10, 0)

    def test_corrective_job_opened_on_a_saturday(self):
        due = CORRECTIVE.deadlines(SlaTimeline(berlin(2026, 11, 21, 11, 0)))
        assert due.response_due == berlin(2026, 11, 23, 10, 0)
        assert due.resolution_due == berlin(2026, 11, 30, 11, 0)  # 48 h = 5 × 9 h + 3 h

    def test_corrective_job_opened_at_night(self):
        due = CORRECTIVE.deadlines(SlaTimeline(berlin(2026, 11, 24, 23, 40)))
        assert due.response_due == berlin(2026, 11, 25, 10, 0)

    def test_emergency_repair_ignores_business_hours(self):
        due = EMERGENCY.deadlines(SlaTimeline(berlin(2026, 12, 25, 3, 0)))
        assert due.response_due == berlin(2026, 12, 25, 3, 15)
        assert due.resolution_due == berlin(2026, 12, 25, 7, 0)

    def test_json_uses_the_site_offset(self):
        due = CORRECTIVE.deadlines(SlaTimeline(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)))
        assert due.as_json() == {
            "response_due": "2026-07-01T10:00:00+02:00",
            "resolution_due": "2026-07-08T11:00:00+02:00",
        }

    def test_naive_opening_is_refused(self):
        with pytest.raises(NaiveDatetimeError, match="2026-11-20T16:00:00"):
            CORRECTIVE.deadlines(SlaTimeline(datetime(2026, 11, 20, 16, 0)))


class TestHolds:
    opened = berlin(2026, 11, 23, 9, 0)  # Monday

    def test_a_closed_hold_pushes_the_deadline_back_by_its_business_time(self):
        plain = CORRECTIVE.deadlines(SlaTimeline(self.opened))
        # on hold (awaiting parts) from Monday 10:00 to Tuesday 10:00: 7 h + 2 h of business time
        held = CORRECTIVE.deadlines(
            SlaTimeline(self.opened, holds=[Hold(berlin(2026, 11, 23, 10), berlin(2026, 11, 24, 10))])
        )
        # one hour of the response target was used before the hold, the other after it
        assert plain.response_due == berlin(2026, 11, 23, 11, 0) and held.response_due == berlin(2026, 11, 24, 11, 0)
        assert CORRECTIVE.calendar.elapsed(plain.resolution_due, held.resolution_due) == 9 * H

    def test_a_hold_before_the_response_deadline_moves_it(self):
        held = CORRECTIVE.deadlines(
            SlaTimeline(self.opened, holds=[Hold(berlin(2026, 11, 23, 9, 30), berlin(2026, 11, 23, 13, 0))])
        )
        assert held.response_due == berlin(2026, 11, 23, 14, 30)

    def test_a_hold_outside_hours_changes_nothing(self):
        night = Hold(berlin(2026, 11, 23, 18, 0), berlin(2026, 11, 24, 7, 0))
        assert CORRECTIVE.deadlines(SlaTimeline(self.opened, holds=[night])) == CORRECTIVE.deadlines(
            SlaTimeline(self.opened)
        )

    def test_overlapping_holds_count_once(self):
        one = [Hold(berlin(2026, 11, 23, 10), berlin(2026, 11, 23, 14))]
        two = [
            Hold(berlin(2026, 11, 23, 10), berlin(2026, 11, 23, 12)),
            Hold(berlin(2026, 11, 23, 11), berlin(2026, 11, 23, 14)),
        ]
        assert CORRECTIVE.deadlines(SlaTimeline(self.opened, holds=one)) == CORRECTIVE.deadlines(
            SlaTimeline(self.opened, holds=two)
        )

    def test_while_on_hold_the_deadline_moves_with_the_clock_and_nothing_is_consumed(self):
        clock = ManualClock(berlin(2026, 11, 23, 10, 0))
        order = SlaTimeline(self.opened, acknowledged_at=berlin(2026, 11, 23, 9, 20), holds=[Hold(clock.now())])
        with pytest.raises(ValueError, match="on hold since"):
            CORRECTIVE.deadlines(order)
        before = CORRECTIVE.status(order, clock.now())
        first_due = CORRECTIVE.deadlines(order, clock.now()).resolution_due
        clock.advance(3 * H)
        after = CORRECTIVE.status(order, clock.now())
        assert before.paused and after.paused
        assert after.resolution.consumed == before.resolution.consumed == H
        assert CORRECTIVE.deadlines(order, clock.now()).resolution_due == first_due + 3 * H

    def test_status_while_not_on_hold_is_not_paused(self):
        order = SlaTimeline(self.opened, holds=[Hold(berlin(2026, 11, 23, 10), berlin(2026, 11, 23, 11))])
        assert not CORRECTIVE.status(order, berlin(2026, 11, 23, 12)).paused
        assert CORRECTIVE.status(order, berlin(2026, 11, 23, 10, 30)).paused

    def test_a_work_order_is_a_timeline(self):
        order = WorkOrder(
            site="north",
            asset="pump-1",
            fault_mode="imbalance",
            service_type=ServiceType.CORRECTIVE,
            priority="P2",
            opened_at=self.opened,
            holds=[
                HoldPeriod(
                    reason=HoldReason.AWAITING_PARTS, start=berlin(2026, 11, 23, 9, 30), end=berlin(2026, 11, 23, 13, 0)
                )
            ],
        )
        assert CORRECTIVE.deadlines(order).response_due == berlin(2026, 11, 23, 14, 30)


class TestStatus:
    opened = berlin(2026, 11, 23, 9, 0)

    def test_time_left_and_share_consumed_as_the_clock_moves(self):
        clock = ManualClock(self.opened)
        order = SlaTimeline(self.opened)
        clock.advance(90 * M)
        response = CORRECTIVE.status(order, clock.now()).response
        assert (response.consumed, response.left, response.percent, response.breached) == (90 * M, 30 * M, 75.0, False)
        clock.set(berlin(2026, 11, 23, 11, 0))
        assert CORRECTIVE.status(order, clock.now()).response.fraction == 1.0
        assert not CORRECTIVE.status(order, clock.now()).response.breached  # on the deadline is in time
        clock.advance(timedelta(seconds=1))
        late = CORRECTIVE.status(order, clock.now())
        assert late.response.breached and late.breached and late.response.left == -timedelta(seconds=1)

    def test_after_closing_time_the_deadline_has_passed_though_no_business_time_has(self):
        order = SlaTimeline(berlin(2026, 11, 23, 15, 0))  # response due 17:00
        status = CORRECTIVE.status(order, berlin(2026, 11, 23, 18, 0)).response
        assert status.left == timedelta(0) and status.breached

    def test_met_in_time_stops_the_count(self):
        order = SlaTimeline(self.opened, acknowledged_at=berlin(2026, 11, 23, 9, 45))
        status = CORRECTIVE.status(order, berlin(2026, 11, 30, 9, 0)).response
        assert status.met_at == berlin(2026, 11, 23, 9, 45) and status.consumed == 45 * M and not status.breached

    def test_a_met_target_keeps_its_deadline_when_the_order_goes_on_hold_later(self):
        order = SlaTimeline(
            self.opened, acknowledged_at=berlin(2026, 11, 23, 9, 20), holds=[Hold(berlin(2026, 11, 23, 10, 0))]
        )
        status = CORRECTIVE.status(order, berlin(2026, 11, 24, 15, 0))
        assert status.response.due == berlin(2026, 11, 23, 11, 0) and not status.response.breached
        assert status.paused and status.resolution.consumed == H

    def test_met_late_is_breached_for_good(self):
        order = SlaTimeline(self.opened, acknowledged_at=berlin(2026, 11, 23, 11, 30))
        assert CORRECTIVE.status(order, berlin(2026, 11, 30, 9, 0)).response.breached

    def test_resolving_also_answers_the_response(self):
        order = SlaTimeline(self.opened, resolved_at=berlin(2026, 11, 23, 10, 0))
        status = CORRECTIVE.status(order, berlin(2026, 11, 24, 9, 0))
        assert status.response.met_at == status.resolution.met_at == berlin(2026, 11, 23, 10, 0)

    def test_a_met_time_in_the_future_of_now_is_not_yet_met(self):
        order = SlaTimeline(self.opened, acknowledged_at=berlin(2026, 11, 23, 10, 0))
        assert CORRECTIVE.status(order, berlin(2026, 11, 23, 9, 30)).response.met_at is None

    def test_status_as_json(self):
        order = SlaTimeline(self.opened, acknowledged_at=berlin(2026, 11, 23, 9, 30))
        assert CORRECTIVE.status(order, berlin(2026, 11, 23, 10, 0)).as_json() == {
            "at": "2026-11-23T10:00:00+01:00",
            "paused": False,
            "breached": False,
            "response": {
                "due": "2026-11-23T11:00:00+01:00",
                "met_at": "2026-11-23T09:30:00+01:00",
                "target_s": 7200.0,
                "consumed_s": 1800.0,
                "left_s": 5400.0,
                "percent": 25.0,
                "breached": False,
            },
            "resolution": {
                "due": "2026-11-30T12:00:00+01:00",
                "met_at": None,
                "target_s": 172800.0,
                "consumed_s": 3600.0,
                "left_s": 169200.0,
                "percent": 2.08,
                "breached": False,
            },
        }

    def test_policy_without_response_target_has_no_response_status(self):
        preventive = CONFIG.sla_clock("north", "preventive")
        status = preventive.status(SlaTimeline(self.opened), self.opened + 7 * 24 * H)
        assert status.response is None and status.resolution.fraction == 1.0


class TestPriorityChange:
    def test_raising_priority_recomputes_from_the_opening_with_the_new_policy(self):
        opened = berlin(2026, 11, 20, 16, 0)
        order = SlaTimeline(opened)
        p2 = CONFIG.sla_clock("north", CONFIG.policy_for("P2", ServiceType.CORRECTIVE))
        p1 = CONFIG.sla_clock("north", CONFIG.policy_for("P1", ServiceType.CORRECTIVE))
        assert p2.policy.name == "corrective" and p1.policy.name == "emergency-repair"
        assert p2.deadlines(order).response_due == berlin(2026, 11, 23, 9, 0)
        assert p1.deadlines(order).response_due == berlin(2026, 11, 20, 16, 15)

    def test_a_reopened_order_counts_from_its_reopening(self):
        order = SlaTimeline(berlin(2026, 11, 2, 9, 0), sla_started_at=berlin(2026, 11, 23, 9, 0))
        assert CORRECTIVE.deadlines(order).response_due == berlin(2026, 11, 23, 11, 0)
        assert CORRECTIVE.status(order, berlin(2026, 11, 23, 10, 0)).response.consumed == H


class TestPolicyValidation:
    base = dict(name="x", service_type="corrective", priorities=["P2"], response="2h", resolution="48h")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"response": "0m"}, "longer than zero"),
            ({"response": "2 hours"}, "'2 hours'"),
            ({"priorities": ["P9"]}, "'P9'"),
            ({"response": None, "resolution": None}, "needs a response or a resolution"),
            ({"service_type": "repair"}, "repair"),
            ({"calendar": "weekdays"}, "weekdays"),
            (
                {"resolution": None, "escalation": [{"at": 1, "of": "resolution", "action": "notify_manager"}]},
                "no resolution target",
            ),
            ({"escalation": [{"at": 1, "of": "response", "action": "reassign"}]}, "needs a role"),
        ],
    )
    def test_bad_policies_name_the_value(self, change, message):
        with pytest.raises(ValidationError, match=message):
            SlaPolicy(**{**self.base, **change})

    def test_durations_in_several_spellings(self):
        policy = SlaPolicy(**{**self.base, "response": "PT1H30M", "resolution": "1d12h"})
        assert (policy.response, policy.resolution) == (90 * M, 36 * H)


# --- properties ----------------------------------------------------------------------------------

starts = st.integers(0, 2 * 366 * 24 * 60).map(lambda m: datetime(2026, 1, 1, tzinfo=UTC) + m * M)
hold_lists = st.lists(st.tuples(st.integers(0, 20 * 24 * 60), st.integers(1, 3 * 24 * 60)), max_size=4)
amounts = st.integers(1, 60 * 60).map(lambda m: m * M)
clocks = st.sampled_from([CORRECTIVE, EMERGENCY])


def _timeline(start, holds):
    return SlaTimeline(start, holds=[Hold(start + a * M, start + (a + b) * M) for a, b in holds])


@settings(max_examples=200, deadline=None)
@given(clocks, starts, hold_lists, amounts)
def test_counted_time_up_to_a_deadline_is_the_target(sla, start, holds, amount):
    order = _timeline(start, holds)
    due = sla.when_consumed(order, amount)
    assert sla.consumed(order, due) == amount
    assert sla.consumed(order, due - timedelta(microseconds=1)) < amount


@settings(max_examples=200, deadline=None)
@given(clocks, starts, hold_lists, amounts, amounts)
def test_holds_never_bring_a_deadline_forward_and_more_time_never_earlier(sla, start, holds, a, b):
    order = _timeline(start, holds)
    assert sla.when_consumed(order, a) >= sla.when_consumed(SlaTimeline(start), a)
    assert sla.when_consumed(order, a + b) >= sla.when_consumed(order, a)
