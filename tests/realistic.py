"""Seeded generator of plant-like CSV files with labelled anomalies, for judging the generic checks.

Two kinds, shaped after the data the defaults must hold on:

- ``rig``: one machine, 8 correlated sensors at 1 s, ~1,200 rows, normal at the start. A hidden
  load drives every sensor (with its own gain and lag); sensors are quantised to their resolution
  (0.01 to 1 unit), noise is heavy-tailed (Student t, 3 degrees of freedom), with isolated glitches.
  One or two operating-point steps that are NOT faults move the load. One labelled fault of 60-300
  rows: a step on one sensor (valve), a broken relation (a sensor stops following the load), a
  ramp, or a noise burst (cavitation), of varied size.
- ``server``: one metric at ~5 min with jitter, ~4,000 rows, daily and weekly cycles, a slow trend,
  heavy-tailed noise, integer quantisation; one to three labelled anomalies (spike, level shift,
  variance burst, flatline of the cycle), each labelled with a window around its start as the
  published benchmarks do.

TUNING_SEEDS are the only ones defaults may be tuned on; EVALUATION_SEEDS are reported, never tuned.
"""

from __future__ import annotations

import numpy as np

TUNING_SEEDS = tuple(range(0, 10))
EVALUATION_SEEDS = tuple(range(1000, 1010))
_NS = 10**9
# the 8-sensor rigs: how much each sensor moves with the load, where it sits, its lag in readings
_GAIN = np.array([0.03, 0.025, 1.5, 0.4, 2.0, 2.5, 0.0, 30.0])
_BASE = np.array([0.2, 0.26, 2.0, 0.5, 70.0, 28.0, 230.0, 32.0])
_LAG = np.array([1, 1, 1, 2, 60, 40, 1, 3], dtype=float)


def rig(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(ts ns (n,), {sensor: values (n,)}, label (n,) bool) of one pump-rig-like file."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1000, 1500))
    ts = (1_600_000_000 + np.arange(n)) * _NS
    load = np.full(n, 1.0)
    for _ in range(int(rng.integers(1, 3))):  # operating-point steps, not faults
        at = int(rng.integers(150, n - 100))
        load[at:] += rng.choice([-1, 1]) * rng.uniform(0.1, 0.3)
    load += np.cumsum(rng.normal(0, 0.002, n))  # slow wander
    names = ["accel1", "accel2", "current", "pressure", "temperature", "thermocouple", "voltage", "flow"]
    gain, base, lag = _GAIN, _BASE, _LAG
    noise = np.array([0.004, 0.005, 0.05, 0.01, 0.05, 0.08, 0.5, 0.6])
    res = np.array([0.0001, 0.0001, 0.01, 0.01, 0.1, 0.1, 1.0, 1.0])
    x = np.empty((n, 8))
    for j in range(8):
        a = 1.0 / lag[j]
        follow = np.empty(n)
        acc = load[0]
        for i in range(n):  # first-order lag behind the load
            acc += a * (load[i] - acc)
            follow[i] = acc
        x[:, j] = base[j] + gain[j] * follow + noise[j] * rng.standard_t(3, n)
    for _ in range(int(rng.integers(0, 3))):  # isolated glitches, not labelled
        x[int(rng.integers(0, n)), int(rng.integers(0, 8))] += rng.choice([-1, 1]) * 8 * noise[0]
    label = np.zeros(n, dtype=bool)
    start = int(rng.integers(max(400, n // 3), n - 320))
    length = int(rng.integers(60, 300))
    end = start + length
    kind = rng.choice(["step", "relation", "ramp", "burst"])
    size = rng.uniform(3, 8)
    j = int(rng.choice([0, 2, 3, 7]))
    if kind == "step":
        x[start:end, j] += size * noise[j] * rng.choice([-1, 1])
    elif kind == "relation":  # flow stops following the load
        x[start:end, 7] = x[start, 7] + noise[7] * rng.standard_t(3, length)
        x[start:end, 3] += 0.02 * size  # pressure builds a little
    elif kind == "ramp":
        x[start:end, j] += np.linspace(0, size * 1.5 * noise[j], length)
    else:  # cavitation: vibration gets rough
        x[start:end, 0] += size * 0.6 * noise[0] * np.abs(rng.standard_t(3, length))
        x[start:end, 1] += size * 0.6 * noise[1] * np.abs(rng.standard_t(3, length))
    label[start:end] = True
    x = np.round(x / res) * res
    return ts, dict(zip(names, x.T)), label


def server(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(ts ns (n,), {"value": (n,)}, label (n,) bool) of one server-metric-like file; label = windows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3000, 5000))
    step = 300 + rng.integers(-30, 31, n)
    ts = (1_400_000_000 + np.cumsum(step)) * _NS
    t_h = (ts - ts[0]) / _NS / 3600
    amp = rng.uniform(5, 30)
    level = rng.uniform(20, 200)
    y = (
        level
        + amp * np.sin(2 * np.pi * t_h / 24 + rng.uniform(0, 6))
        + 0.3 * amp * (((t_h // 24) % 7) >= 5)
        + rng.uniform(-0.001, 0.001) * level * t_h
        + rng.uniform(0.02, 0.08) * amp * rng.standard_t(3, n)
    )
    k = int(rng.integers(1, 4))
    starts = np.sort(rng.choice(np.arange(600, n - 300), k, replace=False))
    window = int(0.1 * n / k)
    label = np.zeros(n, dtype=bool)
    for s in starts:
        kind = rng.choice(["spike", "shift", "burst", "flat"])
        if kind == "spike":
            y[s] += rng.choice([-1, 1]) * rng.uniform(1.0, 2.5) * amp
        elif kind == "shift":
            y[s:] += rng.choice([-1, 1]) * rng.uniform(0.5, 1.5) * amp
        elif kind == "burst":
            d = int(rng.integers(12, 60))
            y[s : s + d] += rng.normal(0, rng.uniform(0.4, 1.0) * amp, d)
        else:
            d = int(rng.integers(36, 120))
            y[s : s + d] = y[s]
        label[max(0, s - window // 2) : s + window // 2] = True  # the window is centred on the start
    return ts, {"value": np.round(y)}, label


def write_csv(
    path, ts: np.ndarray, columns: dict[str, np.ndarray], label: np.ndarray | None = None, delimiter: str = ","
) -> None:
    """Write a file as a user would have it: ISO timestamps, one column per sensor, optional label."""
    iso = np.datetime_as_string(ts.astype("datetime64[ns]").astype("datetime64[s]"), unit="s")
    with open(path, "w") as fh:
        fh.write(delimiter.join(["datetime", *columns, *(["anomaly"] if label is not None else [])]) + "\n")
        cols = list(columns.values())
        for i in range(len(ts)):
            cells = [iso[i].replace("T", " "), *(f"{c[i]:.6g}" for c in cols)]
            if label is not None:
                cells.append(str(int(label[i])))
            fh.write(delimiter.join(cells) + "\n")


def pump(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(ts ns (n,), {sensor: values (n,)}, label (n,) bool) of one pump-test-rig file, fault sustained.

    Shaped after the public pump test rigs: ~1,000-1,200 rows at 1 s, 8 sensors named as such rigs
    name them, the first part normal, then one fault that lasts minutes (25-45% of the file) and may
    end before the file does. Sensors follow a hidden load with their own gain and lag, the motor
    warms slowly, noise is mostly Gaussian with occasional glitches, values are quantised. Half the
    files have an operating-point step (a set point changed: every sensor follows the load, not a
    fault) in the normal part, in a plant whose load also swings slowly, so that how the sensors
    move together can be learnt before the step. Faults:

    - ``valve``: a valve closed part way: flow drops, pressure rises, current falls a little;
    - ``cavitation``: vibration rough and higher, flow unsteady;
    - ``relation``: the flow meter reads a load it no longer follows (pressure builds);
    - ``leak``: pressure sags and flow rises slightly, a slow start over half a minute.
    """
    rng = np.random.default_rng(seed + 50_000)
    n = int(rng.integers(1000, 1200))
    ts = (1_580_000_000 + np.arange(n)) * _NS
    start = int(rng.integers(int(0.4 * n), int(0.55 * n)))
    length = int(rng.uniform(0.25, 0.45) * n)
    end = min(n, start + length)
    load = np.full(n, 1.0)
    if rng.random() < 0.5:  # a set point changed: not a fault
        at = int(rng.integers(250, start - 60))
        load[at:] += rng.choice([-1, 1]) * rng.uniform(0.1, 0.25)
        # and the load swung before, so how the sensors move together could be seen
        load += rng.uniform(0.04, 0.08) * np.sin(2 * np.pi * np.arange(n) / rng.uniform(120, 300))
    load += np.cumsum(rng.normal(0, 0.001, n))
    names = [
        "Accelerometer1RMS",
        "Accelerometer2RMS",
        "Current",
        "Pressure",
        "Temperature",
        "Thermocouple",
        "Voltage",
        "Volume Flow RateRMS",
    ]
    gain, base, lag = _GAIN, _BASE, _LAG
    noise = np.array([0.004, 0.005, 0.05, 0.02, 0.05, 0.08, 1.0, 0.5])
    res = np.array([0.0001, 0.0001, 0.001, 0.0544, 0.01, 0.01, 0.01, 1.0])
    follow = np.empty((n, 8))
    acc = np.full(8, load[0])
    for i in range(n):  # first-order lag behind the load
        acc += (load[i] - acc) / lag
        follow[i] = acc
    x = base + gain * follow + noise * rng.normal(0, 1, (n, 8))
    x[:, 4] += np.linspace(0, rng.uniform(1, 4), n)  # the motor warms through the run
    x[:, 5] += np.linspace(0, rng.uniform(0.2, 1.0), n)
    for _ in range(int(rng.integers(0, 4))):  # isolated glitches, not labelled
        j = int(rng.integers(0, 8))
        x[int(rng.integers(0, n)), j] += rng.choice([-1, 1]) * 6 * noise[j]
    kind = rng.choice(["valve", "cavitation", "relation", "leak"])
    size = rng.uniform(2, 5)
    k = end - start
    if kind == "valve":
        x[start:end, 7] -= size * noise[7]
        x[start:end, 3] += 0.6 * size * noise[3]
        x[start:end, 2] -= 0.5 * size * noise[2]
    elif kind == "cavitation":
        x[start:end, 0] += size * noise[0] * (0.5 + np.abs(rng.normal(0, 1, k)))
        x[start:end, 1] += size * noise[1] * (0.5 + np.abs(rng.normal(0, 1, k)))
        x[start:end, 7] += size * noise[7] * rng.normal(0, 1, k)
    elif kind == "relation":
        x[start:end, 7] = x[start, 7] + noise[7] * rng.normal(0, 1, k)
        load[start:end] += np.linspace(0, rng.choice([-1, 1]) * 0.15, k)  # the load moves; flow does not
        x[start:end, 2] += gain[2] * (load[start:end] - load[start])
        x[start:end, 3] += 0.5 * size * noise[3]
    else:
        ramp = np.minimum(np.arange(k) / 30.0, 1.0)
        x[start:end, 3] -= size * noise[3] * ramp
        x[start:end, 7] += 0.7 * size * noise[7] * ramp
    label = np.zeros(n, dtype=bool)
    label[start:end] = True
    x = np.round(x / res) * res
    return ts, dict(zip(names, x.T)), label
