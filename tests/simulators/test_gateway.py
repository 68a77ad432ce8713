"""Gateway wire faults and publish pacing, on message lists (no broker)."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np

from faultline.simulators.fleet import Gateway
from faultline.simulators.gateway import GatewayWire, Message, offline_mask, skew_ns
from faultline.simulators.publish import PublishReport, publish_messages

NS = 10**9


def _messages(n: int, every_s: float = 1.0) -> list[Message]:
    return [
        Message(
            int(i * every_s * NS),
            "faultline/s/a/vibration_rms",
            b'{"ts":%d,"value":1.5}' % i,
            1,
            "single",
            "a",
            ("vibration_rms",),
        )
        for i in range(n)
    ]


def _gateway(*faults: dict) -> Gateway:
    return Gateway.model_validate({"id": "gw", "site": "s", "faults": list(faults)})


def test_duplicates_out_of_order_and_malformed_are_counted_exactly():
    gw = _gateway(
        {"mode": "duplicate", "start": "0s", "end": "1h", "rate": 0.1},
        {"mode": "out_of_order", "start": "0s", "end": "1h", "rate": 0.1, "delay": 3},
        {"mode": "malformed", "start": "0s", "end": "1h", "rate": 0.1},
    )
    wire = GatewayWire(gw, np.random.default_rng(1))
    sent = list(wire.shape(_messages(2000)))
    dup, ooo, bad = wire.tally[0], wire.tally[1], wire.tally[2]
    assert 120 < dup.messages < 280 and 120 < ooo.messages < 280 and 120 < bad.messages < 280
    assert len(sent) == 2000 + dup.messages

    def valid(m):
        try:
            return isinstance(json.loads(m.payload).get("value"), float)
        except (ValueError, UnicodeDecodeError):
            return False

    invalid = [m for m in sent if not valid(m)]
    assert len(invalid) == bad.messages + dup.corrupted_messages
    assert all(m.corrupted for m in invalid) and not any(m.corrupted for m in sent if valid(m))
    # every original message still arrives (the store sees each reading, some late, some twice)
    values = [json.loads(m.payload)["ts"] for m in sent if valid(m)]
    assert set(values) <= set(range(2000))
    assert len(set(values)) == 2000 - bad.messages
    inversions = sum(1 for a, b in zip(values, values[1:]) if b < a)
    assert inversions >= ooo.messages // 2


def test_faults_apply_only_inside_their_window():
    gw = _gateway(
        {"mode": "duplicate", "start": "100s", "end": "200s", "rate": 1.0},
        {"mode": "offline", "start": "10s", "end": "20s"},
        {"mode": "clock_skew", "start": "50s", "end": "60s", "offset": "-5s"},
    )
    wire = GatewayWire(gw, np.random.default_rng(1))
    sent = list(wire.shape(_messages(300)))
    assert len(sent) == 400 and wire.tally[0].messages == 100
    elapsed = np.arange(300, dtype=np.int64) * NS
    assert np.flatnonzero(offline_mask(gw, elapsed)).tolist() == list(range(10, 20))
    skew = skew_ns(gw, elapsed)
    assert set(np.flatnonzero(skew)) == set(range(50, 60)) and skew[55] == -5 * NS


class _Recorder:
    def __init__(self):
        self.sent = []

    def publish(self, topic, payload):
        self.sent.append((topic, payload))


class _FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.slept += seconds


def test_publishing_is_paced_in_simulated_time():
    messages = _messages(61, every_s=60.0)  # one hour of simulated time
    fake, recorder, report = _FakeTime(), _Recorder(), PublishReport()
    publish_messages(messages, recorder, speed=60.0, report=report, clock=fake.clock, sleep=fake.sleep)
    assert len(recorder.sent) == 61 and report.total_readings == 61
    assert abs(fake.now - 100.0 - 60.0) < 1e-9  # an hour at 60× takes a minute

    fake, report = _FakeTime(), PublishReport()
    publish_messages(messages, _Recorder(), speed=0, report=report, clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == 0.0 and report.messages == {("faultline/s/a/vibration_rms", "single"): 61}


def test_assets_behind_one_gateway_share_its_messages():
    from datetime import datetime, timezone

    from faultline.simulators import Fleet, simulate_offline
    from faultline.simulators.publish import run_messages
    from tests.simulators.conftest import fleet_data, pump

    sensors = ["vibration_rms", "bearing_temp"]
    fleet = Fleet.from_dict(
        fleet_data(
            pump("A-1", payload="gateway", gateway="gw", batch_size=5, sensors=sensors),
            pump("A-2", payload="gateway", gateway="gw", batch_size=5, sensors=sensors),
            pump("A-3", payload="single", gateway="gw", sensors=sensors),
            gateways=[{"id": "gw", "site": "plant"}],
        )
    )
    run = simulate_offline(fleet, start=datetime(2026, 1, 5, tzinfo=timezone.utc), duration=timedelta(hours=1))
    messages, _ = run_messages(run)
    by_format: dict[str, list] = {}
    for m in messages:
        by_format.setdefault(m.format, []).append(m)
    assert len(by_format["gateway"]) == 60 // 5 and len(by_format["single"]) == 2 * 60
    body = json.loads(by_format["gateway"][0].payload)
    assert by_format["gateway"][0].topic == "faultline/plant/_gateway/gw"
    assert {(r["asset"], r["sensor"]) for r in body["readings"]} == {(a, s) for a in ("A-1", "A-2") for s in sensors}
    assert len(body["readings"]) == 2 * 2 * 5 == by_format["gateway"][0].readings
