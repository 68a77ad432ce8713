"""Detector throughput against a per-sample Python loop, and 10,000 live streams on one core.

Run: ``.venv/bin/python bench/bench_detectors.py`` (about half a minute on the 2-core machine).

1. For each streaming detector, the same readings (interleaved streams) go through (a) a
   straightforward per-sample Python loop with per-stream state in dicts, (b) the detector called
   once per reading (what a service that does not batch would do) and (c) the vectorised detector
   in one call on fresh state; the results are compared (they must agree) and readings/s and the
   ratios printed ((a) and (c) best of three, on a shared machine).
1b. The windowed detectors (robust_z, trend_to_limit) in steady state: both sides first take 60
   readings per stream untimed, so every window is full, as in a running service.
2. 10,000 streams (2,500 pumps × 4 sensors) at one reading per second go through the Engine with
   the sample configuration's checks, one batch per simulated second; the CPU time per simulated
   second is the share of one core the detectors need to keep up.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict, deque
from pathlib import Path

import numpy as np
import yaml

from detectors import (Cusum, DetectorsConfig, Engine, Ewma, IsoZones, NoData, RobustZ, StaticLimit, StuckSensor,
                       TrendToLimit)

ROOT = Path(__file__).resolve().parents[1]
# EWMA and CUSUM learn their baseline from this many readings of a stream; it is below the run's
# readings per stream so that most readings are scored (with the detectors' default of 100 and 100
# readings per stream, both sides would only ever learn and score 0).
WARMUP = 20


# --- the per-sample loops: what someone would write first --------------------------------------

def loop_static(stream, ts, value, high=10.0):
    return [1.0 + (v - high) / abs(high) for v in value.tolist()]


def loop_iso(stream, ts, value, bc=7.0):
    return [v / bc for v in value.tolist()]


def loop_robust_z(stream, ts, value, window=60, threshold=6.0, min_periods=10, min_scale=1e-6):
    hist = defaultdict(lambda: deque(maxlen=window))
    out = []
    for s, v in zip(stream.tolist(), value.tolist()):
        h = hist[s]
        if len(h) >= min_periods:
            srt = sorted(h)
            med = _median(srt)
            mad = _median(sorted(abs(x - med) for x in srt))
            out.append(abs(v - med) / max(1.4826 * mad, min_scale) / threshold)
        else:
            out.append(0.0)
        h.append(v)
    return out


def _median(srt):
    n = len(srt)
    return 0.5 * (srt[(n - 1) // 2] + srt[n // 2])


def _baseline_loop(stream, value, warmup, min_std, each):
    state = defaultdict(lambda: [0, 0.0, 0.0])
    out = []
    for s, v in zip(stream.tolist(), value.tolist()):
        st = state[s]
        if st[0] < warmup:
            st[1] += v
            st[2] += v * v
        st[0] += 1
        k = min(st[0], warmup)
        mean = st[1] / k
        std = max(math.sqrt(max((st[2] - k * mean * mean) / max(k - 1, 1), 0.0)), min_std)
        out.append(each(s, v, mean, std, st[0] > warmup))
    return out


def loop_ewma(stream, ts, value, alpha=0.05, limit_sigmas=3.0, warmup=WARMUP, min_std=1e-6):
    z = {}

    def each(s, v, mean, std, scored):
        z[s] = v if s not in z else alpha * v + (1 - alpha) * z[s]
        width = limit_sigmas * std * math.sqrt(alpha / (2 - alpha))
        return abs(z[s] - mean) / width if scored else 0.0
    return _baseline_loop(stream, value, warmup, min_std, each)


def loop_cusum(stream, ts, value, k=0.5, h=8.0, warmup=WARMUP, min_std=1e-6):
    up, down = defaultdict(float), defaultdict(float)

    def each(s, v, mean, std, scored):
        if scored:
            y = (v - mean) / std
            up[s] = max(0.0, up[s] + y - k)
            down[s] = max(0.0, down[s] - y - k)
        return max(up[s], down[s]) / h
    return _baseline_loop(stream, value, warmup, min_std, each)


def loop_trend(stream, ts, value, limit=20.0, horizon_h=12.0, window=60, min_points=12, z=2.0):
    hist = defaultdict(lambda: deque(maxlen=window))
    out = []
    for s, t, v in zip(stream.tolist(), ts.tolist(), value.tolist()):
        h = hist[s]
        h.append((t, v))
        n = len(h)
        score = 0.0
        if n >= min_points:
            tt = [(ti - t) / 3.6e12 for ti, _ in h]
            vv = [vi for _, vi in h]
            tm, vm = sum(tt) / n, sum(vv) / n
            sxx = sum((a - tm) ** 2 for a in tt)
            if sxx > 0:
                slope = sum((a - tm) * (b - vm) for a, b in zip(tt, vv)) / sxx
                level = vm - slope * tm
                res = sum((b - vm - slope * (a - tm)) ** 2 for a, b in zip(tt, vv))
                se = math.sqrt(res / max(n - 2, 1) / sxx)
                if level >= limit:
                    score = 100.0
                elif slope > z * se:
                    eta = max(limit - level, 0.0) / slope
                    score = horizon_h / max(eta, horizon_h / 100)
        out.append(score)
    return out


def loop_stuck(stream, ts, value, window=30, tolerance=0.0):
    last, run = {}, defaultdict(int)
    out = []
    for s, v in zip(stream.tolist(), value.tolist()):
        run[s] = run[s] + 1 if s in last and abs(v - last[s]) <= tolerance else 1
        last[s] = v
        out.append(run[s] / window)
    return out


def loop_no_data(stream, ts, value, max_gap_s=300.0):
    last = {}
    out = []
    for s, t in zip(stream.tolist(), ts.tolist()):
        out.append((t - last[s]) / 1e9 / max_gap_s if s in last else 0.0)
        last[s] = t
    return out


CASES = {
    "static_limit": (lambda: StaticLimit(high=10.0), loop_static),
    "iso_zones": (lambda: IsoZones(ab=5.6, bc=7.0, cd=9.0), loop_iso),
    "robust_z": (lambda: RobustZ(window=60), loop_robust_z),
    "ewma": (lambda: Ewma(warmup=WARMUP), loop_ewma),
    "cusum": (lambda: Cusum(warmup=WARMUP), loop_cusum),
    "trend_to_limit": (lambda: TrendToLimit(limit=20.0, horizon_h=12, window=60), loop_trend),
    "stuck_sensor": (lambda: StuckSensor(window=30), loop_stuck),
    "no_data": (lambda: NoData(max_gap_s=300), loop_no_data),
}


def readings(n_streams: int, per_stream: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    stream = np.tile(np.arange(n_streams), per_stream)
    ts = (np.repeat(np.arange(per_stream), n_streams) * 60 + rng.integers(0, 5, n_streams * per_stream)) * 10**9
    value = 5.0 + rng.normal(0, 0.3, len(stream))
    value[::97] += 4.0
    return stream, ts.astype(np.int64), value


def throughput(n_streams: int, per_stream: int) -> None:
    stream, ts, value = readings(n_streams, per_stream)
    n = len(value)
    print(f"1. throughput: {n_streams} streams × {per_stream} readings = {n:,} readings per run")
    print("   (a) pure-Python loop, per-stream state in dicts; (b) the same detector called once per reading;")
    print("   ours: one call for the whole batch. Readings per CPU second; ratios ours / baseline.")
    print(f"   {'detector':<16}{'(a) loop':>12}{'(b) per call':>14}{'ours':>14}{'vs (a)':>9}{'vs (b)':>9}  agree")
    k = min(n, 3000)
    for name, (factory, loop) in CASES.items():
        t_loop = math.inf
        for _ in range(3):  # best of three on both sides: the machine is shared
            t0 = time.process_time()
            expected = np.asarray(loop(stream, ts, value))
            t_loop = min(t_loop, time.process_time() - t0)
        one = factory()
        t0 = time.process_time()
        singles = [one.update(stream[i:i + 1], ts[i:i + 1], value[i:i + 1])[0] for i in range(k)]
        t_single = (time.process_time() - t0) * n / k
        t_vec = math.inf
        for _ in range(3):
            det = factory()
            t0 = time.process_time()
            got = det.update(stream, ts, value)
            t_vec = min(t_vec, time.process_time() - t0)
        agree = np.allclose(got, expected, rtol=1e-7, atol=1e-9) and np.array_equal(got[:k], singles)
        print(f"   {name:<16}{n / t_loop:>12,.0f}{n / t_single:>14,.0f}{n / t_vec:>14,.0f}"
              f"{t_loop / t_vec:>8.1f}×{t_single / t_vec:>8.0f}×  {agree}")


def _best_cpu(f, *args, repeat: int = 3):
    """(fewest CPU seconds of ``repeat`` calls, the last result)."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.process_time()
        result = f(*args)
        best = min(best, time.process_time() - t0)
    return best, result


def steady(n_streams: int, per_stream: int, windowed=("robust_z", "trend_to_limit")) -> None:
    """The windowed detectors once every stream's window is full (the state of a running service).

    A fresh detector, as in section 1, scores the first ``window`` readings of each stream over
    partial windows, which is cheaper for the loop; here both sides first take 60 readings per
    stream untimed. The loop keeps its state inside, so its time is that of all readings minus
    that of the warm-up ones (best of three of each).
    """
    warm = 60
    stream, ts, value = readings(n_streams, per_stream + warm)
    k = n_streams * warm
    n = len(value) - k
    print(f"\n1b. steady state: the same {n:,} readings after {warm} untimed readings per stream")
    for name in windowed:
        factory, loop = CASES[name]
        t_all, expected = _best_cpu(loop, stream, ts, value)
        t_warm, _ = _best_cpu(loop, stream[:k], ts[:k], value[:k])

        def ours():
            det = factory()
            det.update(stream[:k], ts[:k], value[:k])
            t0 = time.process_time()
            got = det.update(stream[k:], ts[k:], value[k:])
            return time.process_time() - t0, got
        t_ours, got = min((ours() for _ in range(3)), key=lambda r: r[0])
        agree = np.allclose(got, np.asarray(expected)[k:], rtol=1e-7, atol=1e-9)
        print(f"   {name:<16}{n / (t_all - t_warm):>12,.0f}{'':>14}{n / t_ours:>14,.0f}"
              f"{(t_all - t_warm) / t_ours:>8.1f}×{'':>9}  {agree}")


def live(n_pumps: int, seconds: int, warm: int) -> None:
    data = yaml.safe_load((ROOT / "config" / "detectors.yaml").read_text())["detectors"]
    for i in range(n_pumps):
        data["assets"][f"P{i:05d}"] = {"class": "motor", "iso_group": "2-rigid"}
    engine = Engine(DetectorsConfig.model_validate(data))
    sensors = ["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current"]
    level = np.array([2.0, 1.0, 55.0, 40.0])
    ids = engine.stream_ids((f"P{i:05d}", s) for i in range(n_pumps) for s in sensors)
    base = np.tile(level, n_pumps)
    rng = np.random.default_rng(1)
    checks = sum(s.member[ids].sum() for s in engine._slots.values())
    print(f"\n2. live: {len(ids):,} streams ({n_pumps:,} motors × 4 sensors), one reading each per second, "
          f"{checks:,} stream-checks of {len(engine.check_names)} kinds and {len(engine._models):,} per-asset "
          f"multivariate models (run on each minute gathered)")
    cpu = 0.0
    findings = 0
    for sec in range(warm + seconds):
        ts = np.full(len(ids), sec * 10**9, dtype=np.int64)
        value = base * (1 + rng.normal(0, 0.01, len(ids)))
        t0 = time.process_time()
        r = engine.process(ids, ts, value)
        engine.silent(sec * 10**9)
        if sec >= warm:
            cpu += time.process_time() - t0
        findings += len(r.findings)
    per_second = cpu / seconds
    print(f"   CPU per simulated second: {per_second * 1e3:.1f} ms = {100 * per_second:.1f}% of one core "
          f"(over {seconds} s after {warm} s warm-up; {findings} findings on healthy noise)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--per-stream", type=int, default=100)
    p.add_argument("--pumps", type=int, default=2500)
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--warm", type=int, default=30)
    a = p.parse_args()
    throughput(a.streams, a.per_stream)
    steady(a.streams, a.per_stream)
    live(a.pumps, a.seconds, a.warm)


if __name__ == "__main__":
    main()
