"""Preventive schedules on a moving clock: calendar (fixed, floating), running hours from simulated
telemetry, and no second order beside condition-based work on the same asset."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from tests.ticketing.conftest import T0, finding
from faultline.ticketing import Actor, Lifecycle, ServiceDesk, config_deadlines
from faultline.ticketing.findings import FindingIntake
from faultline.ticketing.models import Status
from faultline.ticketing.preventive import MeterRule, PreventiveScheduler, PreventiveSettings, hours_above

ANNA = Actor("anna.schmidt", "senior_engineer")
DAY = timedelta(days=1)


class Fleet:
    classes = {"pump": ["pump-1", "pump-2"], "fan": ["fan-9"]}

    def assets_of_class(self, asset_class):
        return self.classes.get(asset_class, [])

    def site_of(self, asset):
        return "north"


class Telemetry:
    """Simulated vibration, one reading a minute: running (2.5 mm/s ± noise) or idle (0.1) by the hour."""

    def __init__(self, start, running_hours_per_day: int, days: int, seed: int = 5):
        rng = np.random.default_rng(seed)
        minutes = days * 24 * 60
        self.ts = (int(start.timestamp()) + 60 * np.arange(minutes)) * 1_000_000_000
        hour_of_day = (np.arange(minutes) // 60) % 24
        running = hour_of_day < running_hours_per_day
        self.values = np.where(running, 2.5, 0.1) + rng.normal(0, 0.05, minutes)
        self.asked = []

    def __call__(self, site, asset, rule: MeterRule, since, until):
        self.asked.append((asset, since, until))
        lo = -np.inf if since is None else since.timestamp() * 1e9
        keep = (self.ts >= lo) & (self.ts < until.timestamp() * 1e9)
        return hours_above(self.ts[keep], self.values[keep], rule.running_above, rule.max_gap)


@pytest.fixture
def world(tmp_path, clock, config):
    from faultline.ticketing.store import WorkOrderStore

    store = WorkOrderStore(f"sqlite:///{tmp_path}/orders.db")
    desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions))
    yield store, desk
    store.close()


def scheduler(store, clock, config, schedules, running_hours=None):
    return PreventiveScheduler(
        PreventiveSettings(schedules=schedules),
        store,
        clock,
        Fleet(),
        running_hours=running_hours,
        deadlines=config_deadlines(config),
    )


def finish(desk, order_id, close=True):
    for step, args in (("acknowledge", {}), ("start", {}), ("resolve", {"outcome": "fault_confirmed"})):
        desk.act(order_id, ANNA, step, **args)
    if close:
        desk.act(order_id, ANNA, "close")


def test_floating_calendar_counts_from_the_last_completion(world, clock, config):
    store, desk = world
    s = scheduler(
        store,
        clock,
        config,
        [
            {
                "name": "grease",
                "task": "regrease bearings",
                "asset_class": "pump",
                "checklist": ["clean nipples", "2 g per bearing"],
                "calendar": {"every": "2w", "mode": "floating"},
            }
        ],
    )
    opened = s.tick()
    assert sorted(e.order.asset for e in opened) == ["pump-1", "pump-2"]  # never done: due at once
    order = opened[0].order
    assert order.fault_mode == "preventive:grease" and order.service_type == "preventive" and order.priority == "P3"
    assert order.resolution_due == T0 + timedelta(days=7)  # the preventive policy: 7 d on a 24x7 calendar
    assert [c.text for c in order.checklist] == ["clean nipples", "2 g per bearing"]
    assert "regrease bearings: due — every 2 w (floating): never done" in order.comments[0].text
    assert s.tick() == []  # already open
    clock.advance(3 * DAY)  # done three days late
    finish(desk, order.id)
    clock.advance(13 * DAY)
    assert s.tick() == []  # pump-1: 13 days since done; pump-2: its first order is still open
    clock.advance(DAY)  # 14 days after pump-1's completion
    [again] = s.tick()
    assert again.order.asset == "pump-1" and "after the last completion" in again.order.comments[0].text


def test_fixed_calendar_keeps_to_its_dates_however_late_the_job(world, clock, config):
    store, desk = world
    start = T0 + DAY
    s = scheduler(
        store,
        clock,
        config,
        [
            {
                "name": "inspect",
                "assets": ["fan-9"],
                "priority": "P4",
                "service_type": "inspection",
                "calendar": {"every": "7d", "mode": "fixed", "start": start.isoformat()},
            }
        ],
    )
    assert s.tick() == []  # before the first date
    clock.advance(DAY)
    [first] = s.tick()
    assert first.order.service_type == "inspection" and first.order.resolution_due == clock.now() + 14 * DAY
    clock.advance(5 * DAY)
    finish(desk, first.order.id)
    clock.advance(DAY)
    assert s.tick() == []
    clock.advance(DAY)  # start + 7 d: due again, although done only two days ago
    [second] = s.tick()
    assert "due " + (start + 7 * DAY).strftime("%Y-%m-%d") in second.order.comments[0].text
    clock.advance(2 * DAY)
    assert s.tick() == []  # that occurrence has its order


def test_meter_schedule_counts_running_hours_from_telemetry(world, clock, config):
    store, desk = world
    telemetry = Telemetry(T0, running_hours_per_day=8, days=30)
    s = scheduler(
        store,
        clock,
        config,
        [
            {
                "name": "seal-check",
                "assets": ["pump-1"],
                "meter": {"sensor": "vibration_rms", "running_above": 1.0, "every_hours": 100, "since": T0.isoformat()},
            }
        ],
        running_hours=telemetry,
    )
    clock.advance(12 * DAY)  # 12 days × 8 h = 96 running hours
    assert s.tick() == []
    clock.advance(DAY)  # 104 h
    [order] = s.tick()
    assert "104.0 running hours (vibration_rms above 1)" in order.order.comments[0].text
    finish(desk, order.order.id)
    done_at = clock.now()
    clock.advance(10 * DAY)  # 80 h since the completion
    assert s.tick() == []
    assert telemetry.asked[-1][1] == done_at  # counted from the completion, not from the start
    clock.advance(3 * DAY)  # 104 h
    assert len(s.tick()) == 1


def test_a_due_job_joins_open_condition_based_work_instead_of_a_second_order(world, clock, config):
    store, desk = world
    condition = FindingIntake.from_config(config, store, clock).receive(finding(asset="pump-1")).order
    s = scheduler(store, clock, config, [{"name": "grease", "assets": ["pump-1"], "calendar": {"every": "14d"}}])
    [noted] = s.tick()
    assert noted.action == "comment" and noted.order.id == condition.id
    assert noted.order.comments[-1].text.startswith("preventive grease is due (grease; every 2 w")
    assert s.tick() == []  # noted once
    assert [o.fault_mode for o in store.orders()] == ["imbalance"]
    clock.advance(2 * DAY)
    finish(desk, condition.id)  # the condition-based job did the greasing too
    clock.advance(13 * DAY)
    assert s.tick() == []  # 13 days after that completion
    clock.advance(DAY)
    [opened] = s.tick()
    assert opened.order.fault_mode == "preventive:grease" and opened.order.status is Status.OPEN


@pytest.mark.parametrize(
    "schedule, message",
    [
        ({"name": "x", "assets": ["a"]}, "give exactly one of calendar or meter"),
        ({"name": "x", "calendar": {"every": "1d"}}, "name its assets or an asset_class"),
        ({"name": "x", "assets": ["a"], "calendar": {"every": "1d", "mode": "fixed"}}, "a fixed calendar needs start"),
        ({"name": "x", "assets": ["a"], "priority": "P9", "calendar": {"every": "1d"}}, "unknown priority 'P9'"),
        ({"name": "x", "assets": ["a"], "calendar": {"every": "0d"}}, "every must be longer than 0"),
    ],
)
def test_bad_schedules_are_named(schedule, message):
    with pytest.raises(ValueError, match=message):
        PreventiveSettings(schedules=[schedule])


def test_meter_schedules_need_running_hours(world, clock, config):
    store, _ = world
    with pytest.raises(ValueError, match="meter schedules need running hours"):
        scheduler(
            store,
            clock,
            config,
            [{"name": "m", "assets": ["pump-1"], "meter": {"sensor": "v", "running_above": 1, "every_hours": 5}}],
        )


def test_orders_of_one_asset(store, clock, config):
    intake = FindingIntake.from_config(config, store, clock)
    first = intake.receive(finding(asset="pump-1")).order
    intake.receive(finding(asset="fan-9"))
    second = intake.receive(finding(asset="pump-1", fault_mode="misalignment")).order
    assert [o.id for o in store.orders_of_asset("north", "pump-1")] == [first.id, second.id]
    assert store.orders_of_asset("south", "pump-1") == []
