"""Publishing through a real Mosquitto: what the labels say was sent is what a subscriber receives."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml

from faultline.simulators import Fleet, simulate_offline
from faultline.simulators.output import read_labels
from tests.simulators.conftest import START, fleet_data, pump

pytestmark = pytest.mark.servers

NS = 10**9
MS = 10**6


class Subscriber:
    """Collects every message on ``faultline/#`` at QoS 1."""

    def __init__(self, url: str):
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe("faultline/#", qos=1)
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond the expected count would show up now
        self.client.loop_stop()
        self.client.disconnect()
        return list(self.messages)


def decode(topic: str, payload: bytes) -> list[tuple[str, str, int, float]] | None:
    """(asset, sensor, ts ms, value) per reading; a waveform block is one reading; None if malformed."""
    parts = topic.split("/")
    try:
        body = json.loads(payload)
        if parts[2] == "_gateway":
            return [(r["asset"], r["sensor"], int(r["ts"]), float(r["value"])) for r in body["readings"]]
        asset, sensor = parts[2], parts[3]
        if "t0" in body:
            assert len(body["values"]) > 0 and body["rate_hz"] > 0
            return [(asset, sensor, int(body["t0"]), float(len(body["values"])))]
        if isinstance(body["ts"], list):
            assert len(body["ts"]) == len(body["value"])
            return [(asset, sensor, int(t), float(v)) for t, v in zip(body["ts"], body["value"])]
        return [(asset, sensor, int(body["ts"]), float(body["value"]))]
    except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError):
        return None


def _fleet(tmp_path, broker: str) -> tuple[Fleet, str]:
    gw_faults = [
        {"mode": "offline", "start": "1h", "end": "1h20m"},
        {"mode": "duplicate", "start": "0s", "end": "3h", "rate": 0.1},
        {"mode": "out_of_order", "start": "0s", "end": "3h", "rate": 0.1, "delay": 2},
        {"mode": "malformed", "start": "0s", "end": "3h", "rate": 0.05},
        {"mode": "clock_skew", "start": "2h", "end": "2h30m", "offset": "30s"},
    ]
    data = fleet_data(
        pump("A-1", payload="single", gateway="gw", sensors=["vibration_rms", "bearing_temp", "motor_current"]),
        pump("A-2", payload="batch", batch_size=10, gateway="gw", sensors=["vibration_rms", "bearing_temp", "accel"]),
        pump("A-3", payload="gateway", batch_size=5, gateway="gw", sensors=["bearing_temp", "motor_current"]),
        pump("A-5", payload="gateway", batch_size=5, gateway="gw", sensors=["vibration_rms"]),  # shares A-3's messages
        pump(
            "A-4",
            payload="single",
            sensors=["vibration_rms", "accel"],
            faults=[{"mode": "imbalance", "onset": "1h", "failure": "3h"}],
        ),
        gateways=[{"id": "gw", "site": "plant", "faults": gw_faults}],
        waveform={"every": "10m", "rate_hz": 5120, "samples": 512},
        broker=broker,
    )
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    return Fleet.from_yaml(path), str(path)


def test_what_the_labels_say_was_sent_arrives(mosquitto, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    fleet, config = _fleet(tmp_path, mosquitto.url)
    truth = simulate_offline(fleet, start=START, duration=timedelta(hours=3))
    subscriber = Subscriber(mosquitto.url)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--config",
            config,
            "--start",
            "2026-01-05T00:00:00Z",
            "--duration",
            "3h",
            "--speed",
            "0",
            "--labels",
            str(tmp_path / "labels.jsonl"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    published = int(result.output.split("published ")[1].split(" messages")[0])
    received = subscriber.wait_for(published)
    assert len(received) == published

    labels = {r["fault_mode"]: r for r in read_labels(tmp_path / "labels.jsonl")}
    offline, dup, bad = labels["offline"], labels["duplicate"], labels["malformed"]
    assert dup["params"]["messages"] > 0 and bad["params"]["messages"] > 0
    assert labels["out_of_order"]["params"]["messages"] > 0

    # what the sensors produced, as the store should hold it (offline losses gone, skew applied)
    expected = Counter()
    keys = set()
    for (asset, sensor), (ts, _) in truth.scalars.items():
        expected[(asset, sensor)] += len(ts)
        keys |= {(asset, sensor, int(t // MS)) for t in ts}
    for (asset, sensor), (t0, _, _blocks) in truth.waveforms.items():
        expected[(asset, sensor)] += len(t0)
        keys |= {(asset, sensor, int(t // MS)) for t in t0}
    assert offline["params"]["lost_readings"] > 0

    readings, malformed = [], 0
    for topic, payload in received:
        decoded = decode(topic, payload)
        if decoded is None:
            malformed += 1
        else:
            readings += decoded
    assert malformed == bad["params"]["messages"] + dup["params"]["corrupted_messages"]
    got = Counter((a, s) for a, s, _, _ in readings)
    assert sum(got.values()) == sum(expected.values()) - bad["params"]["readings"] + dup["params"]["intact_readings"]
    unique = {(a, s, t) for a, s, t, _ in readings}
    assert unique <= keys and len(keys - unique) == bad["params"]["readings"]

    # the asset without a gateway arrives complete, reading for reading
    for sensor in ("vibration_rms", "accel"):
        assert got[("A-4", sensor)] == expected[("A-4", sensor)] > 0

    # offline: nothing from the window arrives; skew: readings in its window are 30 s late
    start_ms = int(truth.tables["A-1"].ts_ns[0] // MS)
    offsets = np.array([t - start_ms for a, _, t, _ in readings if a != "A-4"])
    assert not np.any((offsets >= 3600_000) & (offsets < 4800_000))
    skewed = offsets[(offsets >= 7200_000) & (offsets < 9000_000)]
    assert len(skewed) and np.all(skewed % 60_000 == 30_000)


def test_an_interrupted_live_run_stops_cleanly_with_its_counts(mosquitto):
    from faultline.simulators import publish_run

    fleet = Fleet.from_dict(fleet_data(pump("A-1", sensors=["vibration_rms"]), waveform={"every": "1h"}))
    run = simulate_offline(fleet, start=START, duration=timedelta(hours=1))
    subscriber = Subscriber(mosquitto.url)
    clock = [0.0]

    def sleep(seconds):  # the operator presses Ctrl-C ten simulated minutes in
        clock[0] += seconds
        if clock[0] > 600:
            raise KeyboardInterrupt

    report = publish_run(run, mosquitto.url, speed=1.0, clock=lambda: clock[0], sleep=sleep)
    assert report.interrupted and 10 <= report.total_messages <= 12
    received = subscriber.wait_for(report.total_messages, timeout=10)
    assert len(received) == report.total_messages
