"""Spare parts on an order: needed and used, the awaiting-parts hold that names them, the time lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0
from tests.ticketing.test_lifecycle import ANNA, corrective
from faultline.ticketing.kpis import compute_kpis
from faultline.ticketing.lifecycle import InvalidTransition, Lifecycle, config_deadlines
from faultline.ticketing.models import Status


@pytest.fixture
def life(clock, config):
    return Lifecycle(clock, config_deadlines(config), config.permissions)


def in_progress(life, config):
    order = corrective(life, config)
    return life.start(life.acknowledge(order, ANNA), ANNA)


def test_parts_needed_then_used(life, config):
    order = in_progress(life, config)
    order = life.add_part(order, ANNA, "SKF-6205-2RS", 2, "deep groove ball bearing")
    order = life.add_part(order, ANNA, "SKF-6205-2RS", 1)
    order = life.add_part(order, ANNA, "LGMT2-1", 1, "grease, 1 kg", used=True)
    assert [(p.number, p.quantity, p.state) for p in order.parts] == [
        ("SKF-6205-2RS", 3, "needed"),
        ("LGMT2-1", 1, "used"),
    ]
    order = life.use_part(order, ANNA, "SKF-6205-2RS", 2)
    assert [(p.number, p.quantity, p.state) for p in order.parts] == [
        ("SKF-6205-2RS", 1, "needed"),
        ("LGMT2-1", 1, "used"),
        ("SKF-6205-2RS", 2, "used"),
    ]
    order = life.use_part(order, ANNA, "SKF-6205-2RS")  # the rest
    assert [(p.number, p.quantity, p.state) for p in order.parts] == [
        ("LGMT2-1", 1, "used"),
        ("SKF-6205-2RS", 3, "used"),
    ]
    assert order.parts[1].description == "deep groove ball bearing"
    with pytest.raises(ValueError, match="needs a part number"):
        life.add_part(order, ANNA, "  ")


def test_awaiting_parts_hold_names_the_parts(life, clock, config):
    order = life.add_part(in_progress(life, config), ANNA, "SKF-6205-2RS", 2)
    held = life.hold(order, ANNA, "awaiting_parts")
    assert held.holds[-1].parts == ["SKF-6205-2RS"]  # the parts still needed
    resumed = life.resume(held, ANNA)
    named = life.hold(resumed, ANNA, "awaiting_parts", parts=["V-BELT-SPA-1250"])
    assert named.holds[-1].parts == ["V-BELT-SPA-1250"]
    assert {p.number for p in named.parts if p.state == "needed"} == {"SKF-6205-2RS", "V-BELT-SPA-1250"}
    with pytest.raises(ValueError, match="only an awaiting_parts hold names parts"):
        life.hold(resumed, ANNA, "awaiting_customer", parts=["X"])


def test_closed_orders_parts_are_final(life, config):
    order = in_progress(life, config)
    order = life.close(life.resolve(order, ANNA, "fault_confirmed"), ANNA)
    assert order.status is Status.CLOSED
    with pytest.raises(InvalidTransition, match="a closed order's parts are final"):
        life.add_part(order, ANNA, "X-1")


def test_kpis_count_the_time_lost_waiting_for_parts(life, clock, config):
    order = life.add_part(in_progress(life, config), ANNA, "SKF-6205-2RS", 2)
    clock.advance(timedelta(hours=1))
    order = life.hold(order, ANNA, "awaiting_parts")
    clock.advance(timedelta(hours=5))
    order = life.resume(order, ANNA)
    order = life.hold(order, ANNA, "awaiting_customer")  # not parts: not counted
    clock.advance(timedelta(hours=2))
    order = life.resume(order, ANNA)
    order = life.hold(order, ANNA, "awaiting_parts", parts=["SKF-6205-2RS", "V-BELT-SPA-1250"])
    clock.advance(timedelta(hours=3))  # still waiting now
    wait = compute_kpis([order], T0, T0 + timedelta(days=1), clock.now()).parts_wait
    assert wait.total == timedelta(hours=8) and wait.holds == 2 and wait.orders == 1
    assert wait.by_part == {"SKF-6205-2RS": timedelta(hours=8), "V-BELT-SPA-1250": timedelta(hours=3)}
    # a period that ends during the first hold counts only its part inside the period
    early = compute_kpis([order], T0, T0 + timedelta(hours=3), clock.now()).parts_wait
    assert early.total == timedelta(hours=2)
    assert compute_kpis([order], T0, T0 + timedelta(days=1), clock.now()).as_json()["parts_wait"] == {
        "hours": 8.0,
        "holds": 2,
        "orders": 1,
        "hours_by_part": {"SKF-6205-2RS": 8.0, "V-BELT-SPA-1250": 3.0},
    }
