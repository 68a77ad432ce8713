"""Detector configuration through the API: propose, backtest, apply, roll back, shadow mode."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from tests.service.conftest import DETECTORS, T0, batch

# bearing temperature climbing from 80 to 95 °C over 150 minutes, on two pumps
CLIMB = [80 + 0.1 * i for i in range(150)]


def _lower_limit(high: float) -> dict:
    config = copy.deepcopy(DETECTORS)
    config["classes"]["default"]["checks"]["hot"]["params"]["high"] = high
    return config


def _window() -> dict:
    start = datetime.fromtimestamp(T0, UTC)
    # to the last reading: a longer window would end in silence, which the deadman reports
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=150)).isoformat()}


def test_propose_backtest_apply_and_roll_back(api):
    for asset in ("P-1", "P-2"):
        api.ingest(batch(asset, "bearing_temp", T0, CLIMB))
    h = api.as_("reliability_engineer")
    current = api.client.get("/api/v1/detectors", headers=h).json()
    assert current["current"]["number"] == 1 and current["current"]["status"] == "applied"
    assert current["checks"] == ["hot"]

    bad = api.client.post(
        "/api/v1/detectors/proposals",
        json={
            "config": {"classes": {"default": {"checks": {"hot": {"sensor": "bearing_temp", "detector": "nonsense"}}}}}
        },
        headers=h,
    )
    assert bad.status_code == 422 and "nonsense" in str(bad.json()["detail"])

    proposal = api.client.post(
        "/api/v1/detectors/proposals",
        json={"config": _lower_limit(85), "note": "earlier"},
        headers=api.as_("junior_engineer"),
    )
    assert proposal.status_code == 201
    number = proposal.json()["number"]
    assert proposal.json()["status"] == "proposed"
    assert api.client.get("/api/v1/detectors", headers=h).json()["current"]["number"] == 1  # not applied

    result = api.client.post(f"/api/v1/detectors/proposals/{number}/backtest", json=_window(), headers=h).json()
    assert result["series"] == 2 and result["readings"] == 300
    assert result["current"]["config_version"] == "v1" and result["proposed"]["config_version"] == f"v{number}"
    # both open one order per pump; the lower limit opens them about 50 minutes earlier
    assert result["current"]["work_order_count"] == result["proposed"]["work_order_count"] == 2
    assert result["only_current"] == result["only_proposed"] == []
    cur = {o["asset"]: o for o in result["current"]["work_orders"]}
    new = {o["asset"]: o for o in result["proposed"]["work_orders"]}
    assert datetime.fromisoformat(new["P-1"]["opened_at"]) < datetime.fromisoformat(cur["P-1"]["opened_at"])
    assert (new["P-1"]["priority"], new["P-2"]["priority"]) == ("P1", "P3")
    assert result["proposed"]["sla_hours"] > 0
    # nothing live changed by the backtest
    assert len(api.client.get("/api/v1/work-orders", headers=h).json()) == 2

    assert (
        api.client.post(f"/api/v1/detectors/proposals/{number}/apply", headers=api.as_("senior_engineer")).status_code
        == 403
    )
    applied = api.client.post(f"/api/v1/detectors/proposals/{number}/apply", headers=h).json()
    assert applied["status"] == "applied"
    assert api.runtime.detection.engine.config_version == f"v{number}"
    assert api.runtime.detection.engine.config.checks_for("P-1")["hot"][0].params["high"] == 85

    back = api.client.post("/api/v1/detectors/rollback", headers=api.as_("admin")).json()
    assert back["number"] == 1 and back["status"] == "applied"
    versions = api.client.get("/api/v1/detectors/versions", headers=h).json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "applied"), (number, "superseded")]


def test_shadow_mode_records_without_opening_orders(api):
    h = api.as_("admin")
    number = api.client.post("/api/v1/detectors/proposals", json={"config": _lower_limit(60)}, headers=h).json()[
        "number"
    ]
    shadow = api.client.post(f"/api/v1/detectors/proposals/{number}/shadow", headers=h).json()
    assert shadow["shadow"] == number
    api.ingest(batch("P-1", "bearing_temp", T0, [70, 71, 72, 73]))  # over the shadow's 60, under the live 90
    assert api.client.get("/api/v1/work-orders", headers=h).json() == []
    assert api.client.get("/api/v1/findings", headers=h).json() == []
    recorded = api.client.get("/api/v1/findings?shadow=true", headers=h).json()
    assert [(f["status"], f["config_version"], f["would"]) for f in recorded] == [
        ("opened", f"v{number}-shadow", "open a work order")
    ]
    stopped = api.client.delete("/api/v1/detectors/shadow", headers=h).json()
    assert stopped["shadow"] is None
