"""The lifecycle rules in memory: allowed steps, refused steps with reasons, roles, holds and SLA."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0
from faultline.ticketing.lifecycle import Actor, InvalidTransition, Lifecycle, config_deadlines, with_deadlines
from faultline.ticketing.models import ChecklistItem, HoldReason, Status, WorkOrder
from faultline.ticketing.roles import PermissionDenied

ANNA = Actor("anna.schmidt", "senior_engineer")
LEA = Actor("lea.fischer", "junior_engineer")
JONAS = Actor("jonas.weber", "mid_engineer")


@pytest.fixture
def life(clock, config):
    return Lifecycle(clock, config_deadlines(config), config.permissions)


def corrective(life, config) -> WorkOrder:
    order = WorkOrder(
        id=7,
        site="north",
        asset="pump-1",
        fault_mode="imbalance",
        service_type="corrective",
        priority="P2",
        opened_at=T0,
    )
    return with_deadlines(order, config_deadlines(config), T0)


def test_full_path_records_each_step_time(life, clock, config):
    order = corrective(life, config)
    clock.advance(timedelta(minutes=20))
    order = life.acknowledge(order, LEA)
    clock.advance(timedelta(minutes=10))
    order = life.start(order, LEA)
    clock.advance(timedelta(hours=3))
    order = life.resolve(
        order, LEA, "fault_confirmed", "rebalanced the impeller", [ChecklistItem(text="lock out", done=True)]
    )
    clock.advance(timedelta(hours=1))
    order = life.close(order, ANNA)
    assert order.status is Status.CLOSED
    assert order.acknowledged_at == T0 + timedelta(minutes=20) and order.assignee == "lea.fischer"
    assert order.started_at == T0 + timedelta(minutes=30)
    assert order.resolved_at == T0 + timedelta(hours=3, minutes=30) and order.outcome == "fault_confirmed"
    assert order.closed_at == T0 + timedelta(hours=4, minutes=30)
    assert order.checklist[0].done is True


@pytest.mark.parametrize(
    "step, status, why",
    [
        ("start", Status.OPEN, "acknowledge the order before starting work"),
        ("close", Status.IN_PROGRESS, "resolve the order with an outcome"),
        ("resume", Status.IN_PROGRESS, "only an order on hold"),
        ("acknowledge", Status.CLOSED, "only an open order"),
        ("reopen", Status.OPEN, "only a resolved or closed order"),
    ],
)
def test_invalid_transition_names_from_to_and_why(life, config, step, status, why):
    order = corrective(life, config).model_copy(update={"status": status})
    with pytest.raises(InvalidTransition, match=why) as caught:
        getattr(life, step)(order, ANNA)
    assert caught.value.from_status is status and caught.value.number == "WO-000007"
    assert f"from {status.value}" in str(caught.value)


def test_only_senior_roles_may_close_corrective_orders(life, clock, config):
    order = life.resolve(life.start(life.acknowledge(corrective(life, config), LEA), LEA), LEA, "false_alarm")
    with pytest.raises(PermissionDenied, match="mid_engineer may not close P2 corrective"):
        life.close(order, JONAS)
    assert life.close(order, ANNA).status is Status.CLOSED


def test_hold_pauses_the_resolution_clock(life, clock, config):
    order = life.start(life.acknowledge(corrective(life, config), LEA), LEA)
    due_before = order.resolution_due
    clock.advance(timedelta(hours=1))  # Monday 11:00 Berlin
    order = life.hold(order, LEA, HoldReason.AWAITING_PARTS)
    assert order.hold_reason is HoldReason.AWAITING_PARTS
    clock.advance(timedelta(hours=3))  # three business hours waiting for the bearing
    order = life.resume(order, LEA)
    assert order.holds[0].end - order.holds[0].start == timedelta(hours=3)
    assert order.resolution_due - due_before == timedelta(hours=3)  # same business day, so 3 h later


def test_resolve_while_on_hold_is_refused(life, clock, config):
    order = life.hold(life.start(life.acknowledge(corrective(life, config), LEA), LEA), LEA, "awaiting_customer")
    with pytest.raises(InvalidTransition, match="resume it first"):
        life.resolve(order, LEA, "fault_confirmed")


def test_raising_priority_recomputes_deadlines(life, clock, config):
    order = corrective(life, config)
    assert order.response_due == T0 + timedelta(hours=2)  # business hours, Monday morning
    order = life.set_priority(order, ANNA, "P1")
    # P1 is emergency repair: 15 min response, 4 h resolution, 24x7, from the opening
    assert order.response_due == T0 + timedelta(minutes=15)
    assert order.resolution_due == T0 + timedelta(hours=4)


def test_unknown_priority_is_refused_by_name(life, config):
    with pytest.raises(ValueError, match="'P9'"):
        life.set_priority(corrective(life, config), ANNA, "P9")


def test_reopen_clears_the_close_out_and_restarts_the_sla_clock(life, clock, config):
    order = life.close(
        life.resolve(life.start(life.acknowledge(corrective(life, config), LEA), LEA), LEA, "fault_confirmed"), ANNA
    )
    clock.advance(timedelta(days=2))  # Wednesday 10:00 Berlin
    order = life.reopen(order, JONAS, "vibration is back")
    assert order.status is Status.OPEN and order.outcome is None and order.closed_at is None
    assert order.reopened_at == [T0 + timedelta(days=2)]
    assert order.response_due == T0 + timedelta(days=2, hours=2)
    assert "vibration is back" in order.comments[-1].text


def test_lifecycle_never_changes_the_order_it_was_given(life, config):
    order = corrective(life, config)
    life.acknowledge(order, LEA)
    assert order.status is Status.OPEN and order.acknowledged_at is None


def test_engineers_act_from_the_command_line(tmp_path, config):
    from typer.testing import CliRunner

    from faultline.service.cli import app
    from tests.ticketing.conftest import finding
    from faultline.vocabulary import SystemClock
    from faultline.ticketing.findings import FindingIntake
    from faultline.ticketing.store import WorkOrderStore

    url = f"sqlite:///{tmp_path}/orders.db"
    with WorkOrderStore(url) as store:
        number = (
            FindingIntake.from_config(config, store, SystemClock())
            .receive(finding(asset="pump-3", severity="medium"))
            .order.number
        )  # B asset: P3 preventive
    run = lambda *args: CliRunner().invoke(app, ["tickets", *args, "--store", url])  # noqa: E731
    assert run("act", number, "acknowledge", "--as", "lea.fischer").exit_code == 0
    refused = run("act", number, "resolve", "--as", "lea.fischer", "--outcome", "false_alarm")
    assert refused.exit_code == 1 and "only work in progress can be resolved" in refused.output
    assert run("act", number, "start", "--as", "lea.fischer").exit_code == 0
    held = run("act", number, "hold", "--as", "lea.fischer", "--reason", "awaiting_parts")
    assert held.exit_code == 0 and "on_hold" in held.output
    assert "awaiting_parts" in run("show", number).output
    assert number in run("list", "--status", "on_hold").output
    stranger = run("act", number, "resume", "--as", "mallory")
    assert stranger.exit_code == 2 and "unknown engineer 'mallory'" in stranger.output
    bad = run("act", number, "hold", "--as", "lea.fischer", "--reason", "lunch")
    assert bad.exit_code == 1 and "cannot hold from on_hold" in bad.output
    assert run("act", number, "resume", "--as", "lea.fischer").exit_code == 0
    wrong_step = run("act", number, "resolve", "--as", "lea.fischer", "--outcome", "fault_confirmed", "--checked", "7")
    assert wrong_step.exit_code == 1 and "not 7" in wrong_step.output
    done = run("act", number, "resolve", "--as", "lea.fischer", "--outcome", "fault_confirmed", "--checked", "1,3")
    assert done.exit_code == 0, done.output
    import json

    shown = json.loads(run("show", number).output)
    assert [c["done"] for c in shown["checklist"]] == [True, False, True] and shown["outcome"] == "fault_confirmed"
    assert run("act", number, "close", "--as", "jonas.weber").exit_code == 0
    rated = run("act", number, "feedback", "--as", "marta.nowak", "--not-fixed", "--rating", "2", "--text", "still hot")
    assert rated.exit_code == 0 and "open" in rated.output, rated.output
    feedback = json.loads(run("show", number).output)["feedback"]
    assert [(f["fixed"], f["rating"], f["comment"]) for f in feedback] == [(False, 2, "still hot")]
    retyped = run("act", number, "set_type", "--as", "anna.schmidt", "--type", "inspection")
    assert retyped.exit_code == 0 and json.loads(run("show", number).output)["service_type"] == "inspection"
