"""Findings to orders against the real stores: one order per problem, evidence, priority, reopen."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0, finding
from faultline.ticketing.findings import FindingIn, FindingIntake
from faultline.ticketing.lifecycle import Actor, Lifecycle, ServiceDesk, config_deadlines
from faultline.ticketing.models import ServiceType, Status

ANNA = Actor("anna.schmidt", "senior_engineer")


@pytest.fixture
def events():
    return []


@pytest.fixture
def intake(store, clock, config, events):
    return FindingIntake.from_config(config, store, clock, notify=events.append)


@pytest.fixture
def desk(store, clock, config, events):
    return ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions), events.append)


def test_first_finding_opens_an_order_with_priority_policy_engineer_and_deadlines(intake, store, events):
    event = intake.receive(finding(severity="high"))  # high on a class-A asset
    order = store.get(event.order.id)
    assert event.action == "open" and order.status is Status.OPEN
    assert order.priority == "P1" and order.service_type is ServiceType.EMERGENCY_REPAIR
    assert order.response_due == T0 + timedelta(minutes=15) and order.resolution_due == T0 + timedelta(hours=4)
    assert order.assignee == "anna.schmidt"  # the only north engineer with vibration skills... and least loaded
    [evidence] = order.evidence
    assert (evidence.detector, evidence.rule, evidence.config_version) == ("iso20816", "zone-c", "cfg-7")
    assert evidence.readings["max"] == 7.9 and evidence.thresholds == {"alert": 7.1}
    assert [e.id for e in events] == [event.id]
    assert [c.text for c in order.checklist][1] == "Clean or balance the rotor"  # the imbalance checklist
    assert all(c.done is None for c in order.checklist)


def test_refire_adds_evidence_and_raises_priority_but_never_lowers_it(intake, store, clock):
    first = intake.receive(finding(asset="fan-9", severity="medium")).order  # C asset: P4 inspection
    assert first.priority == "P4"
    clock.advance(timedelta(minutes=5))
    second = intake.receive(finding(asset="fan-9", severity="critical")).order
    assert second.id == first.id and second.priority == "P2" and len(second.evidence) == 2
    third = intake.receive(finding(asset="fan-9", severity="low")).order
    assert third.priority == "P2" and len(third.evidence) == 3
    assert len(store.orders()) == 1
    assert [e.action for e in store.audit_entries()] == ["open", "add_evidence", "add_evidence"]


def test_other_fault_mode_on_same_asset_is_another_order(intake, store):
    intake.receive(finding(fault_mode="imbalance"))
    intake.receive(finding(fault_mode="bearing_outer_race"))
    assert len(store.orders()) == 2


def finish(desk, order_id):
    for action, extra in [
        ("acknowledge", {}),
        ("start", {}),
        ("resolve", {"outcome": "fault_confirmed"}),
        ("close", {}),
    ]:
        desk.act(order_id, ANNA, action, **extra)


def test_fault_returning_within_window_reopens_the_closed_order(intake, desk, store, clock, config):
    order = intake.receive(finding()).order
    finish(desk, order.id)
    clock.advance(config.reopen_window - timedelta(hours=1))
    event = intake.receive(finding(started_at=clock.now()))
    assert event.action == "reopen" and event.order.id == order.id
    reopened = store.get(order.id)
    assert reopened.status is Status.OPEN and len(reopened.reopened_at) == 1 and len(reopened.evidence) == 2


def test_fault_returning_after_window_opens_a_new_order(intake, desk, store, clock, config):
    order = intake.receive(finding()).order
    finish(desk, order.id)
    clock.advance(config.reopen_window + timedelta(hours=1))
    event = intake.receive(finding(started_at=clock.now()))
    assert event.action == "open" and event.order.id != order.id
    assert store.get(order.id).status is Status.CLOSED


def test_new_episode_after_resolution_reopens_but_late_evidence_of_old_episode_does_not(intake, desk, store, clock):
    order = intake.receive(finding()).order
    for action, extra in [("acknowledge", {}), ("start", {}), ("resolve", {"outcome": "fault_confirmed"})]:
        desk.act(order.id, ANNA, action, **extra)
    late = intake.receive(finding(started_at=T0))  # the same episode, reported late
    assert late.order.status is Status.RESOLVED
    clock.advance(timedelta(hours=1))
    again = intake.receive(finding(started_at=clock.now()))
    assert again.order.status is Status.OPEN and len(again.order.reopened_at) == 1


def test_bad_findings_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="'severe'"):
        finding(severity="severe")
    with pytest.raises(ValueError, match="no time zone"):
        finding(started_at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="empty asset"):
        finding(asset="")
    with pytest.raises(ValueError, match="score nan"):
        finding(score=float("nan"))
    assert isinstance(finding(), FindingIn)


def test_desk_refuses_unknown_actions(desk, intake):
    order = intake.receive(finding()).order
    with pytest.raises(ValueError, match="'explode'"):
        desk.act(order.id, ANNA, "explode")


def test_a_condition_refiring_for_weeks_keeps_the_order_bounded(intake, store, clock):
    from faultline.ticketing.models import EVIDENCE_KEPT_FIRST, EVIDENCE_LIMIT

    first = intake.receive(finding(score=1.0)).order
    for i in range(2, EVIDENCE_LIMIT + 21):
        clock.advance(timedelta(hours=1))
        intake.receive(finding(score=float(i)))
    order = store.get(first.id)
    assert order.findings_received == EVIDENCE_LIMIT + 20 and len(order.evidence) == EVIDENCE_LIMIT
    scores = [e.score for e in order.evidence]
    assert scores[:EVIDENCE_KEPT_FIRST] == [float(i) for i in range(1, EVIDENCE_KEPT_FIRST + 1)]
    assert scores[-1] == EVIDENCE_LIMIT + 20  # the latest is always there
    assert store.verify_audit() is None  # every dropped finding is still in the entry that added it


def test_a_data_quality_finding_opens_a_sensor_check_not_a_repair(intake, store):
    # a stuck sensor on a class-A asset: its priority from the risk matrix, its job a sensor check
    event = intake.receive(finding(fault_mode="stuck_sensor", severity="medium", kind="data_quality"))
    order = store.get(event.order.id)
    assert order.service_type is ServiceType.SENSOR_CHECK and order.priority == "P2"
    assert order.resolution_due is not None
    assert order.checklist[0].text == "Compare the sensor with a handheld reading"
    repair = store.get(intake.receive(finding(fault_mode="imbalance", severity="medium")).order.id)
    assert repair.service_type is ServiceType.CORRECTIVE
