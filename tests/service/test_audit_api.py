"""The audit export (admin only), checked offline, and an order edited behind the log found by verify-audit."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from tests.service.conftest import T0, batch
from faultline.ticketing.audit import AuditEntry, canonical_json, verify

HOT = [70, 95, 96, 97]


def test_the_audit_export_is_admin_only_and_verifies_offline(api):
    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    oid = api.client.get("/api/v1/work-orders", headers=api.as_("admin")).json()[0]["id"]
    api.client.post(f"/api/v1/work-orders/{oid}/acknowledge", headers=api.as_("senior_engineer"))
    api.client.post(
        f"/api/v1/work-orders/{oid}/comment", json={"text": "on my way"}, headers=api.as_("senior_engineer")
    )
    r = api.client.get("/api/v1/audit/export", headers=api.as_("manager"))
    assert r.status_code == 403 and "exporting the audit log needs the role admin" in r.json()["detail"]
    r = api.client.get("/api/v1/audit/export", headers=api.as_("admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    head, *lines = [json.loads(line) for line in r.text.splitlines()]
    entries = [
        AuditEntry(
            seq=e["seq"],
            at=__import__("datetime").datetime.fromisoformat(e["at"]),
            actor=e["actor"],
            action=e["action"],
            order_id=e["order_id"],
            before=None,
            after=None,
            prev_hash=e["prev_hash"],
            hash=e["hash"],
            change=canonical_json(e["change"]),
        )
        for e in lines
    ]
    assert [e.action for e in entries][-2:] == ["acknowledge", "comment"]
    assert lines[-1]["change"] == {
        "append": {"comments": [lines[-1]["change"]["append"]["comments"][0]]},
        "set": {"version": 3},
    }
    assert verify(entries, head=(head["head"]["seq"], head["head"]["hash"])) is None


def test_verify_audit_finds_an_order_edited_in_the_database(api, tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    api.ingest(batch("P-1", "bearing_temp", T0, HOT))
    url = api.runtime.orders.url
    assert CliRunner().invoke(app, ["tickets", "verify-audit", "--store", url]).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as conn:  # someone closes the order by hand, behind the service
        conn.execute(text("UPDATE work_orders SET status = 'closed'"))
    engine.dispose()
    result = CliRunner().invoke(app, ["tickets", "verify-audit", "--store", url])
    assert result.exit_code == 1 and "column status is 'closed' in the table" in result.output
