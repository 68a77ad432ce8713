"""The shipped checks on what a real plant does that is not a fault: steps, starts, one-reading glitches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from faultline.detectors import DetectorsConfig, Engine

ROOT = Path(__file__).resolve().parents[2]
MIN_NS = 60 * 10**9


def shipped() -> DetectorsConfig:
    return DetectorsConfig.model_validate(yaml.safe_load((ROOT / "config" / "detectors.yaml").read_text())["detectors"])


def vibration(rng: np.random.Generator, days: float = 3.0) -> np.ndarray:
    """A variable-speed pump's vibration (mm/s, one reading a minute, 0.01 steps): set-point changes
    every few hours (vibration goes with speed squared), heavy-tailed noise."""
    n = int(days * 1440)
    speed = np.repeat(rng.choice([0.8, 0.9, 1.0], n // 240 + 1), 240)[:n]
    x = 0.9 * speed**2 * (1 + 0.03 * rng.standard_t(4, n) * np.sqrt(0.5))
    return x


def spike_findings(x: np.ndarray) -> list:
    engine = Engine(shipped())
    sid = engine.stream_id("P-1", "vibration_rms")
    findings = []
    for a in range(0, len(x), 60):  # an hour at a time, as the service sees it
        b = min(a + 60, len(x))
        findings += engine.process(np.full(b - a, sid), np.arange(a, b) * MIN_NS, np.round(x[a:b], 2)).findings
    return [f for f in findings if f.rule == "vibration_spike"]


def test_speed_steps_and_isolated_glitches_raise_no_spike_finding():
    rng = np.random.default_rng(21)
    x = vibration(rng)
    glitches = np.arange(200, len(x), 300)  # one glitch every five hours
    x[glitches] *= rng.uniform(1.5, 4.0, len(glitches))
    assert spike_findings(x) == []


def test_a_burst_of_spikes_asks_for_a_sensor_check():
    rng = np.random.default_rng(22)
    x = vibration(rng)
    burst = 2000 + np.array([0, 15, 35, 50])  # four spikes within an hour: a loose connector
    x[burst] += 5.0
    found = spike_findings(x)
    assert [f.status for f in found][:1] == ["opened"]
    assert found[0].kind == "data_quality" and found[0].fault_mode == "spike"
    assert 2000 * MIN_NS <= found[0].started_at.timestamp() * 1e9 <= 2051 * MIN_NS


def findings(x: np.ndarray, sensor: str, rule: str) -> list:
    engine = Engine(shipped())
    sid = engine.stream_id("P-1", sensor)
    out = []
    for a in range(0, len(x), 60):
        b = min(a + 60, len(x))
        out += engine.process(np.full(b - a, sid), np.arange(a, b) * MIN_NS, np.round(x[a:b], 2)).findings
    return [f for f in out if f.rule == rule]


def variable_speed(rng: np.random.Generator, days: float) -> np.ndarray:
    """Vibration of a pump on a drive (vibration with speed squared): the first two days mostly at
    80-90 % with two hours at full speed, then set-points of 80/90/100 % held 2-12 h each."""
    n = int(days * 1440)
    head, head_dwell = [0.8, 0.9, 1.0, 0.8, 0.9, 0.8], [600, 600, 120, 600, 600, 360]
    dwell = rng.integers(120, 720, n // 120)
    levels = np.concatenate([head, rng.choice([0.8, 0.9, 1.0], len(dwell))])
    speed = np.repeat(levels, np.concatenate([head_dwell, dwell]))[:n]
    return 1.2 * speed**2 * (1 + 0.03 * rng.standard_t(4, n) * np.sqrt(0.5))


def test_set_point_changes_are_not_a_drift():
    x = variable_speed(np.random.default_rng(31), days=6)
    assert findings(x, "vibration_rms", "vibration_drift") == []


def test_a_rise_above_every_set_point_is_a_drift():
    x = variable_speed(np.random.default_rng(31), days=6)
    start = 4 * 1440
    x[start:] *= 1 + np.linspace(0, 0.4, len(x) - start)  # a fault: +40 % at every speed over two days
    found = findings(x, "vibration_rms", "vibration_drift")
    assert found and found[0].status == "opened" and found[0].started_at.timestamp() * 1e9 >= start * MIN_NS
