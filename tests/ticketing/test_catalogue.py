"""The service catalogue: targets per service type, priority and site; an on-time target per service
that the KPIs report against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tests.ticketing.conftest import T0
from faultline.ticketing.config import TicketingConfig
from faultline.ticketing.kpis import compute_kpis, on_time_targets_of
from faultline.ticketing.lifecycle import Actor, Lifecycle, config_deadlines, with_deadlines
from faultline.ticketing.models import WorkOrder

ANNA = Actor("anna.schmidt", "senior_engineer")
H = timedelta(hours=1)


def order(site="north", priority="P2", service_type="corrective", id=1) -> WorkOrder:
    return WorkOrder(
        id=id,
        site=site,
        asset="pump-1",
        fault_mode="imbalance",
        service_type=service_type,
        priority=priority,
        opened_at=T0,
    )


def test_targets_per_site_and_priority(config):
    # T0 is Monday 2 March 09:00 UTC: 10:00 in Berlin; in Chicago Casimir Pulaski Day (an Illinois
    # holiday), so south's clock starts on Tuesday at 06:00 CST (12:00 UTC)
    north = with_deadlines(order(), config_deadlines(config), T0)
    south = with_deadlines(order(site="south"), config_deadlines(config), T0)
    assert north.response_due == T0 + 2 * H  # corrective: 2 business hours
    assert south.response_due == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # south: 3 h instead of 2
    p3 = config.policy_for("P3", "sensor_check", "north")
    assert (p3.resolution, config.policy_for("P2", "sensor_check", "north").resolution) == (
        timedelta(days=5),
        timedelta(days=3),
    )


def test_a_target_for_an_unknown_site_or_an_unserved_priority_is_refused(config):
    data = config.model_dump(mode="json")
    data["policies"]["corrective"]["targets"] = [{"site": "west", "response": "1h"}]
    with pytest.raises(ValidationError, match="unknown site 'west'"):
        TicketingConfig.model_validate(data)
    data["policies"]["corrective"]["targets"] = [{"priority": "P1", "response": "1h"}]
    with pytest.raises(ValidationError, match="P1, which it does not serve"):
        TicketingConfig.model_validate(data)
    data["policies"]["corrective"]["targets"] = []
    data["policies"]["corrective"]["on_time_target"] = 120
    with pytest.raises(ValidationError, match="on_time_target"):
        TicketingConfig.model_validate(data)


def test_kpis_report_each_service_against_its_on_time_target(config, clock):
    life = Lifecycle.from_config(config, clock)
    orders = []
    for n in range(20):  # 19 corrective jobs answered in time and one late: 95 %, the target exactly
        o = with_deadlines(order(id=n + 1), config_deadlines(config), T0)
        clock.set(T0 + (3 * H if n == 19 else H))
        o = life.start(life.acknowledge(o, ANNA), ANNA)
        orders.append(life.resolve(o, ANNA, "fault_confirmed"))
    targets = on_time_targets_of(config)
    assert targets["corrective"] == 95.0
    k = compute_kpis(orders, T0, T0 + 24 * H, T0 + 24 * H, on_time_targets=targets)
    [corrective] = [s for s in k.services if s.service_type == "corrective"]
    assert (corrective.decided, corrective.on_time, corrective.on_time_pct, corrective.meets_target) == (
        20,
        19,
        95.0,
        True,
    )
    stricter = {**targets, "corrective": 99.0}
    k = compute_kpis(orders, T0, T0 + 24 * H, T0 + 24 * H, on_time_targets=stricter)
    row = [s for s in k.as_json()["on_time_by_service"] if s["service_type"] == "corrective"][0]
    assert row == {
        "service_type": "corrective",
        "visits_decided": 20,
        "on_time": 19,
        "on_time_pct": 95.0,
        "target_pct": 99.0,
        "meets_target": False,
    }
