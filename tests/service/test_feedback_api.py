"""Requester feedback through the API: "not fixed" reopens the order; the KPIs count it."""

from __future__ import annotations

from tests.service.conftest import T0, batch


def test_feedback_after_close_reopens_when_not_fixed(api):
    api.ingest(batch("P-1", "bearing_temp", T0, [70, 95, 96, 97]))
    oid = api.client.get("/api/v1/work-orders", headers=api.as_("admin")).json()[0]["id"]
    url = f"/api/v1/work-orders/{oid}"
    senior = api.as_("senior_engineer")
    for step, body in (
        ("acknowledge", None),
        ("start", None),
        ("resolve", {"outcome": "fault_confirmed"}),
        ("close", None),
    ):
        assert api.client.post(f"{url}/{step}", json=body, headers=senior).status_code == 200, step
    r = api.client.post(f"{url}/feedback", json={"fixed": False, "rating": 9}, headers=api.as_("manager"))
    assert r.status_code == 422
    r = api.client.post(
        f"{url}/feedback",
        json={"fixed": False, "rating": 2, "comment": "still hot"},
        headers=api.as_("junior_engineer"),
    )
    assert r.status_code == 403
    r = api.client.post(
        f"{url}/feedback", json={"fixed": False, "rating": 2, "comment": "still hot"}, headers=api.as_("manager")
    )
    assert r.status_code == 200 and r.json()["status"] == "open" and len(r.json()["visits"]) == 1
    assert r.json()["feedback"][0]["comment"] == "still hot"
    kpis = api.client.get("/api/v1/kpis", headers=api.as_("manager")).json()
    assert kpis["feedback"]["not_fixed"] == 1 and kpis["reopenings"] == 1
