"""Hot reload of the detectors section (``POST /api/v1/detectors/reload``; SIGHUP in
test_run_command.py): thresholds and alert rules per asset change without a restart, an invalid file
changes nothing and is named, the change is a version with its author, and unchanged checks keep state."""

from __future__ import annotations

import logging

import pytest
import yaml

from tests.service.conftest import ROLES, SITE, T0, batch

CHECKS = {
    "hot": {
        "sensor": "bearing_temp",
        "detector": "static_limit",
        "params": {"high": 90},
        "fault_mode": "overheating",
        "rule": {"alarm": 1.0, "clear": 0.95, "n": 2, "m": 2},
    },
    "current": {
        "sensor": "motor_current",
        "detector": "static_limit",
        "params": {"high": 50},
        "fault_mode": "anomaly",
        "rule": {"alarm": 1.0, "clear": 0.95, "n": 3, "m": 3},
    },
}


def write_config(path, tmp, detectors) -> None:
    from faultline.ticketing import default_ticketing_config

    ticketing = default_ticketing_config(env={}).model_dump(mode="json")
    ticketing.update(store_url=f"sqlite:///{tmp / 'orders.sqlite'}")
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp / "readings.sqlite")},
                "spool": {"path": str(tmp / "spool")},
                "ingest": {"dead_letter_path": str(tmp / "dead.sqlite")},
                "metrics": {"port": 0},
                "detectors": detectors,
                "ticketing": ticketing,
                "service": {"state_path": str(tmp / "service.sqlite")},
            }
        )
    )


@pytest.fixture
def service(tmp_path):
    from fastapi.testclient import TestClient

    from faultline.service.compose import build_service
    from faultline.service.settings import load_settings

    config = tmp_path / "faultline.yaml"
    write_config(config, tmp_path, {"classes": {"default": {"checks": CHECKS}}})
    built = build_service(load_settings(config, env={}), config_path=config)
    tokens = {role: built.runtime.tokens.create(role, f"{role}-1", built.runtime.clock.now())[1] for role in ROLES}
    with TestClient(built.app) as client:
        yield client, built.runtime, config, tokens
    built.runtime.close()


def auth(tokens, role):
    return {"Authorization": f"Bearer {tokens[role]}"}


def fired(runtime, asset, sensor, start, values):
    return [(f.asset, f.fault_mode) for f in runtime.detection.handle(batch(asset, sensor, start, values, site=SITE))]


def test_a_threshold_and_rule_per_asset_change_live_and_unchanged_checks_keep_their_state(service, caplog):
    client, runtime, config, tokens = service
    assert fired(runtime, "P-1", "motor_current", T0, [60, 61]) == []  # 2 of the 3 readings the rule needs
    before = client.get("/api/v1/detectors", headers=auth(tokens, "manager")).json()["current"]["number"]

    write_config(
        config,
        config.parent,
        {
            "classes": {"default": {"checks": CHECKS}},
            "assets": {"P-2": {"checks": {"hot": {"params": {"high": 70}, "rule": {"n": 1, "m": 1}}}}},
        },
    )
    assert client.post("/api/v1/detectors/reload", headers=auth(tokens, "junior_engineer")).status_code == 403
    with caplog.at_level(logging.INFO, "faultline.reload"):
        answer = client.post("/api/v1/detectors/reload", headers=auth(tokens, "reliability_engineer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["previous"] == before and body["current"]["number"] == before + 1
    assert body["current"]["author"] == "reliability_engineer-1" and body["current"]["status"] == "applied"
    assert body["changes"] == [
        "assets.P-2.checks.hot.params.high: (none) -> 70",
        "assets.P-2.checks.hot.rule.m: (none) -> 1",
        "assets.P-2.checks.hot.rule.n: (none) -> 1",
        "assets.P-2.class: (none) -> 'default'",
    ]
    assert "reloaded from" in body["current"]["note"] and body["restart_needed"] == []
    assert f"v{before} -> v{before + 1}" in caplog.text

    assert fired(runtime, "P-1", "motor_current", T0 + 120, [62]) == [("P-1", "anomaly")]  # the 3rd: state kept
    assert fired(runtime, "P-2", "bearing_temp", T0, [75]) == [("P-2", "overheating")]  # P-2's own limit and rule
    assert fired(runtime, "P-1", "bearing_temp", T0, [75, 76]) == []  # the class's 90 still

    again = client.post("/api/v1/detectors/reload", headers=auth(tokens, "admin")).json()
    assert again["changes"] == [] and again["current"]["number"] == before + 1  # nothing new: no version


def test_an_invalid_file_changes_nothing_and_names_the_problem(service):
    client, runtime, config, tokens = service
    in_force = client.get("/api/v1/detectors", headers=auth(tokens, "manager")).json()["current"]
    engine = runtime.detection.engine
    bad = {**CHECKS, "hot": {**CHECKS["hot"], "rule": {"alarm": 1.0, "clear": 1.5}}}  # clear above alarm
    write_config(config, config.parent, {"classes": {"default": {"checks": bad}}})
    answer = client.post("/api/v1/detectors/reload", headers=auth(tokens, "admin"))
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail["message"] == f"not reloaded; v{in_force['number']} stays in force"
    assert detail["problems"][0].startswith("detectors.classes.default.checks.hot.rule: ")

    config.write_text("detectors: {classes: [unclosed\n")
    answer = client.post("/api/v1/detectors/reload", headers=auth(tokens, "admin"))
    assert answer.status_code == 422 and "not valid YAML at line" in answer.json()["detail"]["problems"][0]

    write_config(
        config, config.parent, {"classes": {"default": {"checks": CHECKS}}, "assets": {"P-9": {"site": "atlantis"}}}
    )  # a site ticketing lacks
    answer = client.post("/api/v1/detectors/reload", headers=auth(tokens, "admin"))
    assert answer.status_code == 422
    assert "detectors.assets.P-9.site: 'atlantis' is not a ticketing site" in answer.json()["detail"]["problems"][0]

    assert runtime.detection.engine is engine
    assert client.get("/api/v1/detectors", headers=auth(tokens, "manager")).json()["current"] == in_force
    assert 'faultline_config_reloads_total{outcome="rejected"} 3.0' in client.get("/metrics").text


def test_without_a_configuration_file_there_is_nothing_to_reload(api):
    answer = api.client.post("/api/v1/detectors/reload", headers=api.as_("admin"))
    assert answer.status_code == 409 and "without a configuration file" in answer.json()["detail"]
