"""One detection engine: the same readings through the live service, a backtest, `faultline score`
and `faultline evaluate` give the same findings.

The data has what tells drivers apart: a spike, a change of level, a sensor that freezes, a hole in
one stream while the others report, and an end (where a driver that asks the deadman past the
data would invent silence).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np

from faultline.detectors import DetectorsConfig, Engine

MIN = 60
T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
ASSET = "P-1"
CONFIG = {
    "silence_after": "15m",
    "classes": {
        "default": {
            "checks": {
                "temp_spike": {
                    "sensor": "bearing_temp",
                    "detector": "robust_z",
                    "params": {"window": 60, "threshold": 8},
                    "fault_mode": "spike",
                    "rule": {"alarm": 1.0, "clear": 1.0},
                },
                "vib_drift": {
                    "sensor": "vibration_rms",
                    "detector": "cusum",
                    "params": {"k": 1.0, "h": 20, "warmup": 200, "direction": "up"},
                    "fault_mode": "high_vibration",
                    "rule": {"alarm": 1.0, "clear": 0.5, "clear_after": "30m"},
                },
                "temp_stuck": {
                    "sensor": "bearing_temp",
                    "detector": "stuck_sensor",
                    "params": {"window": 30},
                    "fault_mode": "stuck_sensor",
                    "rule": {"alarm": 1.0, "clear": 0.99},
                },
                "hot": {
                    "sensor": "bearing_temp",
                    "detector": "static_limit",
                    "params": {"high": 90},
                    "fault_mode": "overheating",
                    "rule": {"alarm": 1.0, "clear": 0.95, "n": 2, "m": 3},
                },
            }
        }
    },
}
HOURS = 30


def plant() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(ts ns, values) per sensor: one reading a minute for 30 hours, with a few things to find."""
    rng = np.random.default_rng(17)
    n = HOURS * 60
    minutes = np.arange(n)
    temp = 60 + rng.normal(0, 0.5, n)
    temp[400] += 12  # a spike
    temp[900:960] = temp[899]  # the transmitter hangs for an hour
    temp[1500:1503] = 95  # too hot
    vib = 2.0 + rng.normal(0, 0.1, n)
    vib[1100:] += 0.6  # a step up that holds
    keep_vib = (minutes < 600) | (minutes >= 780)  # a three-hour hole in the vibration stream
    ts = (T0 + minutes * MIN).astype(np.int64) * 10**9
    return {"bearing_temp": (ts, temp), "vibration_rms": (ts[keep_vib], vib[keep_vib])}


def identity(f) -> tuple:
    """What a finding says, without the label of the configuration version or the run's own numbers."""
    r = f if isinstance(f, dict) else f.as_record()
    return (
        r["asset"],
        r["sensor"],
        r["rule"],
        r["fault_mode"],
        r["kind"],
        r["status"],
        r["severity"],
        r["started_at"],
        r["ended_at"],
    )


def config() -> DetectorsConfig:
    return DetectorsConfig.model_validate(CONFIG)


def last_ns(data) -> int:
    return max(int(t[-1]) for t, _ in data.values())


def through_backtest(data) -> list[tuple]:
    from faultline.service.backtest import replay

    history = [(ASSET, sensor, t, v) for sensor, (t, v) in data.items()]
    return [identity(f) for f in replay(config(), "bt", history, end_ns=last_ns(data) + MIN * 10**9)]


def through_evaluate(data) -> list[tuple]:
    from faultline.service.evaluate import feed

    start = datetime.fromtimestamp(T0, UTC)
    run = SimpleNamespace(
        scalars={(ASSET, s): tv for s, tv in data.items()},
        waveforms={},
        start=start,
        duration=timedelta(seconds=(last_ns(data) // 10**9 + MIN) - T0),
    )
    return [identity(f) for f in feed(Engine(config()), run)]


def through_score(data, tmp_path) -> list[tuple]:
    from faultline.service.scoring import score_csv

    ts = data["bearing_temp"][0]
    vib = dict(zip(data["vibration_rms"][0].tolist(), data["vibration_rms"][1].tolist()))
    path = tmp_path / "plant.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "bearing_temp", "vibration_rms"])
        for t, temp in zip(ts.tolist(), data["bearing_temp"][1].tolist()):
            when = datetime.fromtimestamp(t // 10**9, UTC).isoformat()
            w.writerow([when, repr(temp), repr(vib[t]) if t in vib else ""])
    out = tmp_path / "scores.csv"
    summary = score_csv(path, out, config(), asset=ASSET)
    with open(summary["findings_path"]) as fh:
        return [identity(json.loads(line)) for line in fh]


def through_live(data, tmp_path, batch_minutes: int = 10) -> list[tuple]:
    """The live service: gateway batches of ten minutes, each handled when it arrives (the clock)."""
    from faultline.ingest.readings import Readings, SeriesKey
    from faultline.service.runtime import Runtime
    from tests.service.conftest import service_settings
    from faultline.vocabulary import ManualClock

    clock = ManualClock(datetime.fromtimestamp(T0, UTC))
    runtime = Runtime(service_settings(tmp_path, detectors=CONFIG), clock=clock)
    keys = {s: SeriesKey.of("telemetry", {"site": "plant-a", "asset": ASSET, "sensor": s}) for s in data}
    found = []
    try:
        edges = range(T0, last_ns(data) // 10**9 + batch_minutes * MIN, batch_minutes * MIN)
        for lo in edges:
            hi = lo + batch_minutes * MIN
            parts = []
            for sensor, (t, v) in data.items():
                sel = (t >= lo * 10**9) & (t < hi * 10**9)
                if sel.any():
                    parts.append(Readings.single_series(keys[sensor], t[sel], v[sel]))
            newest = max(int(p.ts.max()) for p in parts) if parts else hi * 10**9
            clock.advance(datetime.fromtimestamp(newest / 1e9, UTC) + timedelta(seconds=5) - clock.now())
            if parts:
                found += runtime.detection.handle(Readings.concat(parts))
            else:
                found += runtime.detection.tick()
    finally:
        runtime.close()
    return [identity(f) for f in found]


def test_the_same_readings_give_the_same_findings_live_in_backtest_score_and_evaluate(tmp_path):
    data = plant()
    backtest = through_backtest(data)
    kinds = {(f[3], f[5]) for f in backtest}
    # the run has something of each kind to find, and no silence at its end
    assert {
        ("spike", "opened"),
        ("high_vibration", "opened"),
        ("stuck_sensor", "opened"),
        ("overheating", "opened"),
        ("no_data", "opened"),
        ("no_data", "closed"),
    } <= kinds
    assert [f for f in backtest if f[3] == "no_data" and f[5] == "opened"] == [
        (
            ASSET,
            "vibration_rms",
            "silence_after",
            "no_data",
            "data_quality",
            "opened",
            "medium",
            datetime.fromtimestamp(T0 + 599 * MIN, UTC).isoformat(),
            None,
        )
    ]
    assert {f[4] for f in backtest if f[3] in ("stuck_sensor", "no_data")} == {"data_quality"}
    assert through_evaluate(data) == backtest
    (tmp_path / "score").mkdir()
    (tmp_path / "live").mkdir()
    assert through_score(data, tmp_path / "score") == backtest
    assert sorted(through_live(data, tmp_path / "live")) == sorted(backtest)
