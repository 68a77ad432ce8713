"""Detector throughput against the libraries a user would reach for, and 10,000 live streams on one core.

Run: ``.venv/bin/python bench/bench_detectors.py`` (10,000 streams × 1,000 readings, three runs of each
leg after an untimed one: about 2.5 CPU minutes, 4–7 minutes on the shared 2-core machine);
``--streams 1000 --samples 200 --repeat 1 --no-live`` for a quick look. The peers are benchmark-only
dependencies: ``pip install -e '.[bench]'``.

1. Each streaming detector in steady state — every stream has ``HISTORY`` (100) readings behind it,
   given untimed, so every window is full and every baseline learnt, as in a running service — then
   one batch of ``--samples`` readings of each of ``--streams`` streams (interleaved in rounds, as a
   polled fleet sends them) timed, against the same batch through:

   - pandas, bottleneck, SciPy, or plain numpy where no library has the detector (CUSUM), on the same
     readings laid out as a (readings, streams) array, which is a free view of the batch; each peer
     carries across batches what it needs (the window's tail, the last EWMA value, ...), prepends it
     and keeps the rows of this batch, as a user would;
   - river, one reading at a time (its model), on a subset of the streams (its cost per reading does
     not depend on the number of streams; ``[n streams]`` in the table);
   - where the only pandas route calls Python per window (``rolling.apply``), on a subset too.

   The row ``ours, live`` calls the detector with one reading per stream per call (the live tick)
   for ``--tick-rounds`` rounds: river's one-reading-at-a-time rate is set against that too.

   Printed per row: readings per CPU second (median of ``--repeat`` runs), ours / peer as a speed
   ratio (> 1: ours faster; the median over the runs of the ratio of ours and the peer timed back to
   back), the bytes of state per stream each side carries between batches, and
   ``agree``: the peer's scores equal ours within rtol 1e-6 (or how many readings differ). A peer
   marked ``≈`` computes a different statistic (a shortcut a user might take, or the nearest thing
   the library has); it is timed for scale and left out of "fastest peer". The peers compute the
   detectors' definitions as they are now (a baseline learnt from the first ``WARMUP`` readings and
   then frozen, a fixed floor on the scale): when a definition changes, its peer here must follow,
   or ``agree`` says how many readings differ.
2. 10,000 streams (2,500 pumps × 4 sensors) at one reading per second go through the Engine with
   the sample configuration's checks, one batch per simulated second; the CPU time per simulated
   second is the share of one core the detectors need to keep up.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.lib.stride_tricks import sliding_window_view

from faultline.detectors import Cusum, DetectorsConfig, Engine, Ewma, NoData, RobustZ, StuckSensor, TrendToLimit

ROOT = Path(__file__).resolve().parents[1]
HISTORY = 100  # readings per stream before the timed batch: the EWMA/CUSUM warm-up, and every window full
NS_PER_S, NS_PER_H = 10**9, 3_600 * 10**9

# The detectors' parameters (their defaults where they have one); the peers compute the same thing.
WINDOW, THRESHOLD, MIN_SCALE = 60, 6.0, 1e-6  # robust_z
MIN_PERIODS, NOISE_FLOOR, NOISE_MEMORY = 10, 0.5, 1000  # robust_z's floor on the scale (its defaults)
ALPHA, LIMIT_SIGMAS, WARMUP, MIN_STD = 0.05, 3.0, 100, 1e-6  # ewma, cusum
K, H = 0.5, 8.0  # cusum
LIMIT, HORIZON_H, MIN_POINTS, Z = 20.0, 12.0, 12, 2.0  # trend_to_limit (window WINDOW)
STUCK_WINDOW, STUCK_FACTOR, MAX_GAP_S = 30, 3.0, 300.0  # stuck_sensor, no_data


# --- the data ----------------------------------------------------------------------------------


@dataclass
class Data:
    """``HISTORY + samples`` rows of readings of ``streams`` streams: (rows, streams) arrays."""

    x: np.ndarray  # float64 readings
    ts: np.ndarray  # int64 ns
    stuck: np.ndarray  # readings with repeats (quantised streams, a frozen stretch) for stuck_sensor

    @property
    def streams(self) -> int:
        return self.x.shape[1]


def make_data(streams: int, samples: int, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    rows = HISTORY + samples
    ts = (np.arange(rows)[:, None] * 60 + rng.integers(0, 5, (rows, streams))) * NS_PER_S  # 1 min, jittered
    x = 5.0 + rng.normal(0, 0.3, (rows, streams))
    x.reshape(-1)[::97] += 4.0  # spikes
    hours = (ts - ts[0, 0]) / NS_PER_H
    rising = np.arange(streams) % 10 == 1  # a tenth of the streams rise 1/h
    x[HISTORY:, rising] += hours[HISTORY:, rising] - hours[HISTORY, rising]
    stuck = x.copy()
    quantised = np.arange(streams) % 10 == 3
    stuck[:, quantised] = np.round(stuck[:, quantised] * 2) / 2  # reports in 0.5 steps: repeats
    frozen = np.arange(streams) % 10 == 7
    stuck[HISTORY + samples // 3 : HISTORY + 2 * samples // 3, frozen] = stuck[HISTORY + samples // 3, frozen]
    return Data(x, ts.astype(np.int64), stuck)


# --- measurement helpers -----------------------------------------------------------------------


@dataclass
class Peer:
    """One way a user would compute a detector's scores with another library.

    ``setup(hist, hist_ts) -> state`` (untimed) builds what the peer carries between batches from the
    history rows; ``run(state, x, ts) -> scores`` (timed) scores the batch rows, shape (rows, streams).
    """

    name: str
    setup: Callable[[np.ndarray, np.ndarray], Any]
    run: Callable[[Any, np.ndarray, np.ndarray], np.ndarray]
    same: bool = True  # computes the detector's statistic (False: ≈, for scale only)
    subset: int | None = None  # streams it is timed on (None: all)
    state_bytes: Callable[[], float] | None = None  # measured otherwise than from the state's arrays


def _state_bytes(state: Any, streams: int) -> float:
    arrays = state if isinstance(state, tuple) else (state,)
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) / streams


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def river_bytes(kind: str) -> Callable[[], float]:
    """Resident memory per stream of river's per-stream objects for ``kind``, measured in a fresh
    process (river keeps its windows in Rust, out of tracemalloc's sight, and in this process freed
    memory would be reused)."""

    def measure() -> float:
        out = subprocess.run(
            [sys.executable, __file__, "--river-bytes", kind], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    return measure


def _print_river_bytes(kind: str, n: int = 20_000) -> None:
    hist = np.random.default_rng(0).normal(5.0, 0.3, (HISTORY, 100))
    build = {"robust_z": _river_robust, "ewma": _river_ewma, "cusum": _river_ph}[kind]
    build(hist[:, 0])  # imports and first-use allocations, outside the measurement
    gc.collect()
    before = _rss()
    kept = [build(hist[:, i % hist.shape[1]]) for i in range(n)]
    print((_rss() - before) / len(kept))


def _cpu(f: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()
    out = f()
    return time.process_time() - t0, out


def _agree(ours: np.ndarray, theirs: np.ndarray) -> str:
    ok = np.isclose(theirs, ours, rtol=1e-6, atol=1e-9)
    return "yes" if ok.all() else f"{(~ok).sum():,} of {ok.size:,} differ"


def leg(
    name: str,
    note: str,
    factory: Callable[[], Any],
    peers: list[Peer],
    data: Data,
    repeat: int,
    tick_rounds: int,
    values: np.ndarray | None = None,
) -> dict[str, Any]:
    """Time ours and each peer on the batch rows of ``data``; print the rows; return the figures."""
    x = data.x if values is None else values
    s, n = data.streams, x.shape[0] - HISTORY
    stream = np.tile(np.arange(s), HISTORY + n)
    flat_ts, flat_x = data.ts.reshape(-1), x.reshape(-1)
    cut = s * HISTORY
    warm = factory()
    warm.update(stream[:cut], flat_ts[:cut], flat_x[:cut])
    batch = (stream[cut:], flat_ts[cut:], flat_x[cut:])
    ours_bytes = sum(a[0].nbytes for a in warm.state_.values())
    hist = {p.name: (x[:HISTORY, : p.subset], data.ts[:HISTORY, : p.subset]) for p in peers}
    times: dict[str, list[float]] = {"ours": [], "ticks": [], **{p.name: [] for p in peers}}
    results: dict[str, np.ndarray] = {}
    states: dict[str, Any] = {}
    ticks = min(tick_rounds, n)
    ids = np.arange(s)

    def live_ticks(det):
        for j in range(HISTORY, HISTORY + ticks):
            det.update(ids, data.ts[j], x[j])

    # one untimed run of each first: the first use of this much memory in the process pays page faults
    for run in range(repeat + 1):  # interleaved, so load from other work falls on both sides alike
        keep = times if run else {k: [] for k in times}
        det = copy.deepcopy(warm)
        t, got = _cpu(lambda det=det: det.update(*batch))
        keep["ours"].append(t)
        results["ours"] = got.reshape(n, s)
        live = copy.deepcopy(warm)
        keep["ticks"].append(_cpu(lambda live=live: live_ticks(live))[0])
        for p in peers:
            states[p.name] = p.setup(*hist[p.name])  # afresh (untimed): river's models change as they run
            t, out = _cpu(lambda p=p: p.run(states[p.name], x[HISTORY:, : p.subset], data.ts[HISTORY:, : p.subset]))
            keep[p.name].append(t)
            results[p.name] = out
    ours_rate = s * n / statistics.median(times["ours"])
    tick_rate = s * ticks / statistics.median(times["ticks"])
    print(f"\n{name}: {note}")
    print(f"   {'':<70}{'readings/s':>13}{'ours/peer':>11}{'state B/stream':>16}  agree")
    print(
        f"   {'ours (faultline ' + type(warm).__name__ + ', the batch in one call)':<70}{ours_rate:>13,.0f}{'':>11}"
        f"{ours_bytes:>16,.0f}"
    )
    print(f"   {f'ours, live: one reading per stream per call [{ticks} calls]':<70}{tick_rate:>13,.0f}")
    figures = {"ours": ours_rate, "ticks": tick_rate, "ours_bytes": ours_bytes, "peers": {}}
    for p in peers:
        cols = s if p.subset is None else min(p.subset, s)
        rate = cols * n / statistics.median(times[p.name])
        # each run's ratio is of two back-to-back timings, so a change in the machine's load between
        # runs falls on both; the median of those is the figure
        per_run = [(tp / cols) / (to / s) for tp, to in zip(times[p.name], times["ours"])]
        ratio = statistics.median(per_run)
        nbytes = p.state_bytes() if p.state_bytes else _state_bytes(states[p.name], cols)
        label = ("" if p.same else "≈ ") + p.name + ("" if p.subset is None or p.subset >= s else f" [{cols} streams]")
        agree = _agree(results["ours"][:, :cols], results[p.name]) if p.same else "(another statistic)"
        print(f"   {label:<70}{rate:>13,.0f}{ratio:>10.2f}×{nbytes:>16,.0f}  {agree}")
        figures["peers"][p.name] = {
            "rate": rate,
            "ratio": ratio,
            "bytes": nbytes,
            "same": p.same,
            "agree": agree,
            "runs": per_run,
        }
        if p.name.startswith("river"):  # river's own model is one reading at a time: set against live calls
            print(f"   {'':<70}{'':>13}{tick_rate / rate:>10.2f}×  ours live / river")
    same = {k: v for k, v in figures["peers"].items() if v["same"]}
    if same:
        best = min(same, key=lambda k: same[k]["ratio"])
        print(f"   => ours / fastest peer ({best}): {same[best]['ratio']:.2f}×")
        figures["fastest"] = (best, same[best]["ratio"])
    return figures


# --- robust_z: |x - median| / (1.4826 MAD) over the previous WINDOW readings ---------------------


def _robust_scores(x, med, mad):
    return np.abs(x - med) / np.maximum(1.4826 * mad, MIN_SCALE) / THRESHOLD


def _tail(hist, _ts):
    return hist[-WINDOW:].copy()


def _exact_mad(a):
    return np.median(np.abs(a - np.median(a)))


def _floored_scores(state, x, med, mad):
    """Scores with the detector's floor on the standard deviation: at least the sensor's resolution
    (the smallest non-zero step between consecutive readings so far) and half the long-run noise (an
    exponentially weighted mean of the windows' standard deviations, SciPy ``lfilter`` from the
    carried value); the state advances to the batch's end."""
    from scipy import signal

    tail, res0, noise0 = state
    sigma = 1.4826 * mad
    steps = np.abs(np.diff(np.vstack([tail[-1], x]), axis=0))
    steps[steps == 0] = np.inf
    res = np.minimum.accumulate(np.vstack([res0, steps]), axis=0)[1:]
    a = 1.0 / NOISE_MEMORY
    noise = signal.lfilter([a], [1.0, a - 1.0], sigma, axis=0, zi=((1.0 - a) * noise0)[None, :])[0]
    floor = np.maximum(np.maximum(np.where(np.isfinite(res), res, 0.0), MIN_SCALE), NOISE_FLOOR * noise)
    tail[:] = np.vstack([tail, x])[-WINDOW:]
    res0[:], noise0[:] = res[-1], noise[-1]
    return np.abs(x - med) / np.maximum(sigma, floor) / THRESHOLD


def robust_setup(hist, _ts):
    """The window's tail, the resolution and the long-run noise after the history: its windows of
    ``MIN_PERIODS`` readings or more (the first ones partly filled) scored as the detector scores them."""
    steps = np.abs(np.diff(hist, axis=0))
    res = np.where(steps > 0, steps, np.inf).min(axis=0)
    a, noise = 1.0 / NOISE_MEMORY, None
    for j in range(MIN_PERIODS, len(hist)):
        w = hist[max(0, j - WINDOW) : j]
        med = np.median(w, axis=0)
        sigma = 1.4826 * np.median(np.abs(w - med), axis=0)
        noise = sigma if noise is None else a * sigma + (1.0 - a) * noise
    return hist[-WINDOW:].copy(), res, noise


def robust_pandas_apply(state, x, _ts):
    import pandas as pd

    full = pd.DataFrame(np.vstack([state[0], x])[:-1])  # a reading is scored against the ones before it
    roll = full.rolling(WINDOW)
    med = roll.median().to_numpy()[WINDOW - 1 :]
    mad = roll.apply(_exact_mad, raw=True).to_numpy()[WINDOW - 1 :]
    return _floored_scores(state, x, med, mad)


def robust_pandas_shortcut(tail, x, _ts):
    import pandas as pd

    full = pd.DataFrame(np.vstack([tail, x])[:-1])
    med = full.rolling(WINDOW).median()
    # each reading's distance to its own window's median, then their rolling median: not the MAD of
    # a window (that measures every reading of the window against that window's median)
    mad = (full - med).abs().rolling(WINDOW).median()
    return _robust_scores(x, med.to_numpy()[WINDOW - 1 :], mad.to_numpy()[WINDOW - 1 :])


def robust_bottleneck(state, x, _ts, block: int = 64):
    import bottleneck as bn

    full = np.vstack([state[0], x])[:-1]
    med = bn.move_median(full, WINDOW, axis=0)[WINDOW - 1 :]
    mad = np.empty_like(med)
    for a in range(0, full.shape[1], block):  # the deviations of every window: some streams at a time
        win = sliding_window_view(full[:, a : a + block], WINDOW, axis=0)
        mad[:, a : a + block] = bn.median(np.abs(win - med[:, a : a + block, None]), axis=-1)
    return _floored_scores(state, x, med, mad)


def robust_bottleneck_std(tail, x, _ts):
    import bottleneck as bn

    full = np.vstack([tail, x])[:-1]
    mean = bn.move_mean(full, WINDOW, axis=0)[WINDOW - 1 :]
    std = bn.move_std(full, WINDOW, axis=0, ddof=1)[WINDOW - 1 :]
    return np.abs(x - mean) / np.maximum(std, MIN_SCALE) / THRESHOLD


def _river_robust(column):
    from river import stats

    med, mad = stats.RollingQuantile(0.5, WINDOW), stats.RollingQuantile(0.5, WINDOW)
    for v in column.tolist():
        med.update(v)
        mad.update(abs(v - med.get()))
    return med, mad


def robust_river_setup(hist, _ts):
    return [_river_robust(hist[:, i]) for i in range(hist.shape[1])]


def robust_river(models, x, _ts):
    out = np.empty(x.shape)
    for i, (med, mad) in enumerate(models):
        col = out[:, i]
        for j, v in enumerate(x[:, i].tolist()):
            col[j] = abs(v - med.get()) / max(1.4826 * mad.get(), MIN_SCALE) / THRESHOLD
            med.update(v)
            mad.update(abs(v - med.get()))
    return out


def robust_peers(data: Data, subset_slow: int, subset_river: int) -> list[Peer]:
    return [
        Peer(
            "pandas rolling(60).median() + rolling.apply(MAD, raw=True), floor",
            robust_setup,
            robust_pandas_apply,
            subset=subset_slow,
        ),
        Peer("bottleneck move_median + bn.median of the windows' deviations, floor", robust_setup, robust_bottleneck),
        Peer("pandas rolling median, MAD as rolling median of |x - median|", _tail, robust_pandas_shortcut, same=False),
        Peer("bottleneck move_mean/move_std z-score (not robust)", _tail, robust_bottleneck_std, same=False),
        Peer(
            "river RollingQuantile median + RollingQuantile of |x - median|",
            robust_river_setup,
            robust_river,
            same=False,
            subset=subset_river,
            state_bytes=river_bytes("robust_z"),
        ),
    ]


# --- ewma: z = a x + (1 - a) z against the warm-up's mean and std ------------------------------


def _baseline(hist):
    w = hist[:WARMUP]
    return w.mean(axis=0), np.maximum(w.std(axis=0, ddof=1), MIN_STD)


def _ewma_scores(z, mean, std):
    return np.abs(z - mean) / (LIMIT_SIGMAS * std * np.sqrt(ALPHA / (2 - ALPHA)))


def ewma_setup(hist, _ts):
    import pandas as pd

    mean, std = _baseline(hist)
    z = pd.DataFrame(hist).ewm(alpha=ALPHA, adjust=False).mean().to_numpy()[-1]
    return z, mean, std


def ewma_pandas(state, x, _ts):
    import pandas as pd

    z0, mean, std = state
    # adjust=False is the recursion from the first row, which is the last EWMA value carried over
    z = pd.DataFrame(np.vstack([z0, x])).ewm(alpha=ALPHA, adjust=False).mean().to_numpy()[1:]
    return _ewma_scores(z, mean, std)


def ewma_scipy(state, x, _ts):
    from scipy import signal

    z0, mean, std = state
    z = signal.lfilter([ALPHA], [1.0, ALPHA - 1.0], x, axis=0, zi=((1 - ALPHA) * z0)[None, :])[0]
    return _ewma_scores(z, mean, std)


def _river_ewma(column):
    from river import stats

    e = stats.EWMean(fading_factor=ALPHA)  # river's fading factor is the weight of the new reading
    for v in column.tolist():
        e.update(v)
    return e


def ewma_river_setup(hist, ts):
    mean, std = _baseline(hist)
    return [_river_ewma(hist[:, i]) for i in range(hist.shape[1])], mean, std


def ewma_river(state, x, _ts):
    models, mean, std = state
    z = np.empty(x.shape)
    for i, e in enumerate(models):
        col = z[:, i]
        for j, v in enumerate(x[:, i].tolist()):
            e.update(v)
            col[j] = e.get()
    return _ewma_scores(z, mean, std)


def ewma_peers(data: Data, subset_river: int) -> list[Peer]:
    return [
        Peer(
            "scipy lfilter, then a vector step per reading against the trailing reference learnt per 16",
            ewma_learnt_setup,
            ewma_learnt,
            state_bytes=lambda: 8 * (BLOCK + 10),
        ),
        Peer(
            "pandas ewm(alpha, adjust=False).mean(), reference fixed after the warm-up",
            ewma_setup,
            ewma_pandas,
            same=False,
        ),
        Peer(
            "scipy signal.lfilter along the readings, reference fixed after the warm-up",
            ewma_setup,
            ewma_scipy,
            same=False,
        ),
        Peer(
            "river stats.EWMean, one reading at a time, reference fixed after the warm-up",
            ewma_river_setup,
            ewma_river,
            same=False,
            subset=subset_river,
            state_bytes=river_bytes("ewma"),
        ),
    ]


# --- cusum: tabular CUSUM on (x - mean) / std; no library has it, so what a user would write -------


def cusum_setup(hist, _ts):
    mean, std = _baseline(hist)
    zero = np.zeros(hist.shape[1])  # the history is all warm-up: nothing accumulated yet
    return mean, std, zero, zero.copy(), zero.copy(), zero.copy()


def cusum_numpy(state, x, _ts):
    """Page's CUSUM by cumulative sums (Lindley: S = C - min(0, running min of C)), both sides."""
    mean, std, up_c, up_m, down_c, down_m = state
    y = (x - mean) / std
    up = np.cumsum(y - K, axis=0) + up_c
    down = np.cumsum(-y - K, axis=0) + down_c
    s_up = up - np.minimum(np.minimum.accumulate(up, axis=0), up_m)
    s_down = down - np.minimum(np.minimum.accumulate(down, axis=0), down_m)
    return np.maximum(s_up, s_down) / H


def cusum_pandas(state, x, _ts):
    import pandas as pd

    mean, std, up_c, up_m, down_c, down_m = state
    y = (pd.DataFrame(x) - mean) / std
    up, down = (y - K).cumsum() + up_c, (-y - K).cumsum() + down_c
    s_up = up - np.minimum(up.cummin(), up_m)
    s_down = down - np.minimum(down.cummin(), down_m)
    return (np.maximum(s_up, s_down) / H).to_numpy()


def cusum_recursion(state, x, _ts):
    """S = max(0, S + y - k) a row at a time, each row one vector operation over the streams."""
    mean, std, up_c, up_m, down_c, down_m = state
    y = (x - mean) / std
    s_up, s_down = up_c - up_m, down_c - down_m
    out = np.empty(x.shape)
    for j in range(len(x)):
        s_up = np.maximum(s_up + y[j] - K, 0.0)
        s_down = np.maximum(s_down - y[j] - K, 0.0)
        out[j] = np.maximum(s_up, s_down) / H
    return out


BLOCK, WINSOR, LEARN_BELOW = 16, 4.0, 0.5  # the trailing reference (detectors/drift.py defaults)
MEMORY, RELEARN = 10 * WARMUP, WARMUP
LEARNT_AFTER = -(-WARMUP // BLOCK) * BLOCK


def _ref_state(streams):
    z = np.zeros(streams)
    return {
        "n": 0,
        "since": np.zeros(streams, np.int64),
        "sum": z.copy(),
        "sumsq": z.copy(),
        "mu": z.copy(),
        "var": z.copy(),
        "frozen": np.zeros(streams, np.int64),
        "block": np.empty((BLOCK, streams)),
        "max": z.copy(),
        "up": z.copy(),
        "down": z.copy(),
    }


def _ref_learn(st, count, scored):
    """A completed block: warm-up sums (the reference at the warm-up's end), or the trailing
    reference moved towards the block's winsorised mean and spread when its scores stayed low; a
    level held ``RELEARN`` readings is learned afresh."""
    xs = st["block"]
    warm = ~scored
    st["sum"] += np.where(warm, xs.sum(axis=0), 0.0)
    st["sumsq"] += np.where(warm, (xs * xs).sum(axis=0), 0.0)
    ends = warm & (count + BLOCK - st["since"] >= LEARNT_AFTER)
    m = float(LEARNT_AFTER)
    mean = st["sum"] / m
    st["mu"] = np.where(ends, mean, st["mu"])
    st["var"] = np.where(ends, np.maximum(st["sumsq"] - m * mean * mean, 0.0) / (m - 1), st["var"])
    mu, var = st["mu"], st["var"]
    sd = np.maximum(np.sqrt(np.maximum(var, 0.0)), MIN_STD)
    xc = np.clip(xs, mu - WINSOR * sd, mu + WINSOR * sd)
    w = min(1.0, BLOCK / MEMORY)
    accept = scored & (st["max"] < LEARN_BELOW)
    st["mu"] = np.where(accept, mu + w * (xc.mean(axis=0) - mu), mu)
    st["var"] = np.where(accept, var + w * (((xc - mu) ** 2).mean(axis=0) - var), var)
    frozen = np.where(ends | accept, 0, np.where(scored, st["frozen"] + BLOCK, st["frozen"]))
    moved = scored & (frozen >= RELEARN)
    st["since"] = np.where(moved, count + BLOCK, st["since"])
    for k in ("sum", "sumsq", "up", "down"):
        st[k] = np.where(moved, 0.0, st[k])
    st["frozen"] = np.where(moved, 0, frozen)
    st["max"][:] = 0.0


def _cusum_learnt_rows(st, x):
    """Page's recursion a row (one reading of every stream) at a time against the trailing
    reference; every stream has the same number of readings, so blocks end on the same row."""
    out = np.empty(x.shape)
    for j in range(len(x)):
        n = st["n"]
        scored = n - st["since"] >= LEARNT_AFTER
        sd = np.maximum(np.sqrt(np.maximum(st["var"], 0.0)), MIN_STD)
        y = (x[j] - st["mu"]) / sd
        st["up"] = np.where(scored, np.maximum(st["up"] + y - K, 0.0), st["up"])
        st["down"] = np.where(scored, np.maximum(st["down"] - y - K, 0.0), st["down"])
        out[j] = np.maximum(st["up"], st["down"]) / H
        st["block"][n % BLOCK] = x[j]
        np.maximum(st["max"], out[j], out=st["max"])
        st["n"] = n + 1
        if (n + 1) % BLOCK == 0:
            _ref_learn(st, n + 1 - BLOCK, scored)
    return out


def cusum_learnt_setup(hist, _ts):
    st = _ref_state(hist.shape[1])
    _cusum_learnt_rows(st, hist)
    return st


def cusum_learnt(st, x, _ts):
    return _cusum_learnt_rows(st, x)


def _ewma_learnt_rows(st, x):
    """The EWMA (scipy lfilter along the readings, from the carried value) scored a row at a time
    against the trailing reference, learnt as for the CUSUM above."""
    from scipy import signal

    z = signal.lfilter([ALPHA], [1.0, ALPHA - 1.0], x, axis=0, zi=((1 - ALPHA) * st["z"])[None, :])[0]
    st["z"] = z[-1].copy()
    out = np.empty(x.shape)
    factor = np.sqrt(ALPHA / (2.0 - ALPHA))
    for j in range(len(x)):
        n = st["n"]
        scored = n - st["since"] >= LEARNT_AFTER
        sd = np.maximum(np.sqrt(np.maximum(st["var"], 0.0)), MIN_STD)
        out[j] = np.where(scored, np.abs(z[j] - st["mu"]) / (LIMIT_SIGMAS * sd * factor), 0.0)
        st["block"][n % BLOCK] = x[j]
        np.maximum(st["max"], out[j], out=st["max"])
        st["n"] = n + 1
        if (n + 1) % BLOCK == 0:
            _ref_learn(st, n + 1 - BLOCK, scored)
    return out


def ewma_learnt_setup(hist, _ts):
    st = _ref_state(hist.shape[1])
    st["z"] = hist[0].copy()  # a stream's EWMA starts at its first reading
    _ewma_learnt_rows(st, hist)
    return st


def ewma_learnt(st, x, _ts):
    return _ewma_learnt_rows(st, x)


def _river_ph(column):
    from river import drift

    ph = drift.PageHinkley(min_instances=WARMUP, delta=K, threshold=H)
    for v in column.tolist():
        ph.update(v)
    return ph


def cusum_river(models, x, _ts):
    out = np.empty(x.shape)
    for i, ph in enumerate(models):
        col = out[:, i]
        for j, v in enumerate(x[:, i].tolist()):
            ph.update(v)
            col[j] = ph.drift_detected
    return out


def cusum_peers(data: Data, subset_river: int) -> list[Peer]:
    return [
        Peer("numpy cumsum + minimum.accumulate (Lindley form), fixed reference", cusum_setup, cusum_numpy, same=False),
        Peer("pandas cumsum() + cummin(), fixed reference", cusum_setup, cusum_pandas, same=False),
        Peer(
            "numpy recursion, one vector step per reading, trailing reference learnt per 16",
            cusum_learnt_setup,
            cusum_learnt,
            state_bytes=lambda: 8 * (BLOCK + 9),
        ),
        Peer("numpy recursion on the warm-up's reference, never relearnt", cusum_setup, cusum_recursion, same=False),
        Peer(
            "river drift.PageHinkley, one reading at a time",
            lambda h, _t: [_river_ph(h[:, i]) for i in range(h.shape[1])],
            cusum_river,
            same=False,
            subset=subset_river,
            state_bytes=river_bytes("cusum"),
        ),
    ]


# --- trend_to_limit: least-squares line over the last WINDOW readings, time to LIMIT --------------


def _trend_scores(n, mt, mv, cxx, cxy, cyy, t_now):
    """The detector's score from each window's centred sums (the formulas in detectors/trend.py)."""
    slope = cxy / np.maximum(cxx, 1e-300)
    level = mv + slope * (t_now - mt)
    se = np.sqrt(np.maximum(cyy - slope * cxy, 0.0) / max(n - 2, 1) / np.maximum(cxx, 1e-300))
    rising = slope > Z * se
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.maximum(LIMIT - level, 0.0) / slope
        score = np.where(rising, HORIZON_H / np.maximum(eta, HORIZON_H / 100), 0.0)
    return np.where(level >= LIMIT, 100.0, score)


def _trend_tail(hist, hist_ts):
    return hist[-(WINDOW - 1) :].copy(), hist_ts[-(WINDOW - 1) :].copy()


def _hours(ts, origin):
    return (ts - origin) / NS_PER_H


def trend_pandas(state, x, ts):
    import pandas as pd

    tail, tail_ts = state
    t = pd.DataFrame(_hours(np.vstack([tail_ts, ts]), tail_ts[0, 0]))
    v = pd.DataFrame(np.vstack([tail, x]))
    tr, vr = t.rolling(WINDOW), v.rolling(WINDOW)
    n = WINDOW - 1  # pandas' var and cov divide by n - 1
    cut = WINDOW - 1
    return _trend_scores(
        WINDOW,
        tr.mean().to_numpy()[cut:],
        vr.mean().to_numpy()[cut:],
        n * tr.var().to_numpy()[cut:],
        n * vr.cov(t).to_numpy()[cut:],
        n * vr.var().to_numpy()[cut:],
        t.to_numpy()[cut:],
    )


def trend_bottleneck(state, x, ts):
    import bottleneck as bn

    tail, tail_ts = state
    t = _hours(np.vstack([tail_ts, ts]), tail_ts[0, 0])
    v = np.vstack([tail, x])
    cut = WINDOW - 1

    def s(a):
        return bn.move_sum(a, WINDOW, axis=0)[cut:]

    st, sv = s(t), s(v)
    mt, mv = st / WINDOW, sv / WINDOW
    return _trend_scores(WINDOW, mt, mv, s(t * t) - st * mt, s(t * v) - st * mv, s(v * v) - sv * mv, t[cut:])


def trend_peers() -> list[Peer]:
    return [
        Peer("pandas rolling mean/var/cov, OLS from them", _trend_tail, trend_pandas),
        Peer("bottleneck move_sum of t, v, t², tv, v², OLS from them", _trend_tail, trend_bottleneck),
    ]


# --- stuck_sensor: the run of equal readings over the stream's own longest normal run --------------


def _stuck_limit(longest):
    """A run's limit: max(window, factor × the longest normal run so far)."""
    return np.maximum(float(STUCK_WINDOW), STUCK_FACTOR * longest)


def _stuck_steps(state, x):
    """One vector step per reading over all streams: a reading equal to its predecessor extends the
    run; one that differs ends it, and the run is learned as normal when it ended below the limit."""
    last, run, longest = state
    out = np.empty(x.shape)
    for j in range(len(x)):
        same = x[j] == last
        ended = np.where(same, 0, run)
        longest = np.where(ended < _stuck_limit(longest), np.maximum(longest, ended), longest)
        run = np.where(same, run + 1, 1)
        np.divide(run, _stuck_limit(longest), out=out[j])
        last = x[j]
    state[0][:], state[1][:], state[2][:] = last, run, longest
    return out


def stuck_setup(hist, _ts):
    streams = hist.shape[1]
    state = (np.full(streams, np.nan), np.zeros(streams, np.int64), np.zeros(streams, np.int64))
    _stuck_steps(state, hist)
    return state


def stuck_numpy_steps(state, x, _ts):
    return _stuck_steps(state, x)


def _stuck_scores(state, x, last_break):
    """Run lengths from the latest reading that moved (NaN: none in this batch), the longest normal
    run before each reading by a running maximum of the runs that ended below the limit, repeated
    until the limits stop moving (the limit only grows with what is learned), then the scores."""
    last, carried, start = state
    i = np.arange(len(x))[:, None]
    run = np.where(np.isnan(last_break), carried + i + 1, i - last_break + 1).astype(np.int64)
    ended = np.where(run == 1, np.vstack([carried, run[:-1]]), 0)
    longest = np.broadcast_to(start, run.shape)
    while True:
        before = np.vstack([start, longest[:-1]])
        take = np.where(ended < _stuck_limit(before), ended, 0)
        new = np.maximum.accumulate(np.vstack([start, take]), axis=0)[1:]
        if np.array_equal(new, longest):
            break
        longest = new
    last[:], carried[:], start[:] = x[-1], run[-1], longest[-1]
    return run / _stuck_limit(longest)


def stuck_pandas(state, x, _ts):
    import pandas as pd

    d = pd.DataFrame(np.vstack([state[0], x]))
    same = d.eq(d.shift()).to_numpy()[1:]
    rows = pd.DataFrame(np.broadcast_to(np.arange(len(x), dtype=float)[:, None], x.shape))
    return _stuck_scores(state, x, rows.where(~same).ffill().to_numpy())  # the latest reading that moved


def stuck_bottleneck(state, x, _ts):
    import bottleneck as bn

    moved = np.vstack([state[0], x])
    moved = moved[1:] != moved[:-1]
    return _stuck_scores(state, x, bn.push(np.where(moved, np.arange(len(x), dtype=float)[:, None], np.nan), axis=0))


def stuck_numpy(state, x, _ts):
    moved = np.vstack([state[0], x])
    moved = moved[1:] != moved[:-1]
    last_break = np.maximum.accumulate(np.where(moved, np.arange(len(x))[:, None], -1), axis=0)
    return _stuck_scores(state, x, np.where(last_break < 0, np.nan, last_break))


def stuck_window(state, x, _ts):
    """The run over a fixed window (the detector's version 1): no learning."""
    last, carried, _ = state
    moved = np.vstack([last, x])
    moved = moved[1:] != moved[:-1]
    last_break = np.maximum.accumulate(np.where(moved, np.arange(len(x))[:, None], -1), axis=0)
    i = np.arange(len(x))[:, None]
    return np.where(last_break < 0, carried + i + 1, i - last_break + 1) / STUCK_WINDOW


def stuck_peers() -> list[Peer]:
    return [
        Peer("numpy, one vector step per reading over the streams", stuck_setup, stuck_numpy_steps),
        Peer("pandas eq(shift()), where, ffill; numpy running max of normal runs", stuck_setup, stuck_pandas),
        Peer("bottleneck push of the last change; numpy running max of normal runs", stuck_setup, stuck_bottleneck),
        Peer("numpy maximum.accumulate of the last change and of normal runs", stuck_setup, stuck_numpy),
        Peer(
            "numpy maximum.accumulate of the last change, run / window (version 1)",
            stuck_setup,
            stuck_window,
            same=False,
        ),
    ]


# --- no_data: seconds since the stream's previous reading ----------------------------------------

INTERVALS, CADENCE_MEMORY = 10.0, 100  # no_data's defaults


def _no_data(state, ts):
    """Gap since the newest earlier reading over the silence allowed before it, max(MAX_GAP_S,
    INTERVALS × cadence), the cadence the exponentially weighted geometric mean of the true intervals
    (scipy lfilter along the readings, from the carried sums)."""
    from scipy import signal

    last, ew_log, ew_w = state
    seen = np.maximum.accumulate(np.vstack([last, ts]), axis=0)
    prev = seen[:-1]
    gap = np.where(prev >= 0, np.maximum(ts - prev, 0), 0) / NS_PER_S
    w = (gap > 0).astype(np.float64)
    logs = np.log10(np.where(gap > 0, gap, 1.0)) * w
    a = 1.0 / CADENCE_MEMORY
    sums = signal.lfilter(
        [a], [1.0, a - 1.0], np.stack([logs, w]), axis=1, zi=((1.0 - a) * np.stack([ew_log, ew_w]))[:, None, :]
    )[0]
    before_log = np.vstack([ew_log, sums[0, :-1]])
    before_w = np.vstack([ew_w, sums[1, :-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        cadence = np.where(before_w > 0, 10.0 ** (before_log / np.where(before_w > 0, before_w, 1.0)), 0.0)
    score = np.where(prev >= 0, gap / np.maximum(MAX_GAP_S, INTERVALS * cadence), 0.0)
    return score, (seen[-1].copy(), sums[0, -1].copy(), sums[1, -1].copy())


def no_data_setup(_hist, hist_ts):
    streams = hist_ts.shape[1]
    return list(_no_data((np.full(streams, -1, np.int64), np.zeros(streams), np.zeros(streams)), hist_ts)[1])


def no_data_numpy(state, _x, ts):
    score, state[:] = _no_data(tuple(state), ts)
    return score


def no_data_diff(state, _x, ts):
    return np.diff(np.vstack([state[0], ts]), axis=0) / NS_PER_S / MAX_GAP_S


def no_data_peers() -> list[Peer]:
    return [
        Peer(
            "numpy running max, diff, log10; scipy lfilter of the logs; 10**",
            no_data_setup,
            no_data_numpy,
            state_bytes=lambda: 24.0,
        ),
        Peer(
            "numpy diff over a fixed max gap (the detector's version 1)",
            no_data_setup,
            no_data_diff,
            same=False,
            state_bytes=lambda: 8.0,
        ),
    ]


# --- 2. live -----------------------------------------------------------------------------------


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
    print(
        f"\n2. live: {len(ids):,} streams ({n_pumps:,} motors × 4 sensors), one reading each per second, "
        f"{checks:,} stream-checks of {len(engine.check_names)} kinds and {len(engine._models):,} per-asset "
        f"multivariate models (run on each minute gathered)"
    )
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
    print(
        f"   CPU per simulated second: {per_second * 1e3:.1f} ms = {100 * per_second:.1f}% of one core "
        f"(over {seconds} s after {warm} s warm-up; {findings} findings on healthy noise)"
    )


def input_cost(data: Data, repeat: int) -> float:
    """CPU seconds of the work every detector does on a batch before its own: ``check_batch`` and
    ``Grid.of`` (median of ``repeat`` runs)."""
    from faultline.detectors.streams import Grid, check_batch

    s, n = data.streams, data.x.shape[0] - HISTORY
    stream, ts, x = np.tile(np.arange(s), n), data.ts[HISTORY:].reshape(-1), data.x[HISTORY:].reshape(-1)
    return statistics.median(_cpu(lambda: Grid.of(check_batch(stream, ts, x)[0]))[0] for _ in range(repeat + 1))


LEGS = ("robust_z", "ewma", "cusum", "trend_to_limit", "stuck_sensor", "no_data")


def peers_against(data: Data, a: argparse.Namespace, legs: tuple[str, ...]) -> dict[str, Any]:
    s = data.streams
    slow, river = min(a.slow_streams, s), min(a.river_streams, s)
    print(
        f"1. peers: {s:,} streams × {data.x.shape[0] - HISTORY:,} readings in one batch "
        f"({s * (data.x.shape[0] - HISTORY):,} readings), after {HISTORY} untimed readings per stream; "
        f"median of {a.repeat} run(s), CPU time"
    )
    cases = {
        "robust_z": (
            f"window {WINDOW}, previous readings; exact median and MAD; the scale floored at the resolution and half the long-run noise",
            lambda: RobustZ(
                window=WINDOW,
                threshold=THRESHOLD,
                min_scale=MIN_SCALE,
                min_periods=MIN_PERIODS,
                noise_floor=NOISE_FLOOR,
                noise_memory=NOISE_MEMORY,
            ),
            lambda: robust_peers(data, slow, river),
            None,
        ),
        "ewma": (
            f"alpha {ALPHA}, baseline from the first {WARMUP} readings",
            lambda: Ewma(
                alpha=ALPHA,
                limit_sigmas=LIMIT_SIGMAS,
                warmup=WARMUP,
                min_std=MIN_STD,
                memory=MEMORY,
                learn_below=LEARN_BELOW,
                relearn_after=RELEARN,
            ),
            lambda: ewma_peers(data, river),
            None,
        ),
        "cusum": (
            (
                f"k {K}, h {H}; no library has Page's CUSUM on a learnt baseline: what a user writes, and "
                "river's Page-Hinkley (a CUSUM on the running mean)"
            ),
            lambda: Cusum(
                k=K, h=H, warmup=WARMUP, min_std=MIN_STD, memory=MEMORY, learn_below=LEARN_BELOW, relearn_after=RELEARN
            ),
            lambda: cusum_peers(data, river),
            None,
        ),
        "trend_to_limit": (
            f"OLS over the last {WINDOW} readings, limit {LIMIT}, horizon {HORIZON_H} h",
            lambda: TrendToLimit(limit=LIMIT, horizon_h=HORIZON_H, window=WINDOW, min_points=MIN_POINTS, z=Z),
            trend_peers,
            None,
        ),
        "stuck_sensor": (
            f"run over max(window {STUCK_WINDOW}, {STUCK_FACTOR:g} × the stream's longest normal run); quantised and frozen streams among the noisy ones",
            lambda: StuckSensor(window=STUCK_WINDOW, factor=STUCK_FACTOR),
            stuck_peers,
            data.stuck,
        ),
        "no_data": (
            f"max gap {MAX_GAP_S:.0f} s, {INTERVALS:g} × the stream's own cadence",
            lambda: NoData(max_gap_s=MAX_GAP_S, intervals=INTERVALS, memory=CADENCE_MEMORY),
            no_data_peers,
            None,
        ),
    }
    out = {}
    for name in legs:
        note, factory, peers, values = cases[name]
        out[name] = leg(name, note, factory, peers(), data, a.repeat, a.tick_rounds, values)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=1_000, help="readings per stream in the timed batch")
    p.add_argument("--repeat", type=int, default=3, help="runs of each leg; the median is printed")
    p.add_argument("--legs", default=",".join(LEGS), help=f"comma-separated, of {', '.join(LEGS)}")
    p.add_argument("--slow-streams", type=int, default=100, help="streams for pandas' rolling.apply")
    p.add_argument("--river-streams", type=int, default=200, help="streams for river, one reading at a time")
    p.add_argument("--pumps", type=int, default=2500)
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--warm", type=int, default=30)
    p.add_argument("--tick-rounds", type=int, default=20, help="live calls (one reading per stream) timed per leg")
    p.add_argument("--no-live", action="store_true", help="skip section 2")
    p.add_argument("--river-bytes", help=argparse.SUPPRESS)  # internal: measure river's state in a fresh process
    a = p.parse_args()
    if a.river_bytes:
        return _print_river_bytes(a.river_bytes)
    legs = tuple(x for x in a.legs.split(",") if x)
    unknown = set(legs) - set(LEGS)
    if unknown:
        p.error(f"unknown legs {sorted(unknown)}; choose from {', '.join(LEGS)}")
    import bottleneck
    import pandas
    import river

    print(
        f"pandas {pandas.__version__}, bottleneck {bottleneck.__version__}, river {river.__version__}, "
        f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f} at start"
    )
    data = make_data(a.streams, a.samples)
    figures = peers_against(data, a, legs)
    layout = input_cost(data, a.repeat)
    print(
        f"\nof ours' time on each batch, {layout * 1e3:.1f} ms (CPU) is checking the input (finite values, ids) "
        "and finding its layout (rounds of the same streams): peers are handed the (readings, streams) array"
    )
    print("\nsummary: ours / fastest peer computing the same scores (> 1: ours faster); the ratio of each run")
    for name, f in figures.items():
        if "fastest" in f:
            best = f["fastest"][0]
            runs = ", ".join(f"{r:.2f}" for r in f["peers"][best]["runs"])
            print(f"   {name:<16}{f['fastest'][1]:>7.2f}×  (runs {runs}; {best})")
    print(f"load average {os.getloadavg()[0]:.2f} at the end of section 1")
    if not a.no_live:
        live(a.pumps, a.seconds, a.warm)


if __name__ == "__main__":
    main()
