"""A reopened order is a new visit: a new response and resolution clock, escalation from the start,
and the KPIs judge the visit on its own deadlines (it also counts against first-time fix)."""

from __future__ import annotations

from datetime import timedelta

from tests.ticketing.conftest import T0
from faultline.ticketing.escalation import due_escalations
from faultline.ticketing.kpis import compute_kpis
from faultline.ticketing.lifecycle import Actor, Lifecycle, config_deadlines, with_deadlines
from faultline.ticketing.models import Status, WorkOrder
from faultline.ticketing.responders import fired_steps

ANNA = Actor("anna.schmidt", "senior_engineer")
M = timedelta(minutes=1)


def emergency(config) -> WorkOrder:
    order = WorkOrder(
        id=3,
        site="north",
        asset="pump-1",
        fault_mode="imbalance",
        service_type="emergency_repair",
        priority="P1",
        opened_at=T0,
    )
    return with_deadlines(order, config_deadlines(config), T0)


def fixed_then_reopened(life, clock, config) -> WorkOrder:
    order = emergency(config)
    clock.advance(5 * M)
    order = life.start(life.acknowledge(order, ANNA), ANNA)
    clock.advance(60 * M)
    order = life.close(life.resolve(order, ANNA, "fault_confirmed"), ANNA)
    clock.advance(timedelta(days=1))
    return life.reopen(order, ANNA, "vibration is back")


def test_reopen_starts_a_new_visit_with_its_own_clock(clock, config):
    life = Lifecycle(clock, config_deadlines(config), config.permissions)
    order = fixed_then_reopened(life, clock, config)
    reopened = T0 + timedelta(days=1, minutes=65)
    assert order.status is Status.OPEN and order.acknowledged_at is None and order.started_at is None
    assert order.response_due == reopened + 15 * M and order.resolution_due == reopened + 4 * 60 * M
    [first] = order.visits
    assert (first.number, first.acknowledged_at, first.outcome.value) == (1, T0 + 5 * M, "fault_confirmed")
    assert first.reopen_reason == "vibration is back" and order.current_visit().number == 2


def test_a_reopened_order_escalates_like_a_new_one(clock, config):
    life = Lifecycle(clock, config_deadlines(config), config.permissions)
    order = emergency(config)
    sla = config.escalation_clock("north", config.policy_for("P1", order.service_type))
    clock.advance(20 * M)  # nobody answered: the response steps fire and are recorded on the order
    for action in due_escalations(order, sla, clock.now(), fired_steps(order)):
        order = life.escalate(order, ANNA, action.key, action.step.of, action.action, action.fraction)
    assert {"response@1:breach", "response@0.75:notify_assignee"} <= fired_steps(order)
    order = life.close(life.resolve(life.start(life.acknowledge(order, ANNA), ANNA), ANNA, "fault_confirmed"), ANNA)
    clock.advance(timedelta(days=1))
    order = life.reopen(order, ANNA, "back again")
    assert fired_steps(order) == set()
    clock.advance(20 * M)
    again = {a.key for a in due_escalations(order, sla, clock.now(), fired_steps(order))}
    assert {"response@0.75:notify_assignee", "response@1:breach"} <= again


def test_kpis_judge_the_second_visit_on_its_own_deadline(clock, config):
    life = Lifecycle(clock, config_deadlines(config), config.permissions)
    order = fixed_then_reopened(life, clock, config)
    clock.advance(30 * M)  # the second visit is answered after 30 minutes: its 15-minute target is missed
    order = life.close(life.resolve(life.start(life.acknowledge(order, ANNA), ANNA), ANNA, "fault_confirmed"), ANNA)
    k = compute_kpis([order], T0, T0 + timedelta(days=3), clock.now())
    assert (k.orders_opened, k.visits, k.reopenings) == (1, 2, 1)
    assert k.response_compliance == 50.0  # first visit on time, the second late
    assert k.first_time_fix_rate == 0.0  # it needed a second visit
    assert k.mtta == (5 * M + 30 * M) / 2
