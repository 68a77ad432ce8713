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


def bearing(rng: np.random.Generator, days: float, ambient: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bearing temperature, motor current), one reading a minute: a load that follows the working
    day, a bearing 20 °C over ambient at full load with a half-hour thermal lag, a 6 °C daily swing
    of the ambient (plus ``ambient``, per minute), a 0.1 °C transmitter."""
    n = int(days * 1440)
    hour = np.arange(n) / 60 % 24
    load = 0.75 + 0.2 * np.sin(2 * np.pi * (hour - 8) / 24) + 0.02 * rng.standard_normal(n)
    current = 60 * (0.3 + 0.7 * load)
    heat = 20 * (0.25 + 0.75 * load * load)
    a = 1 / 30
    lagged = np.empty(n)
    lagged[0] = heat[0]
    for i in range(1, n):
        lagged[i] = lagged[i - 1] + a * (heat[i] - lagged[i - 1])
    air = 22 + 3 * np.sin(2 * np.pi * (hour - 9) / 24) + (0 if ambient is None else ambient)
    temp = np.round(air + lagged + 0.03 * rng.standard_normal(n), 1)
    return temp, np.round(current, 1)


def temp_findings(temp: np.ndarray, current: np.ndarray) -> list:
    engine = Engine(shipped())
    t_id, c_id = engine.stream_id("P-1", "bearing_temp"), engine.stream_id("P-1", "motor_current")
    out = []
    for a in range(0, len(temp), 60):
        b = min(a + 60, len(temp))
        ts = np.arange(a, b) * MIN_NS
        out += engine.process(
            np.concatenate([np.full(b - a, c_id), np.full(b - a, t_id)]),
            np.concatenate([ts, ts]),
            np.concatenate([current[a:b], temp[a:b]]),
        ).findings
    out += engine.flush()
    return [f for f in out if f.rule == "temp_vs_load"]


def test_a_change_of_season_is_not_a_hot_bearing():
    """The plant room warms 0.5 °C a day for three weeks (12 °C in all): the load explains none of it,
    and it is no fault. A reference fixed in the first two days alarmed from day 18."""
    days = 26
    season = np.maximum(np.arange(days * 1440) / 1440 - 2, 0) * 0.5
    temp, current = bearing(np.random.default_rng(41), days, season)
    assert temp_findings(temp, current) == []


def test_a_bearing_running_hot_for_its_load_is_still_found():
    """Friction heat of 15 °C building up over twelve hours on day 7 (lubricant lost): found within two
    days (the residual is smoothed over a day), as with the reference fixed at the start."""
    days = 10
    temp, current = bearing(np.random.default_rng(42), days)
    start = 7 * 1440
    temp[start:] += np.minimum(np.arange(days * 1440 - start) / 720, 1.0) * 15
    found = temp_findings(temp, current)
    assert found and found[0].status == "opened"
    assert start * MIN_NS <= found[0].started_at.timestamp() * 1e9 <= (start + 2 * 1440) * MIN_NS
