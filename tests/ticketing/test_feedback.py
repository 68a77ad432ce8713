"""Requester feedback after the close: fixed or not, 1-5, a comment; "not fixed" reopens the order as
a new visit; the KPIs show it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0
from faultline.ticketing.kpis import compute_kpis
from faultline.ticketing.lifecycle import Actor, InvalidTransition, Lifecycle, with_deadlines
from faultline.ticketing.models import Status, WorkOrder
from faultline.ticketing.roles import PermissionDenied

JONAS = Actor("jonas.weber", "mid_engineer")
ANNA = Actor("anna.schmidt", "senior_engineer")
MARTA = Actor("marta.nowak", "manager")
H = timedelta(hours=1)


@pytest.fixture
def life(config, clock):
    return Lifecycle.from_config(config, clock)


def closed(life, clock, id=1) -> WorkOrder:
    o = WorkOrder(
        id=id,
        site="north",
        asset="pump-1",
        fault_mode="imbalance",
        service_type="preventive",
        priority="P3",
        opened_at=clock.now(),
    )
    o = with_deadlines(o, life.deadlines, clock.now())
    o = life.start(life.acknowledge(o, JONAS), JONAS)
    clock.advance(H)
    return life.close(life.resolve(o, JONAS, "fault_confirmed"), JONAS)


def test_fixed_feedback_is_recorded_once_per_visit(life, clock):
    o = life.feedback(closed(life, clock), MARTA, fixed=True, rating=5, comment="runs quietly")
    assert o.status is Status.CLOSED and [(f.visit, f.by, f.rating) for f in o.feedback] == [(1, "marta.nowak", 5)]
    with pytest.raises(InvalidTransition, match="visit 1 has its feedback already"):
        life.feedback(o, ANNA, fixed=False, rating=1)


def test_not_fixed_reopens_the_order_as_a_new_visit(life, clock):
    o = life.feedback(closed(life, clock), MARTA, fixed=False, rating=2, comment="still vibrating")
    assert o.status is Status.OPEN and o.acknowledged_at is None and len(o.visits) == 1
    assert "requester: not fixed (still vibrating)" in o.visits[0].reopen_reason


def test_the_engineer_who_did_the_work_does_not_rate_it_and_a_junior_may_not(life, clock, config):
    o = closed(life, clock)
    with pytest.raises(PermissionDenied, match="rule feedback.default"):
        life.feedback(o, JONAS, fixed=True, rating=5)
    with pytest.raises(PermissionDenied, match="did the work"):
        life.feedback(o.model_copy(update={"assignee": "anna.schmidt"}), ANNA, fixed=True, rating=5)
    with pytest.raises(InvalidTransition, match="follows the close"):
        life.feedback(o.model_copy(update={"status": Status.RESOLVED}), MARTA, fixed=True, rating=5)
    with pytest.raises(ValueError, match="less than or equal to 5"):
        life.feedback(o, MARTA, fixed=True, rating=6)


def test_feedback_shows_in_the_kpis(life, clock):
    a = life.feedback(closed(life, clock, 1), MARTA, fixed=True, rating=5)
    b = life.feedback(closed(life, clock, 2), MARTA, fixed=False, rating=2)
    k = compute_kpis([a, b], T0, T0 + 24 * H, T0 + 24 * H)
    assert k.feedback == {"given": 2, "fixed": 1, "not_fixed": 1, "fixed_pct": 50.0, "mean_rating": 3.5}
    assert k.reopenings == 1 and k.as_json()["feedback"]["fixed_pct"] == 50.0
