"""A new service catalogue takes effect without a restart: validated first, then audited."""

from __future__ import annotations

import yaml

from tests.service.conftest import T0, batch

HOT = [70, 95, 96, 97]


def test_put_catalogue_validates_replaces_and_audits(api):
    current = api.client.get("/api/v1/catalogue", headers=api.as_("junior_engineer")).json()
    assert current["policies"]["emergency-repair"]["on_time_target"] == 95.0
    policies = current["policies"]
    r = api.client.put("/api/v1/catalogue", json={"policies": policies}, headers=api.as_("manager"))
    assert r.status_code == 403 and "changing the service catalogue needs the role admin" in r.json()["detail"]

    broken = {name: dict(p) for name, p in policies.items()}
    del broken["emergency-repair"]  # then no policy serves P1
    r = api.client.put("/api/v1/catalogue", json={"policies": broken}, headers=api.as_("admin"))
    assert r.status_code == 422 and "no policy serves priority P1" in r.json()["detail"]
    assert api.runtime.ticketing.policies["emergency-repair"].resolution.total_seconds() == 4 * 3600  # unchanged

    faster = {name: dict(p) for name, p in policies.items()}
    faster["emergency-repair"]["resolution"] = "PT2H"
    faster["emergency-repair"]["on_time_target"] = 98
    r = api.client.put("/api/v1/catalogue", json={"policies": faster}, headers=api.as_("admin"))
    assert r.status_code == 200 and r.json()["policies"]["emergency-repair"]["on_time_target"] == 98.0

    api.ingest(batch("P-1", "bearing_temp", T0, HOT))  # a P1 opened now gets the new 2 h target
    [order] = api.client.get("/api/v1/work-orders", headers=api.as_("admin")).json()
    assert order["sla"]["resolution"]["target_s"] == 2 * 3600
    kpis = api.client.get("/api/v1/kpis", headers=api.as_("admin")).json()
    assert {"service_type": "emergency_repair", "target_pct": 98.0}.items() <= [
        s for s in kpis["on_time_by_service"] if s["service_type"] == "emergency_repair"
    ][0].items()
    [entry] = [e for e in api.runtime.orders.audit_entries() if e.action == "catalogue_reloaded"]
    assert entry.actor == "admin-1" and entry.order_id is None and '"resolution":"PT2H"' in entry.change
    assert api.runtime.orders.verify_audit() is None


def test_sighup_reads_the_file_and_keeps_the_old_catalogue_when_the_file_is_bad(api, tmp_path, caplog):
    data = {"ticketing": api.runtime.ticketing.model_dump(mode="json")}
    data["ticketing"]["policies"]["corrective"]["response"] = "PT1H"
    path = tmp_path / "faultline.yaml"
    path.write_text(yaml.safe_dump(data))
    api.runtime.reload_catalogue_file(path)
    assert api.runtime.ticketing.policies["corrective"].response.total_seconds() == 3600
    data["ticketing"]["policies"]["corrective"]["response"] = "soon"
    path.write_text(yaml.safe_dump(data))
    api.runtime.reload_catalogue_file(path)
    assert api.runtime.ticketing.policies["corrective"].response.total_seconds() == 3600  # kept
    assert "catalogue not reloaded" in caplog.text
    assert [e.actor for e in api.runtime.orders.audit_entries() if e.action == "catalogue_reloaded"] == ["SIGHUP"]
