"""The engine: checks and rules over batches, waveform features, deadman, state across restarts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from faultline.detectors import (
    BearingGeometry,
    DetectorsConfig,
    Engine,
    band_energies,
    bearing_frequencies,
    block_features,
    diagnose_bearing,
)

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "detectors.yaml"
MIN = 60 * 10**9
RATE = 10240.0
BEARING = {"n_balls": 9, "ball_diameter_mm": 12.7, "pitch_diameter_mm": 58.5, "contact_angle_deg": 0.0}


def sample_config(**asset) -> DetectorsConfig:
    data = yaml.safe_load(SAMPLE.read_text())["detectors"]
    data["assets"]["P-1"] = {
        "class": "pump",
        "iso_group": "2-rigid",
        "site": "north",
        "running_speed_hz": 24.6,
        "bearing": BEARING,
        **asset,
    }
    return DetectorsConfig.model_validate(data)


def pump_history(seed: int, hours: float = 60.0):
    """P-1's vibration and bearing temperature, one reading a minute; from hour 30 the bearing heats."""
    rng = np.random.default_rng(seed)
    n = int(hours * 60)
    t = np.arange(n) * MIN
    vib = 1.0 + rng.normal(0, 0.03, n)
    temp = 55 + rng.normal(0, 0.2, n)
    hot = np.arange(n) >= 30 * 60
    temp[hot] += 1.2 * (np.arange(n)[hot] - 30 * 60) / 60  # +1.2 °C per hour
    return t, vib, temp


def feed(engine, t, vib, temp, cuts):
    sv, st = engine.stream_id("P-1", "vibration_rms"), engine.stream_id("P-1", "bearing_temp")
    stream = np.repeat([sv, st], len(t)).reshape(2, -1).T.ravel()
    ts = np.repeat(t, 2)
    val = np.stack([vib, temp], axis=1).ravel()
    findings, scores = [], []
    for part in np.array_split(np.arange(len(ts)), cuts):
        r = engine.process(stream[part], ts[part], val[part])
        findings += r.findings
        scores.append(r.score)
    return findings, np.concatenate(scores)


def test_engine_finds_the_overheating_bearing_with_its_evidence():
    t, vib, temp = pump_history(1)
    findings, score = feed(Engine(sample_config(), "v7"), t, vib, temp, cuts=1)
    trend = [f for f in findings if f.rule == "bearing_temp_trend"]
    assert trend and trend[0].status == "opened"
    f = trend[0]
    assert (f.asset, f.sensor, f.site, f.fault_mode, f.config_version) == (
        "P-1",
        "bearing_temp",
        "north",
        "overheating",
        "v7",
    )
    assert f.started_at.timestamp() > 30 * 3600  # not before the fault
    assert f.thresholds["limit"] == 90 and f.thresholds["rule"]["min_duration"] == 3 * 3600
    ev = f.evidence
    assert {"min", "max", "mean", "last", "n", "window_start", "window_end"} <= set(ev)
    assert ev["hours_to_limit_low"] < ev["hours_to_limit"] < ev["hours_to_limit_high"]
    assert ev["hours_to_limit"] == pytest.approx((90 - ev["last"]) / 1.2, rel=0.3)
    assert score.shape == (2 * len(t),) and score.max() >= 1
    # nothing on the healthy vibration
    assert not [f for f in findings if f.sensor == "vibration_rms"]


def test_drift_finding_says_what_normal_was():
    t, vib, temp = pump_history(4, hours=64)
    vib[54 * 60 :] += 0.5  # from hour 54 (warm-up: 48 h), 0.5 mm/s more
    findings, _ = feed(Engine(sample_config()), t, vib, temp, cuts=3)
    drift = [f for f in findings if f.rule == "vibration_drift"]
    assert drift and drift[0].status == "opened"
    ev = drift[0].evidence
    assert ev["baseline_mean"] == pytest.approx(1.0, abs=0.03)  # the top of the envelope: one level here
    assert ev["baseline_std"] == pytest.approx(0.05)  # the configured floor over 0.03 noise
    assert ev["min"] > 1.3


def test_engine_gives_the_same_findings_in_any_batches_and_across_a_restart():
    t, vib, temp = pump_history(2)
    whole, score_whole = feed(Engine(sample_config()), t, vib, temp, cuts=1)
    assert whole
    split, score_split = feed(Engine(sample_config()), t, vib, temp, cuts=97)
    assert split == whole
    np.testing.assert_array_equal(score_split, score_whole)

    half = len(t) // 2
    engine = Engine(sample_config())
    first, _ = feed(engine, t[:half], vib[:half], temp[:half], cuts=5)
    saved = json.loads(json.dumps(engine.to_dict()))
    resumed = Engine.from_dict(sample_config(), saved)
    second, _ = feed(resumed, t[half:], vib[half:], temp[half:], cuts=5)
    assert first + second == whole


def test_changed_check_starts_afresh_after_restart_others_resume():
    t, vib, temp = pump_history(3)
    engine = Engine(sample_config())
    feed(engine, t[:600], vib[:600], temp[:600], cuts=1)
    changed = sample_config(checks={"vibration_drift": {"params": {"h": 80}}})
    resumed = Engine.from_dict(changed, engine.to_dict())
    by_name = {s.name: s for s in resumed._slots.values()}
    assert not hasattr(by_name["vibration_drift"].detector, "state_")  # new parameters, new state
    assert by_name["bearing_temp_trend"].detector.state_["values"].shape[1] == 720
    assert resumed.fresh_checks == ["vibration_drift"]

    saved = engine.to_dict()
    for slot in saved["slots"].values():  # state of an older version
        if slot["detector"]["kind"] == "trend_to_limit":
            slot["detector"]["version"] = "1"
    assert Engine.from_dict(sample_config(), saved).fresh_checks == ["bearing_temp_trend"]


def test_deadman_opens_and_closes_no_data():
    engine = Engine(sample_config())
    sid = engine.stream_id("P-1", "motor_current")
    engine.process(np.array([sid, sid]), np.array([0, MIN]), np.array([40.0, 41.0]))
    assert engine.silent(10 * MIN) == []
    opened = engine.silent(20 * MIN)
    assert [(f.fault_mode, f.status, f.sensor) for f in opened] == [("no_data", "opened", "motor_current")]
    assert engine.silent(30 * MIN) == []  # reported once
    closed = engine.process(np.array([sid]), np.array([45 * MIN]), np.array([40.0])).findings
    assert [(f.status, f.ended_at.timestamp()) for f in closed] == [("closed", 45 * 60)]


def test_engine_scores_around_readings_that_are_not_finite():
    engine = Engine(sample_config())
    sid = engine.stream_id("P-1", "bearing_temp")
    r = engine.process(np.full(4, sid), np.arange(4) * MIN, np.array([50.0, np.nan, 95.0, np.inf]))
    assert r.rejected.tolist() == [1, 3]
    assert np.isnan(r.score[[1, 3]]).all() and r.score[2] > 1
    assert r.scores["bearing_temp_limit"][0] == pytest.approx(50 / 85)


def test_engine_refuses_unregistered_streams():
    with pytest.raises(ValueError, match="never registered"):
        Engine(sample_config()).process(np.array([3]), np.array([0]), np.array([1.0]))


# --- waveforms ---------------------------------------------------------------------------------


def bearing_blocks(rng, n_blocks, defect_hz=None, depth=4.0, n=2048):
    """Shaft-rate vibration plus noise; with ``defect_hz``, impacts ringing a 3.2 kHz resonance."""
    t = np.arange(n) / RATE
    x = 0.3 * np.sin(2 * np.pi * 24.6 * t) + rng.normal(0, 0.3, (n_blocks, n))
    if defect_hz:
        ring = np.exp(-t[:64] * 2500) * np.sin(2 * np.pi * 3200 * t[:64])
        pulses = np.zeros(n)
        pulses[(np.arange(0, t[-1], 1 / defect_hz) * RATE).astype(int)] = depth
        x = x + np.convolve(pulses, ring)[:n]
    return x.astype(np.float32)


def test_block_features_match_the_textbook_moments():
    rng = np.random.default_rng(4)
    blocks = rng.standard_t(5, (20, 1024)).astype(np.float32)
    f = block_features(blocks)
    np.testing.assert_allclose(f["kurtosis"], stats.kurtosis(blocks, axis=1, fisher=True) + 3, rtol=1e-5)
    np.testing.assert_allclose(f["skewness"], stats.skew(blocks, axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(f["rms"], blocks.std(axis=1), rtol=1e-5)
    assert all(v.shape == (20,) for v in f.values())
    with pytest.raises(ValueError, match="n_blocks"):
        block_features(np.zeros(10))


def test_band_energies_add_up_to_the_mean_square():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (3, 1000))
    e = band_energies(x, 1000.0, {"a": (0, 100), "b": (100, 250), "c": (250, 500.1)})
    np.testing.assert_allclose(sum(e.values()), ((x - 0) ** 2).mean(axis=1), rtol=1e-9)


def test_envelope_diagnosis_points_at_the_damaged_race():
    rng = np.random.default_rng(6)
    freqs = {k: float(v) for k, v in bearing_frequencies(BearingGeometry(**BEARING), 24.6).items()}
    healthy = bearing_blocks(rng, 4)
    outer = bearing_blocks(rng, 4, defect_hz=freqs["bpfo"])
    d = diagnose_bearing(np.vstack([healthy, outer]), RATE, freqs, 24.6)
    assert d.named() == [None] * 4 + ["bpfo"] * 4
    assert d.ratios["bpfo"][4:].min() > 3 * d.ratios["bpfo"][:4].max()


def test_engine_turns_bearing_impacts_into_an_outer_race_finding():
    rng = np.random.default_rng(7)
    engine = Engine(sample_config())
    bpfo = float(bearing_frequencies(BearingGeometry(**BEARING), 24.6)["bpfo"])
    blocks = np.vstack([bearing_blocks(rng, 160), bearing_blocks(rng, 12, defect_hz=bpfo, depth=2.0)])
    t0 = np.arange(len(blocks)) * 10 * MIN
    findings = []
    for part in np.array_split(np.arange(len(blocks)), 4):
        findings += engine.process_blocks("P-1", t0[part], RATE, blocks[part]).findings
    opened = [f for f in findings if f.status == "opened" and f.sensor.startswith("accel.b")]
    assert [(f.sensor, f.fault_mode) for f in opened] == [("accel.bearing_defect", "bearing_outer_race")]
    ratios = opened[0].evidence["peak_to_floor"]
    assert ratios["bpfo"] > 3 and max(ratios["bpfi"], ratios["bsf"]) < 2
    assert not [f for f in findings if f.started_at.timestamp() < 160 * 600]


# --- multivariate ------------------------------------------------------------------------------

SENSORS = ["motor_current", "bearing_temp", "vibration_rms"]


def mv_config() -> DetectorsConfig:
    return DetectorsConfig.model_validate(
        {
            "classes": {
                "default": {
                    "multivariate": {
                        "together": {
                            "sensors": SENSORS,
                            "baseline": 300,
                            "fault_mode": "anomaly",
                            "params": {"alpha": 0.0001},
                            "rule": {"alarm": 1.0, "clear": 0.8, "n": 3, "m": 5},
                        }
                    }
                }
            }
        }
    )


def coupled(seed: int, n: int = 900) -> np.ndarray:
    """Temperature and vibration follow the load (current) until row 600, then vibration rises on its own."""
    rng = np.random.default_rng(seed)
    current = 40 + 10 * np.sin(np.arange(n) / 50) + rng.normal(0, 0.5, n)
    temp = 30 + 0.5 * current + rng.normal(0, 0.3, n)
    vib = 0.05 * current + rng.normal(0, 0.03, n)
    vib[600:] += 0.4
    return np.stack([current, temp, vib], axis=1)


def feed_mv(engine, x, first_row=0, cuts=1):
    ids = [engine.stream_id("F-1", s) for s in SENSORS]
    n = len(x)
    stream = np.tile(ids, n)  # current first: each row sees all three fresh
    ts = np.repeat(np.arange(first_row, first_row + n) * MIN, 3)
    out = []
    for part in np.array_split(np.arange(3 * n), cuts):
        out += engine.process(stream[part], ts[part], x.ravel()[part]).findings
    return out


def test_multivariate_check_names_the_sensor_that_broke_away():
    x = coupled(8)
    findings = feed_mv(Engine(mv_config()), x)
    opened = [f for f in findings if f.status == "opened"]
    assert len(opened) == 1
    f = opened[0]
    assert (f.rule, f.detector, f.sensor, f.evidence["top_sensor"]) == (
        "together",
        "hotelling_t2",
        "vibration_rms",
        "vibration_rms",
    )
    assert f.started_at.timestamp() >= 600 * 60
    row = f.evidence["row"]
    assert 0.3 < row["vibration_rms"] - 0.05 * row["motor_current"] < 0.6

    assert feed_mv(Engine(mv_config()), x, cuts=41) == findings
    one_row_batches = Engine(mv_config())  # live: gathered a minute at a time
    assert feed_mv(one_row_batches, x, cuts=900) + one_row_batches.flush() == findings
    engine = Engine(mv_config())
    first = feed_mv(engine, x[:451], cuts=451)  # mid-baseline, rows gathered ...
    assert engine._pending
    resumed = Engine.from_dict(mv_config(), json.loads(json.dumps(engine.to_dict())))
    assert first + feed_mv(resumed, x[451:], first_row=451) + resumed.flush() == findings  # ... on after a restart


def test_data_quality_checks_are_their_own_kind_and_stay_out_of_the_anomaly_score():
    engine = Engine(sample_config())
    sid = engine.stream_id("P-1", "bearing_temp")
    temp = np.full(3000, 61.0)  # a frozen transmitter, from the start
    r = engine.process(np.full(len(temp), sid), np.arange(len(temp)) * MIN, temp)
    assert np.nanmax(r.scores["temp_stuck"]) >= 1  # the stuck check fires ...
    assert r.score.max() < 1  # ... but is no anomaly
    kinds = {(f.fault_mode, f.kind) for f in r.findings}
    assert kinds == {("stuck_sensor", "data_quality")}
    silent = engine.silent(3000 * MIN + 3600 * 10**9)
    assert [(f.fault_mode, f.kind, f.status) for f in silent] == [("no_data", "data_quality", "opened")]


def test_live_silence_counts_from_arrival_so_a_backfill_is_not_silent():
    engine = Engine(sample_config())
    a, b = engine.stream_id("P-1", "bearing_temp"), engine.stream_id("P-1", "motor_current")
    now = 10_000 * MIN  # the wall clock, far past the readings
    old = engine.process(np.array([a, b]), np.array([0, 0]), np.array([60.0, 40.0]), now_ns=now)
    assert old.findings == []  # data of an hour ago, arriving now
    later = engine.process(np.array([a]), np.array([MIN]), np.array([60.0]), now_ns=now + 20 * MIN)
    assert [(f.sensor, f.fault_mode, f.started_at.timestamp()) for f in later.findings] == [
        ("motor_current", "no_data", 0.0)
    ]  # nothing arrived from it for 20 minutes
    assert engine.silent(now + 30 * MIN, live=True) == []  # reported once; bearing_temp arrived 10 min ago


def test_replay_never_asks_the_deadman_past_the_end():
    engine = Engine(sample_config())
    sid = engine.stream_id("P-1", "motor_current")
    t = np.r_[np.arange(100), np.arange(200, 300)] * MIN  # a 100-minute hole, then data to the end
    findings = [
        f
        for _, r in engine.replay(
            np.full(len(t), sid), t, np.full(len(t), 40.0) + np.arange(len(t)) % 3, step_ns=60 * MIN
        )
        for f in r.findings
    ]
    assert [(f.fault_mode, f.status, f.started_at.timestamp()) for f in findings] == [
        ("no_data", "opened", 99 * 60),
        ("no_data", "closed", 99 * 60),
    ]


def test_live_silence_allows_a_batching_gateway_a_few_of_its_deliveries():
    engine = Engine(sample_config())
    sid = engine.stream_id("P-1", "motor_current")
    half_hour = 30 * MIN
    found = []
    for k in range(12):  # a batch of 30 one-minute readings every half hour
        t = k * half_hour + np.arange(30) * MIN
        found += engine.process(
            np.full(30, sid), t, np.full(30, 40.0) + np.arange(30) % 3, now_ns=int(t[-1]) + 5 * 10**9
        ).findings
    assert [f for f in found if f.fault_mode == "no_data"] == []  # 15 min allowed, but it is its habit
    assert engine.silent(12 * half_hour + 60 * MIN, live=True) == []  # two deliveries late: still its pace
    late = engine.silent(12 * half_hour + 100 * MIN, live=True)  # three and more: silent
    assert [(f.fault_mode, f.status) for f in late] == [("no_data", "opened")]
