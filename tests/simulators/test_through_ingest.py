"""Simulator → real Mosquitto → the real `faultline ingest` process → its SQLite store.

Everything the labels say was sent is stored, minus what the malformed-payload fault deliberately
corrupted (which ingest dead-letters instead) and what was lost while the gateway was offline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from faultline.ingest.deadletter import DeadLetterStore
from faultline.ingest.writers import SqliteStore
from faultline.simulators import Fleet, simulate_offline
from faultline.simulators.output import read_labels
from tests.simulators.conftest import START, fleet_data, pump

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
MS = 10**6


def _wait(check, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ingest exited with {proc.returncode} while waiting for {what}")
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _probe(url: str) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    client.publish(
        "faultline/probe/probe/vibration_rms", b'{"ts": 1767571200000, "value": 1.0}', qos=1
    ).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_readings_arrive_in_the_ingest_store(own_mosquitto, tmp_path):
    gw_faults = [
        {"mode": "offline", "start": "30m", "end": "45m"},
        {"mode": "duplicate", "start": "0s", "end": "2h", "rate": 0.1},
        {"mode": "out_of_order", "start": "0s", "end": "2h", "rate": 0.1},
        {"mode": "malformed", "start": "0s", "end": "2h", "rate": 0.05},
    ]
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(
        yaml.safe_dump(
            fleet_data(
                pump("A-1", payload="single", gateway="gw", sensors=["vibration_rms", "bearing_temp", "motor_current"]),
                pump("A-2", payload="batch", batch_size=10, gateway="gw", sensors=["vibration_rms", "bearing_temp"]),
                pump("A-3", payload="gateway", batch_size=5, gateway="gw", sensors=["bearing_temp", "motor_current"]),
                gateways=[{"id": "gw", "site": "plant", "faults": gw_faults}],
                scalar_period="20s",
            )
        )
    )
    store_path = tmp_path / "readings.sqlite"
    config = tmp_path / "faultline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mqtt": {"url": own_mosquitto.url, "client_id": "sim-e2e", "subscribe": ["faultline/#"]},
                "store": {"kind": "sqlite", "path": str(store_path)},
                "spool": {"path": str(tmp_path / "spool")},
                "ingest": {"dead_letter_path": str(tmp_path / "dead.sqlite")},
                "metrics": {"port": 0},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "faultline.service.cli", "ingest", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "ingest.log", "wb"),
        start_new_session=True,
    )
    try:
        store = None

        def probe_stored() -> bool:
            nonlocal store
            _probe(own_mosquitto.url)
            if store is None and store_path.exists():
                store = SqliteStore(store_path)
            return store is not None and len(store.query("probe", "vibration_rms", 0, 2**62)) > 0

        _wait(probe_stored, 60, "the ingester to store a probe reading", proc)

        from typer.testing import CliRunner

        from faultline.service.cli import app

        labels_file = tmp_path / "labels.jsonl"
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                "--config",
                str(fleet_file),
                "--broker",
                own_mosquitto.url,
                "--start",
                "2026-01-05T00:00:00Z",
                "--duration",
                "2h",
                "--speed",
                "0",
                "--labels",
                str(labels_file),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output

        truth = simulate_offline(Fleet.from_yaml(fleet_file), start=START, duration=timedelta(hours=2))
        labels = {r["fault_mode"]: r for r in read_labels(labels_file)}
        bad, dup = labels["malformed"], labels["duplicate"]
        expected = {key: {int(t) for t in ts} for key, (ts, _) in truth.scalars.items()}
        want = sum(len(v) for v in expected.values()) - bad["params"]["readings"]

        def stored():
            return {key: {int(t) for t in store.query(key[0], key[1], 0, 2**62).ts} for key in expected}

        _wait(lambda: sum(len(v) for v in stored().values()) >= want, 60, f"{want} readings stored", proc)
        dead = DeadLetterStore(tmp_path / "dead.sqlite")
        _wait(
            lambda: dead.count() >= bad["params"]["messages"] + dup["params"]["corrupted_messages"],
            30,
            "the malformed payloads dead-lettered",
            proc,
        )
        time.sleep(1.0)  # anything unexpected would land now

        got = stored()
        assert sum(len(v) for v in got.values()) == want
        for key, ts in got.items():
            assert ts <= expected[key], key  # nothing invented, offline window absent
        assert dead.count() == bad["params"]["messages"] + dup["params"]["corrupted_messages"]
        assert labels["offline"]["params"]["lost_readings"] > 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
