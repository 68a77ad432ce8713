"""`faultline tokens create` and `faultline run --config` in a subprocess against a real Mosquitto:
ready once the broker is connected, serving the API to the token, reloading the detectors section on
SIGHUP (and keeping it when the file is bad), stopping cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.servers import free_port
from faultline.ticketing.config import default_config_path

pytestmark = pytest.mark.servers


def test_run_serves_the_api_reloads_on_sighup_and_stops_on_sigterm(tmp_path, mosquitto):
    port, metrics_port = free_port(), free_port()
    config = tmp_path / "faultline.yaml"
    config.write_text(
        yaml.safe_dump(
            base := {
                "mqtt": {"url": mosquitto.url, "client_id": f"run-{port}"},
                "store": {"kind": "sqlite", "path": str(tmp_path / "readings.sqlite")},
                "spool": {"path": str(tmp_path / "spool")},
                "ingest": {"dead_letter_path": str(tmp_path / "dead.sqlite")},
                "metrics": {"port": metrics_port},
                "service": {"port": port, "state_path": str(tmp_path / "service.sqlite")},
            }
        )
    )
    faultline = str(Path(sys.executable).with_name("faultline"))
    made = subprocess.run(
        [faultline, "tokens", "create", "--role", "manager", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("flt_") and "manager" in made.stderr
    bad = subprocess.run(
        [faultline, "tokens", "create", "--role", "boss", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "unknown role 'boss'" in bad.stderr

    proc = subprocess.Popen(
        [faultline, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 45
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{url}/readyz")
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.json() == {
            "ready": True,
            "checks": {
                "store": True,
                "work_orders": True,
                "intake": True,
                "broker": True,
                "writer": True,
                "ingest_stages": True,
            },
        }
        assert httpx.get(f"{url}/api/v1/assets").status_code == 401
        assert httpx.get(f"{url}/api/v1/work-orders", headers={"Authorization": f"Bearer {token}"}).json() == []
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "faultline_detector_batches_total" in scraped and "faultline_readings_written_total" in scraped
        assert httpx.get(f"{url}/metrics").text.count("faultline_work_order_events") > 0

        auth = {"Authorization": f"Bearer {token}"}
        before = httpx.get(f"{url}/api/v1/detectors", headers=auth).json()["current"]
        hot = {
            "sensor": "bearing_temp",
            "detector": "static_limit",
            "params": {"high": 77},
            "fault_mode": "overheating",
        }
        config.write_text(yaml.safe_dump({**base, "detectors": {"classes": {"default": {"checks": {"hot": hot}}}}}))
        proc.send_signal(signal.SIGHUP)
        current = _wait_for_version(url, auth, lambda v: v["number"] != before["number"])
        assert current["author"] == "SIGHUP" and "classes.default.checks.hot" in current["note"]
        assert current["config"]["classes"]["default"]["checks"]["hot"]["params"] == {"high": 77}
        config.write_text(
            yaml.safe_dump(
                {
                    **base,
                    "detectors": {"classes": {"default": {"checks": {"hot": {**hot, "params": {"high": "very"}}}}}},
                }
            )
        )
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)  # the rejected reload only logs; the version in force must not move
        assert httpx.get(f"{url}/api/v1/detectors", headers=auth).json()["current"]["number"] == current["number"]

        # kill -HUP: the catalogue of the edited file is in force without a restart
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/api/v1/catalogue", headers=auth).json()["policies"]["corrective"]["response"] == "PT2H"
        edited = yaml.safe_load(config.read_text())  # SIGHUP validates the whole file: detectors valid again
        edited["detectors"] = {"classes": {"default": {"checks": {"hot": hot}}}}
        edited["ticketing"] = yaml.safe_load(default_config_path().read_text())["ticketing"]
        edited["ticketing"]["policies"]["corrective"]["response"] = "1h"
        config.write_text(yaml.safe_dump(edited))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            catalogue = httpx.get(f"{url}/api/v1/catalogue", headers=auth).json()
            if catalogue["policies"]["corrective"]["response"] == "PT1H":
                break
            time.sleep(0.2)
        assert catalogue["policies"]["corrective"]["response"] == "PT1H"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log = proc.stderr.read()
        assert (
            f"detector configuration reloaded from {config} by SIGHUP: v{before['number']} -> v{current['number']}"
            in log
        )
        assert f"detector configuration NOT reloaded (SIGHUP); v{current['number']} stays in force" in log
        assert "detectors.classes.default.checks.hot" in log.split("NOT reloaded")[1].splitlines()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for_version(url: str, auth: dict, done, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = httpx.get(f"{url}/api/v1/detectors", headers=auth).json()["current"]
        if done(current):
            return current
        time.sleep(0.2)
    raise AssertionError(f"the detector version did not change within {timeout} s (still v{current['number']})")
