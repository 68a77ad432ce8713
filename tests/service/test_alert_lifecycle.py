"""The live alert lifecycle and the intake's retry queue, through the real app over a `Runtime`.

A latched alert stays open after the readings recover until it is acknowledged — by resolving its
work order, or through ``POST /api/v1/alerts/acknowledge``; a finding the intake cannot take (a site
ticketing does not know) waits in a durable queue, turns /readyz degraded, and becomes its work order
once the configuration knows the site, after a restart."""

from __future__ import annotations

import logging

import pytest

from tests.service.conftest import ROLES, T0, batch, service_settings

# bearing temperature over 90 °C opens a latched alert; it may clear at once below 85.5 once acknowledged
LATCHED = {
    "classes": {
        "default": {
            "checks": {
                "hot": {
                    "sensor": "bearing_temp",
                    "detector": "static_limit",
                    "params": {"high": 90},
                    "fault_mode": "overheating",
                    "rule": {
                        "alarm": 1.0,
                        "clear": 0.95,
                        "n": 2,
                        "m": 2,
                        "latch": True,
                        "severity_levels": {"high": 1.0, "critical": 1.5},
                    },
                }
            }
        }
    }
}


@pytest.fixture
def latched(tmp_path):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime
    from tests.service.conftest import Api

    settings = service_settings(tmp_path, detectors=LATCHED)
    runtime = Runtime(settings)
    tokens = {role: runtime.tokens.create(role, f"{role}-1", runtime.clock.now())[1] for role in ROLES}
    with TestClient(create_app(settings, runtime)) as client:
        yield Api(client, runtime, tokens)
    runtime.close()


def _statuses(api, asset):
    return [
        f["status"]
        for f in reversed(
            api.client.get("/api/v1/findings", params={"asset": asset}, headers=api.as_("manager")).json()
        )
    ]


def test_a_latched_alert_clears_only_once_its_order_is_resolved(latched):
    api, h = latched, latched.as_("senior_engineer")
    api.ingest(batch("P-1", "bearing_temp", T0, [92, 95, 96]))
    [order] = api.client.get("/api/v1/work-orders", headers=h).json()
    api.ingest(batch("P-1", "bearing_temp", T0 + 180, [60, 61, 60]))  # recovered, but latched
    assert [a["asset"] for a in api.client.get("/api/v1/alerts", headers=h).json()] == ["P-1"]
    assert _statuses(api, "P-1") == ["opened"]

    for step, body in (("acknowledge", None), ("start", None), ("resolve", {"outcome": "fault_confirmed"})):
        assert api.client.post(f"/api/v1/work-orders/{order['id']}/{step}", json=body, headers=h).status_code == 200
    api.ingest(batch("P-1", "bearing_temp", T0 + 360, [60, 59]))
    assert _statuses(api, "P-1") == ["opened", "closed"]
    assert api.client.get("/api/v1/alerts", headers=h).json() == []
    assert api.client.get("/api/v1/assets/P-1", headers=h).json()["status"] == "ok"


def test_the_api_acknowledges_a_latched_alert(latched):
    api, h = latched, latched.as_("junior_engineer")
    api.ingest(batch("P-2", "bearing_temp", T0, [92, 95, 96, 60, 60]))
    assert _statuses(api, "P-2") == ["opened"]
    assert api.client.post("/api/v1/alerts/acknowledge", json={"asset": "nope"}, headers=h).status_code == 404
    done = api.client.post("/api/v1/alerts/acknowledge", json={"asset": "P-2", "fault_mode": "overheating"}, headers=h)
    assert done.status_code == 200 and done.json()["streams"] == 1
    api.ingest(batch("P-2", "bearing_temp", T0 + 300, [60, 60]))
    assert _statuses(api, "P-2") == ["opened", "closed"]


def test_a_finding_from_an_unknown_site_waits_counted_and_becomes_its_order_after_the_fix(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path)
    runtime = Runtime(settings)
    with caplog.at_level(logging.ERROR), TestClient(create_app(settings, runtime)) as client:
        runtime.detection.handle(batch("P-1", "bearing_temp", T0, [92, 95, 96], site="east"))
        runtime.detection.handle(batch("P-1", "bearing_temp", T0 + 180, [97, 98], site="east"))
        assert runtime.orders.orders() == []
        runtime.detection.handle(batch("P-2", "bearing_temp", T0, [92, 95, 96]))  # north: not held back
        assert [o.asset for o in runtime.orders.orders()] == ["P-2"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["intake"] is False
        metrics = client.get("/metrics").text
        assert "faultline_intake_failures_total 1.0" in metrics and "faultline_intake_pending 1.0" in metrics
        assert runtime.retry_intake() == 0  # still unknown: it keeps waiting
    assert sum("site 'east' is not in the ticketing configuration" in r.message for r in caplog.records) == 1
    runtime.close()

    # the plant adds the site: on the next start the queue is worked off, nothing was lost
    ticketing = settings.ticketing.model_dump(mode="json")
    ticketing["sites"]["east"] = ticketing["sites"]["north"]
    fixed = Runtime(settings.model_copy(update={"ticketing": type(settings.ticketing).model_validate(ticketing)}))
    try:
        assert fixed.retry_intake() == 1
        order = fixed.orders.orders()[-1]
        assert (order.site, order.asset, order.priority) == ("east", "P-1", "P1")
        assert fixed.ready()["intake"] is True
    finally:
        fixed.close()


def test_an_unknown_site_goes_to_the_default_site_when_one_is_configured(tmp_path):
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path)
    ticketing = settings.ticketing.model_copy(update={"default_site": "north"})
    runtime = Runtime(settings.model_copy(update={"ticketing": ticketing}))
    try:
        runtime.detection.handle(batch("P-1", "bearing_temp", T0, [92, 95, 96], site="east"))
        [order] = runtime.orders.orders()
        assert order.site == "north" and runtime.ready()["intake"] is True
    finally:
        runtime.close()


def test_dead_notifications_are_listed_and_sent_again_through_the_api(latched):
    api = latched
    store, now = api.runtime.orders, api.runtime.clock.now()
    store.enqueue_notifications(
        [
            {
                "event_id": "WO-000001.1",
                "kind": "opened",
                "channel": "webhook:cmms",
                "recipient": "http://127.0.0.1:9/hooks",
                "order_id": 1,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "last_error": "",
                "payload": "{}",
            }
        ],
        "notifications",
        0,
    )
    [row] = store.notifications()
    store.record_attempt(row["id"], status="dead", attempts=8, at=now, error="HTTP 410: gone")
    dead = api.client.get("/api/v1/notifications", params={"status": "dead"}, headers=api.as_("manager")).json()
    assert [(n["event_id"], n["attempts"], n["last_error"]) for n in dead] == [("WO-000001.1", 8, "HTTP 410: gone")]
    path = f"/api/v1/notifications/{row['id']}/retry"
    assert api.client.post(path, headers=api.as_("junior_engineer")).status_code == 403
    again = api.client.post(path, headers=api.as_("reliability_engineer"))
    assert again.status_code == 200 and (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    assert api.client.post(path, headers=api.as_("admin")).status_code == 404  # no longer dead
