"""The role x action x priority matrix governs every step, in one place; assignment only to engineers
who may do the work; a priority change re-evaluates the class of job and so who may resolve and close."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0
from faultline.ticketing.lifecycle import SYSTEM, Actor, Lifecycle, UnknownAssignee, with_deadlines
from faultline.ticketing.models import ServiceType, WorkOrder
from faultline.ticketing.roles import Action, PermissionDenied, PermissionMatrix

LEA = Actor("lea.fischer", "junior_engineer")
JONAS = Actor("jonas.weber", "mid_engineer")
ANNA = Actor("anna.schmidt", "senior_engineer")
MARTA = Actor("marta.nowak", "manager")


def order(config, priority="P2", service_type="corrective", **fields) -> WorkOrder:
    new = WorkOrder(
        id=9,
        site="north",
        asset="pump-1",
        fault_mode="imbalance",
        service_type=service_type,
        priority=priority,
        opened_at=T0,
        **fields,
    )
    return with_deadlines(new, Lifecycle.from_config(config, None).deadlines, T0)


@pytest.fixture
def life(config, clock):
    return Lifecycle.from_config(config, clock)


def in_progress(life, o):
    return life.start(life.acknowledge(o, ANNA), ANNA)


# each step with the arguments it takes, and the status it can be taken from
STEPS = {
    "acknowledge": ({}, lambda life, o: o),
    "start": ({}, lambda life, o: life.acknowledge(o, ANNA)),
    "hold": ({"reason": "awaiting_parts"}, in_progress),
    "resume": ({}, lambda life, o: life.hold(in_progress(life, o), ANNA, "awaiting_parts")),
    "comment": ({"text": "checked"}, lambda life, o: o),
    "assign": ({"engineer": "anna.schmidt"}, lambda life, o: o),
    "resolve": ({"outcome": "fault_confirmed"}, in_progress),
    "close": ({}, lambda life, o: life.resolve(in_progress(life, o), ANNA, "fault_confirmed")),
    "reopen": ({"reason": "back"}, lambda life, o: life.resolve(in_progress(life, o), ANNA, "fault_confirmed")),
    "set_priority": ({"priority": "P3"}, lambda life, o: o),
    "set_type": ({"service_type": "inspection"}, lambda life, o: o),
    "feedback": (
        {"fixed": True, "rating": 4},
        lambda life, o: life.close(life.resolve(in_progress(life, o), ANNA, "fault_confirmed"), ANNA),
    ),
}


def test_the_matrix_names_every_step_a_person_takes():
    from faultline.ticketing.lifecycle import _STEPS

    assert set(STEPS) == {a.value for a in Action} == set(_STEPS) - {"escalate", *COMMENT_LIKE}


#: steps that go with the work on an order: governed by the matrix's ``comment`` action
COMMENT_LIKE = ("attach", "add_part", "use_part")


def test_parts_and_attachments_follow_the_comment_permission(config, clock):
    from faultline.ticketing.lifecycle import _GUARDED

    assert {step: _GUARDED[step] for step in COMMENT_LIKE} == dict.fromkeys(COMMENT_LIKE, Action.COMMENT)
    matrix = PermissionMatrix(comment={"default": ["manager"]})  # jonas (mid) may not comment
    life = Lifecycle.from_config(config.model_copy(update={"permissions": matrix}), clock)
    with pytest.raises(PermissionDenied):
        life.add_part(order(config), JONAS, number="SKF-6205", quantity=1)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_every_step_is_refused_to_a_role_the_matrix_leaves_out(step, config, clock):
    # a matrix where only a manager may take `step` on a P2: everyone else is refused, by name
    matrix = PermissionMatrix(**{step: {"default": ["admin"], "P2": ["manager"]}})
    life = Lifecycle.from_config(config.model_copy(update={"permissions": matrix}), clock)
    arguments, before = STEPS[step]
    ready = before(Lifecycle.from_config(config, clock), order(config))
    with pytest.raises(PermissionDenied, match=f"senior_engineer may not {step} P2"):
        getattr(life, step)(ready, ANNA, **arguments)
    getattr(life, step)(ready, MARTA, **arguments)


def test_a_junior_cannot_put_a_p1_on_hold_and_stop_its_clock(life, config):
    p1 = in_progress(life, order(config, "P1", "emergency_repair"))
    with pytest.raises(PermissionDenied, match="rule hold.P1"):
        life.hold(p1, LEA, "awaiting_parts")
    assert life.hold(p1, JONAS, "awaiting_parts").hold_reason.value == "awaiting_parts"
    assert life.hold(in_progress(life, order(config)), LEA, "awaiting_parts").status.value == "on_hold"  # a P2 may


def test_only_a_senior_or_a_manager_closes_emergency_work(life, config):
    done = life.resolve(in_progress(life, order(config, "P1", "emergency_repair")), ANNA, "fault_confirmed")
    for who in (LEA, JONAS):
        with pytest.raises(PermissionDenied, match="close.emergency_repair"):
            life.close(done, who)
    assert life.close(done, ANNA).status.value == "closed" and life.close(done, MARTA).status.value == "closed"


def test_assignment_only_to_known_engineers_whose_role_may_do_the_work(life, config):
    p1 = order(config, "P1", "emergency_repair")
    with pytest.raises(UnknownAssignee, match="'nobody' is not a configured engineer"):
        life.assign(p1, ANNA, "nobody")
    with pytest.raises(UnknownAssignee, match="junior_engineer may not resolve P1"):
        life.assign(p1, ANNA, "lea.fischer")
    with pytest.raises(UnknownAssignee):  # the service itself is held to it too
        life.assign(p1, SYSTEM, "lea.fischer")
    assert life.assign(p1, ANNA, "jonas.weber").assignee == "jonas.weber"
    assert life.assign(order(config), ANNA, "lea.fischer").assignee == "lea.fischer"  # a P2 corrective she may


def test_a_priority_change_re_evaluates_the_type_and_who_may_resolve_and_close(life, config, clock):
    p2 = in_progress(life, order(config))
    clock.advance(timedelta(minutes=5))
    p1 = life.set_priority(p2, ANNA, "P1")
    assert p1.service_type is ServiceType.EMERGENCY_REPAIR
    assert p1.resolution_due == T0 + timedelta(hours=4)  # P1 emergency repair: 4 h from the opening, 24x7
    with pytest.raises(PermissionDenied, match="resolve.emergency_repair"):
        life.resolve(p1, LEA, "no_fault_found")  # the hole: a junior closing out a raised P1 as NFF
    p3 = life.set_priority(order(config), ANNA, "P3")
    assert p3.service_type is ServiceType.PREVENTIVE
    done = life.resolve(in_progress(life, p3), ANNA, "fault_confirmed")
    assert life.close(done, JONAS).status.value == "closed"  # preventive: a mid engineer may close


def test_the_shipped_matrix_is_the_default_matrix(config):
    assert config.permissions == PermissionMatrix()
