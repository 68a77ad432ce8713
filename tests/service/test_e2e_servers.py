"""End to end through real servers: the simulator's bearing fault, published to a real Mosquitto and
stored in a real InfluxDB by the service, ends as ONE work order with the right priority and deadlines."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest

from faultline.vocabulary import SEVERITIES

pytestmark = pytest.mark.servers


def test_bearing_fault_through_mosquitto_and_influxdb_becomes_one_work_order(tmp_path, mosquitto, influxdb):
    from fastapi.testclient import TestClient

    from faultline.ingest.settings import MqttSettings, StoreSettings
    from faultline.service.app import create_app
    from faultline.service.demo import demo_settings, publish_demo
    from faultline.service.runtime import Runtime
    from faultline.ticketing.sla import SlaTimeline

    settings = demo_settings(tmp_path).model_copy(
        update={
            "mqtt": MqttSettings(url=mosquitto.url, client_id=f"e2e-{uuid.uuid4().hex[:8]}"),
            "store": StoreSettings(
                kind="influxdb", api="v1", url=influxdb.url, database=f"e2e_{uuid.uuid4().hex[:8]}", batch_size=2000
            ),
        }
    )
    runtime = Runtime(settings).start(ingest=True)
    try:
        sent = publish_demo(mosquitto.url, threading.Event(), history_seconds=4.0, live=timedelta(0))
        assert sent > 10_000
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not runtime.orders.orders():
            time.sleep(0.25)
        time.sleep(1.0)  # let the tail of the history through, so a duplicate order would show
        orders = runtime.orders.orders()
        assert len(orders) == 1, [(o.asset, o.fault_mode) for o in orders]
        order = orders[0]
        assert (order.site, order.asset, order.fault_mode) == ("north", "P-101", "high_vibration")
        worst = max((e.severity for e in order.evidence), key=SEVERITIES.index)
        ticketing = runtime.ticketing
        assert order.priority == ticketing.priority_for(worst, "A") == "P1"
        policy = ticketing.policy_for(order.priority, order.service_type)
        due = ticketing.sla_clock(order.site, policy).deadlines(SlaTimeline(order.opened_at))
        assert (order.response_due, order.resolution_due) == (due.response_due, due.resolution_due)
        assert order.resolution_due - order.opened_at == timedelta(hours=4)  # P1: 4 h, round the clock
        assert order.evidence[0].readings["zone"] in ("C", "D")

        token = runtime.tokens.create("junior_engineer", "e2e", runtime.clock.now())[1]
        with TestClient(create_app(settings, runtime)) as client:
            h = {"Authorization": f"Bearer {token}"}
            assert client.get("/readyz").json()["checks"] == {
                "store": True,
                "work_orders": True,
                "intake": True,
                "broker": True,
                "writer": True,
                "ingest_stages": True,
            }
            listed = client.get("/api/v1/work-orders", headers=h).json()
            assert [o["number"] for o in listed] == [order.number]
            ev = order.evidence[0].readings
            stored = client.get(
                "/api/v1/readings",
                headers=h,
                params={
                    "asset": "P-101",
                    "sensor": "vibration_rms",
                    "start": ev["window_start"],
                    "end": (datetime.fromisoformat(ev["window_end"]) + timedelta(seconds=1)).isoformat(),
                },
            ).json()
            # what the finding summarises is what InfluxDB holds
            assert len(stored["value"]) == ev["n"] and max(stored["value"]) == pytest.approx(ev["max"])

            # the backtest reads the same history back from InfluxDB: the configuration in force finds
            # what it found live; a stricter zone C boundary for group 2 finds nothing
            config = runtime.versions.current()["config"]
            config["iso_20816_zones"]["2-rigid"]["bc"] = 6.0
            config["iso_20816_zones"]["2-rigid"]["cd"] = 9.0
            admin = {"Authorization": f"Bearer {runtime.tokens.create('admin', 'a', runtime.clock.now())[1]}"}
            number = client.post("/api/v1/detectors/proposals", json={"config": config}, headers=admin).json()["number"]
            now = runtime.clock.now()
            result = client.post(
                f"/api/v1/detectors/proposals/{number}/backtest",
                headers=admin,
                json={"start": (now - timedelta(hours=15)).isoformat(), "end": now.isoformat()},
            ).json()
            assert result["series"] == 12
            assert [(o["asset"], o["fault_mode"], o["priority"]) for o in result["current"]["work_orders"]] == [
                ("P-101", "high_vibration", "P1")
            ]
            assert result["current"]["episodes"][0]["started_at"] == order.evidence[0].started_at.isoformat()
            assert (
                result["proposed"]["work_orders"] == [] and result["only_current"] == result["current"]["work_orders"]
            )
    finally:
        runtime.stop()
        runtime.close()
