"""Parts through the work-order actions: add, hold naming them, use; arguments checked by name."""

from __future__ import annotations

from tests.service.test_attachments_api import open_order


def test_parts_through_the_api(api):
    order_id = open_order(api.runtime)
    url = f"/api/v1/work-orders/{order_id}"
    admin = api.as_("admin")
    for step in ("acknowledge", "start"):
        assert api.client.post(f"{url}/{step}", headers=admin).status_code == 200
    r = api.client.post(
        f"{url}/add_part",
        json={"number": "6205-2RS", "quantity": 2, "description": "bearing"},
        headers=api.as_("junior_engineer"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["parts"] == [{"number": "6205-2RS", "quantity": 2.0, "description": "bearing", "state": "needed"}]
    held = api.client.post(
        f"{url}/hold", json={"reason": "awaiting_parts", "parts": ["6205-2RS", "SEAL-35"]}, headers=admin
    ).json()
    assert held["holds"][-1]["parts"] == ["6205-2RS", "SEAL-35"]
    assert {p["number"] for p in held["parts"]} == {"6205-2RS", "SEAL-35"}
    bad = api.client.post(f"{url}/add_part", json={"quantity": 1}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"] == "add_part needs number"
    wrong = api.client.post(f"{url}/use_part", json={"number": "SEAL-35", "text": "x"}, headers=admin)
    assert wrong.status_code == 422 and "use_part takes number, quantity; got text" in wrong.json()["detail"]
    negative = api.client.post(f"{url}/add_part", json={"number": "X", "quantity": -1}, headers=admin)
    assert negative.status_code == 422
    used = api.client.post(f"{url}/use_part", json={"number": "SEAL-35"}, headers=admin).json()
    assert [(p["number"], p["state"]) for p in used["parts"]] == [("6205-2RS", "needed"), ("SEAL-35", "used")]
    entry = api.client.get(f"{url}/audit", headers=admin).json()[-1]
    assert entry["action"] == "use_part"
