"""Preventive schedules in the built service: running hours from the embedded store's telemetry, and
the scheduler loop that `faultline run` starts (through `service.compose.build_service`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.service.conftest import SITE, batch, service_settings

T0 = datetime(2026, 11, 2, tzinfo=UTC)
SCHEDULES = {
    "check_every_s": 0.2,
    "schedules": [
        {
            "name": "seal-check",
            "task": "check the mechanical seal",
            "assets": ["P-1"],
            "meter": {"sensor": "vibration_rms", "running_above": 1.0, "every_hours": 20, "since": T0.isoformat()},
        },
        {
            "name": "walkround",
            "assets": ["P-2"],
            "site": SITE,
            "priority": "P4",
            "service_type": "inspection",
            "calendar": {"every": "7d", "mode": "fixed", "start": (T0 + timedelta(days=2)).isoformat()},
        },
    ],
}


def running_pump(days: int, hours_a_day: int, seed: int = 3) -> np.ndarray:
    """A reading a minute: about 2.4 mm/s while the pump runs (the first hours of each day), 0.1 idle."""
    minutes = np.arange(days * 24 * 60)
    rng = np.random.default_rng(seed)
    return np.where((minutes // 60) % 24 < hours_a_day, 2.4, 0.1) + rng.normal(0, 0.05, minutes.size)


@pytest.fixture
def built(tmp_path):
    from faultline.ingest.writers import SqliteStore
    from faultline.service.compose import build_service
    from faultline.vocabulary import ManualClock

    settings = service_settings(tmp_path, preventive=SCHEDULES)
    store = SqliteStore(settings.store.path)
    store.write(batch("P-1", "vibration_rms", int(T0.timestamp()), running_pump(days=4, hours_a_day=6)))
    store.close()
    clock = ManualClock(T0)
    service = build_service(settings, clock=clock)
    yield service, clock
    service.runtime.close()


def test_meter_and_calendar_schedules_open_orders_as_the_clock_moves(built):
    service, clock = built
    orders = service.runtime.orders
    clock.set(T0 + timedelta(days=3))  # 18 running hours so far; the walk-round's first date has passed
    [walkround] = service.preventive.tick()
    assert (walkround.order.asset, walkround.order.site, walkround.order.service_type) == ("P-2", SITE, "inspection")
    clock.set(T0 + timedelta(days=3, hours=3))  # 21 running hours
    [seal] = service.preventive.tick()
    assert seal.order.fault_mode == "preventive:seal-check" and (seal.order.asset, seal.order.site) == ("P-1", SITE)
    assert "21.0 running hours (vibration_rms above 1)" in seal.order.comments[0].text
    assert {o.fault_mode for o in orders.orders()} == {"preventive:seal-check", "preventive:walkround"}


def test_the_scheduler_runs_inside_the_service(built):
    service, clock = built
    clock.set(T0 + timedelta(days=3, hours=3))
    service.runtime.start(ingest=False)
    try:
        deadline = time.monotonic() + 20
        while len(service.runtime.orders.orders()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(o.asset for o in service.runtime.orders.orders()) == ["P-1", "P-2"]
        assert "preventive" in {t.name for t in service.runtime._threads}
    finally:
        service.runtime.stop()


def test_a_bad_schedule_stops_the_start_with_its_name(tmp_path):
    from faultline.service.compose import build_service
    from faultline.service.settings import ConfigError

    with pytest.raises(ConfigError, match=r"preventive.schedules.0.*give exactly one of calendar or meter"):
        build_service(service_settings(tmp_path, preventive={"schedules": [{"name": "x", "assets": ["P-1"]}]}))
