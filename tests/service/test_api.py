"""The HTTP API through the real app: auth, limits, work orders from findings, detectors, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import SITE, T0, batch

HOT = [70, 92, 95, 96, 80, 70]  # two readings over 90 °C open the alert, 80 closes it


def test_every_api_endpoint_needs_a_token(api):
    spec = api.client.get("/openapi.json").json()
    paths = [p for p, ops in spec["paths"].items() if p.startswith("/api/v1") and "get" in ops]
    assert len(paths) >= 10
    for path in paths:
        url = path.replace("{asset}", "P-1").replace("{order_id}", "1").replace("{number}", "1")
        r = api.client.get(url)
        assert r.status_code == 401, path
        assert "missing token" in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_and_malformed_tokens_are_401_saying_why(api):
    r = api.client.get("/api/v1/assets", headers={"Authorization": "Bearer flt_nope"})
    assert r.status_code == 401 and "unknown token" in r.json()["detail"]
    r = api.client.get("/api/v1/assets", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401 and "Bearer <token>" in r.json()["detail"]


def test_revoked_token_is_refused(api):
    made = api.client.post("/api/v1/tokens", json={"role": "manager", "name": "night shift"}, headers=api.as_("admin"))
    assert made.status_code == 201
    token = made.json()["token"]
    assert api.client.get("/api/v1/kpis", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=api.as_("admin")).status_code == 204
    assert api.client.get("/api/v1/kpis", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_are_admin_only_and_403_names_the_role(api):
    r = api.client.post("/api/v1/tokens", json={"role": "admin", "name": "x"}, headers=api.as_("manager"))
    assert r.status_code == 403
    assert "needs the role admin" in r.json()["detail"] and "manager" in r.json()["detail"]


def test_tokens_are_stored_hashed(api):
    rows = api.runtime.db.rows("SELECT hash FROM api_tokens")
    stored = {r["hash"] for r in rows}
    assert len(stored) == len(api.tokens)
    assert not stored & set(api.tokens.values())


def test_request_body_over_the_limit_is_413(api):
    big = {"config": {"classes": {}}, "note": "x" * (1024 * 1024 + 10)}
    r = api.client.post("/api/v1/detectors/proposals", json=big, headers=api.as_("admin"))
    assert r.status_code == 413
    assert "over the limit of 1048576 bytes" in r.json()["detail"]


def test_streamed_body_over_the_limit_is_413_too(api):
    def chunks():
        for _ in range(20):
            yield b"x" * 65536  # 1.25 MiB without a Content-Length

    r = api.client.post(
        "/api/v1/detectors/proposals",
        content=chunks(),
        headers={**api.as_("admin"), "content-type": "application/json"},
    )
    assert r.status_code == 413 and "limit of 1048576 bytes" in r.json()["detail"]


def test_a_finding_becomes_one_work_order_with_priority_and_deadlines(api):
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    api.ingest(batch("P-1", "bearing_temp", T0 + 600, HOT))  # fires again: evidence on the same order
    orders = api.client.get("/api/v1/work-orders", headers=api.as_("junior_engineer")).json()
    assert len(orders) == 1
    order = orders[0]
    assert (order["asset"], order["fault_mode"], order["priority"], order["site"]) == ("P-1", "overheating", "P1", SITE)
    assert order["findings_received"] == 2
    opened = datetime.fromisoformat(order["opened_at"])
    # P1: emergency repair, 15 min response and 4 h resolution round the clock (config/ticketing.yaml)
    assert datetime.fromisoformat(order["response_due"]) == opened + timedelta(minutes=15)
    assert datetime.fromisoformat(order["resolution_due"]) == opened + timedelta(hours=4)
    assert order["sla"]["response"]["target_s"] == 900 and order["sla"]["breached"] is False
    findings = api.client.get("/api/v1/findings", headers=api.as_("junior_engineer")).json()
    assert [f["status"] for f in findings] == ["closed", "opened", "closed", "opened"]
    assert {f["order_id"] for f in findings if f["status"] == "opened"} == {order["id"]}
    assets = {a["asset"]: a for a in api.client.get("/api/v1/assets", headers=api.as_("manager")).json()}
    assert assets["P-1"]["open_work_orders"] == 1 and assets["P-1"]["criticality"] == "A"
    assert assets["P-1"]["latest"][0]["value"] == 70


def test_filters(api):
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    api.ingest(batch("P-2", "bearing_temp", T0, HOT))
    h = api.as_("manager")
    assert [o["asset"] for o in api.client.get("/api/v1/work-orders?priority=P3", headers=h).json()] == ["P-2"]
    assert [o["asset"] for o in api.client.get("/api/v1/work-orders?asset=P-1", headers=h).json()] == ["P-1"]
    assert len(api.client.get(f"/api/v1/work-orders?site={SITE}&status=open", headers=h).json()) == 2
    assert api.client.get("/api/v1/work-orders?status=closed", headers=h).json() == []
    assert api.client.get("/api/v1/work-orders?priority=P9", headers=h).status_code == 422
    # most urgent first: the P1 order's 15-minute response target leaves the least time
    assert [o["priority"] for o in api.client.get("/api/v1/work-orders", headers=h).json()] == ["P1", "P3"]


def test_lifecycle_through_the_api_with_roles_and_audit(api):
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    oid = api.client.get("/api/v1/work-orders", headers=api.as_("admin")).json()[0]["id"]
    url = f"/api/v1/work-orders/{oid}"

    r = api.client.post(f"{url}/assign", json={"engineer": "anna.schmidt"}, headers=api.as_("junior_engineer"))
    assert r.status_code == 403 and "junior_engineer may not assign P1" in r.json()["detail"]
    assert (
        api.client.post(
            f"{url}/resolve", json={"outcome": "fault_confirmed"}, headers=api.as_("junior_engineer")
        ).status_code
        == 409
    )  # not in progress yet
    r = api.client.post(f"{url}/acknowledge", headers=api.as_("junior_engineer"))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert api.client.post(f"{url}/acknowledge", headers=api.as_("junior_engineer")).status_code == 409
    assert api.client.post(f"{url}/start", headers=api.as_("junior_engineer")).json()["status"] == "in_progress"
    assert api.client.post(f"{url}/hold", json={}, headers=api.as_("junior_engineer")).status_code == 422
    r = api.client.post(f"{url}/hold", json={"reason": "awaiting_parts"}, headers=api.as_("junior_engineer"))
    assert r.status_code == 403 and "junior_engineer may not hold P1" in r.json()["detail"]  # it stops the clock
    r = api.client.post(f"{url}/hold", json={"reason": "awaiting_parts"}, headers=api.as_("mid_engineer"))
    assert r.json()["status"] == "on_hold" and r.json()["sla"]["paused"] is True
    assert api.client.post(f"{url}/resume", headers=api.as_("junior_engineer")).json()["status"] == "in_progress"
    assert (
        api.client.post(f"{url}/comment", json={"text": "bearing noisy"}, headers=api.as_("junior_engineer")).json()[
            "comments"
        ][-1]["text"]
        == "bearing noisy"
    )
    r = api.client.post(f"{url}/resolve", json={"outcome": "fault_confirmed"}, headers=api.as_("junior_engineer"))
    assert r.status_code == 403 and "emergency_repair" in r.json()["detail"]
    r = api.client.post(
        f"{url}/resolve", json={"outcome": "fault_confirmed", "notes": "replaced"}, headers=api.as_("mid_engineer")
    )
    assert r.json()["status"] == "resolved" and r.json()["outcome"] == "fault_confirmed"
    assert api.client.post(f"{url}/close", headers=api.as_("mid_engineer")).status_code == 403
    assert api.client.post(f"{url}/close", headers=api.as_("senior_engineer")).json()["status"] == "closed"
    assert (
        api.client.post(f"{url}/reopen", json={"reason": "noise back"}, headers=api.as_("senior_engineer")).json()[
            "status"
        ]
        == "open"
    )
    assert api.client.post(f"{url}/fly", headers=api.as_("admin")).status_code == 422
    assert api.client.post("/api/v1/work-orders/999/acknowledge", headers=api.as_("admin")).status_code == 404

    audit = api.client.get(f"{url}/audit", headers=api.as_("manager")).json()
    assert [e["action"] for e in audit] == [
        "open",
        "acknowledge",
        "start",
        "hold",
        "resume",
        "comment",
        "resolve",
        "close",
        "reopen",
    ]
    assert audit[1]["actor"] == "junior_engineer-1"
    assert api.runtime.orders.verify_audit() is None


def test_readings_from_the_store_with_thresholds(api):
    api.ingest(batch("P-1", "bearing_temp", T0, [50, 51, 52, 53]))
    start = datetime.fromtimestamp(T0, UTC)
    r = api.client.get(
        "/api/v1/readings",
        params={
            "asset": "P-1",
            "sensor": "bearing_temp",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=3)).isoformat(),
        },
        headers=api.as_("junior_engineer"),
    )
    body = r.json()
    assert body["value"] == [50, 51, 52]
    assert body["thresholds"]["hot"]["high"] == 90
    assert (
        api.client.get(
            "/api/v1/readings",
            params={"asset": "P-1", "sensor": "bearing_temp", "start": "2026-11-20T00:00:00"},
            headers=api.as_("admin"),
        ).status_code
        == 422
    )


def test_kpis(api):
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    k = api.client.get("/api/v1/kpis", headers=api.as_("manager")).json()
    assert k["orders_opened"] == 1


def test_dead_letters_browse_and_replay(api):
    from faultline.ingest.deadletter import DeadLetter

    now = int(datetime.now(UTC).timestamp() * 1e9)
    ok_payload = b'{"ts": %d, "value": 42.5}' % (T0 * 1000)
    ids = api.runtime.dead_letters.add_many(
        [
            DeadLetter(now, f"faultline/{SITE}/P-1/bearing_temp", ok_payload, "decoder could not (before a fix)"),
            DeadLetter(now, f"faultline/{SITE}/P-1/bearing_temp", b"{oops", "not JSON"),
        ]
    )
    listed = api.client.get("/api/v1/dead-letters", headers=api.as_("junior_engineer")).json()
    assert [d["reason"] for d in listed] == ["decoder could not (before a fix)", "not JSON"]
    refused = api.client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=api.as_("manager"))
    assert refused.status_code == 403 and "reliability_engineer, admin" in refused.json()["detail"]
    bad = api.client.post(f"/api/v1/dead-letters/{ids[1]}/replay", headers=api.as_("admin")).json()
    assert bad["replayed"] is False and "JSON" in bad["detail"]
    good = api.client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=api.as_("admin")).json()
    assert good["replayed"] is True
    assert [d["id"] for d in api.client.get("/api/v1/dead-letters", headers=api.as_("admin")).json()] == [ids[1]]
    # the replayed reading is in the store now
    start = datetime.fromtimestamp(T0, UTC)
    r = api.client.get(
        "/api/v1/readings",
        params={
            "asset": "P-1",
            "sensor": "bearing_temp",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=1)).isoformat(),
        },
        headers=api.as_("admin"),
    )
    assert r.json()["value"] == [42.5]


def test_openapi_documents_the_resources(api):
    spec = api.client.get("/openapi.json").json()
    for path in (
        "/api/v1/assets",
        "/api/v1/readings",
        "/api/v1/findings",
        "/api/v1/work-orders",
        "/api/v1/work-orders/{order_id}/{action}",
        "/api/v1/work-orders/{order_id}/audit",
        "/api/v1/detectors",
        "/api/v1/detectors/proposals/{number}/backtest",
        "/api/v1/kpis",
        "/api/v1/dead-letters",
        "/api/v1/events",
    ):
        assert path in spec["paths"], path
    assert "WorkOrderOut" in spec["components"]["schemas"]


def test_health_ready_and_metrics(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/docs").status_code == 404  # FastAPI's page would load scripts from a CDN
    ready = api.client.get("/readyz").json()
    assert ready == {"ready": True, "checks": {"store": True, "work_orders": True, "intake": True}}
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    text = api.client.get("/metrics").text
    assert 'faultline_findings_total{shadow="no",status="opened"} 1.0' in text
    assert 'faultline_work_order_events_total{action="open"} 1.0' in text
    assert "faultline_detector_batches_total 1.0" in text
    assert "faultline_readings_written_total" in text
