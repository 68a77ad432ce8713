"""Detector state (a CUSUM's baseline and sums) and alert state (a pending minimum duration, an open
alert) survive a restart of the service: the split run reports what an uninterrupted run reports."""

from __future__ import annotations

import json

import numpy as np

from tests.service.conftest import T0, batch, service_settings

DRIFT = {
    "classes": {
        "default": {
            "checks": {
                "drift": {
                    "sensor": "bearing_temp",
                    "detector": "cusum",
                    "params": {"k": 0.5, "h": 8, "direction": "up", "warmup": 60},
                    "fault_mode": "lubrication_loss",
                    "rule": {"alarm": 1.0, "clear": 0.5, "min_duration": "20m"},
                }
            }
        }
    }
}


def _temps() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = 50 + rng.normal(0, 0.3, 200)
    base[100:] += np.linspace(0, 6, 100)  # the bearing warms from reading 100 on
    return base


def _run(tmp, parts: list[slice]) -> tuple[list[tuple], list]:
    from faultline.service.runtime import Runtime

    temps = _temps()
    settings = service_settings(tmp, detectors=DRIFT)
    for part in parts:
        runtime = Runtime(settings)
        runtime.detection.handle(batch("P-1", "bearing_temp", T0 + 60 * part.start, temps[part]))
        runtime.stop()
        runtime.close()
    runtime = Runtime(settings)
    findings = [
        (f["status"], f["started_at"], f["ended_at"], f["severity"]) for f in reversed(runtime.db.findings(limit=1000))
    ]
    orders = runtime.orders.orders()
    runtime.close()
    return findings, orders


def test_split_run_equals_uninterrupted_run(tmp_path):
    whole, whole_orders = _run(tmp_path / "whole", [slice(0, 200)])
    assert whole and whole[0][0] == "opened"
    first_open = next(i for i, f in enumerate(whole) if f[0] == "opened")
    assert first_open == 0
    # restart while the CUSUM is warming up, and again while the alert's minimum duration is running
    split, split_orders = _run(tmp_path / "split", [slice(0, 40), slice(40, 128), slice(128, 200)])
    assert split == whole
    assert len(split_orders) == len(whole_orders) == 1
    assert split_orders[0].findings_received == whole_orders[0].findings_received


def test_state_is_restored_not_recomputed(tmp_path):
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path, detectors=DRIFT)
    runtime = Runtime(settings)
    runtime.detection.handle(batch("P-1", "bearing_temp", T0, _temps()[:80]))
    saved = json.dumps(runtime.detection.engine.to_dict(), sort_keys=True)  # text: NaN != NaN in lists
    runtime.stop()
    runtime.close()
    again = Runtime(settings)
    assert json.dumps(again.detection.engine.to_dict(), sort_keys=True) == saved
    again.close()


def test_shadow_mode_survives_a_restart(tmp_path):
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path, detectors=DRIFT)
    runtime = Runtime(settings)
    stricter = json.loads(json.dumps(DRIFT))
    stricter["classes"]["default"]["checks"]["drift"]["params"]["h"] = 4
    number = runtime.db.add_version(stricter, "proposal", "proposed", runtime.clock.now())
    runtime.versions.start_shadow(number)
    runtime.detection.handle(batch("P-1", "bearing_temp", T0, _temps()[:90]))
    saved = json.dumps(runtime.detection.shadow.to_dict(), sort_keys=True)
    runtime.stop()
    runtime.close()
    again = Runtime(settings)
    assert again.detection.shadow_version == number
    assert json.dumps(again.detection.shadow.to_dict(), sort_keys=True) == saved
    again.close()


def test_the_version_applied_through_the_api_stays_until_the_file_changes(tmp_path):
    from faultline.service.runtime import Runtime

    runtime = Runtime(service_settings(tmp_path, detectors=DRIFT))
    tuned = json.loads(json.dumps(DRIFT))
    tuned["classes"]["default"]["checks"]["drift"]["params"]["h"] = 6
    number = runtime.db.add_version(tuned, "tuned", "proposed", runtime.clock.now())
    runtime.versions.apply(number)
    runtime.close()

    same_file = Runtime(service_settings(tmp_path, detectors=DRIFT))
    assert same_file.versions.current()["number"] == number == 2
    same_file.close()

    edited = json.loads(json.dumps(DRIFT))
    edited["classes"]["default"]["checks"]["drift"]["params"]["h"] = 12
    new_file = Runtime(service_settings(tmp_path, detectors=edited))
    assert new_file.versions.current()["number"] == 3
    assert new_file.detection.engine.config.checks_for("P-1")["drift"][0].params["h"] == 12
    assert [v["status"] for v in new_file.db.versions()] == ["superseded", "superseded", "applied"]
    new_file.close()
