"""How the default `faultline score` checks do on plant-like files, against a trailing z-score.

    python bench/score_quality.py [--seeds tuning|evaluation|both] [--kind pump,rig,server,sim]

Kinds of file (all generated here; no public benchmark is fetched):

- ``pump``: pump-test-rig-like files (`tests/realistic.py` ``pump``): 8 sensors at 1 s, ~1,100 rows,
  normal first, then one sustained fault (valve, cavitation, broken relation, leak) lasting minutes;
  half the files change operating point (not a fault) before it. Judged per row, as such rigs are.
- ``rig``: the harsher 8-sensor rig (``rig``: Student-t noise, 60-300-row faults).
- ``server``: one metric at ~5 min (``server``), daily and weekly cycles, trend, heavy tails, spikes,
  level shifts; labelled with windows centred on each anomaly's start, as the published
  univariate benchmarks label theirs. Judged with the NAB standard profile.
- ``sim``: `faultline simulate --mode hard --duration 14d --period 5m --out DIR` (tuning seeds 1-5,
  evaluation seeds 101-110), each asset's file scored alone; rows between an equipment fault's
  onset and its failure are the anomaly; rows of a sensor fault (data quality) are left out.

For each kind and seed set, per detector (ours: the `flag` column; the trailing z-score: |z| > 3
against the previous 100 rows, any sensor, and the same at 4 and 5; on ``server`` also ours with
``--seasons``):

- ``FAR``: normal rows flagged / normal rows; ``MAR``: anomalous rows not flagged / anomalous rows;
- ``F1``: row-level, of the flag against the label;
- ``caught``: labelled anomalies (contiguous runs) with a flag inside;
- ``false ep``: flag episodes that start outside every label, per file;
- ``NAB``: the Numenta Anomaly Benchmark standard-profile score over all the files of the set,
  normalised so that never flagging scores 0 and flagging each window at its first row scores 100
  (`nab_score`).

Tune only on the tuning seeds; the evaluation seeds are reported, never tuned on.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faultline.service.scoring import read_table, score_table  # noqa: E402
from tests.realistic import EVALUATION_SEEDS, TUNING_SEEDS, pump, rig, server, write_csv  # noqa: E402

SIM_SEEDS = {"tuning": (1, 2, 3, 4, 5), "evaluation": tuple(range(101, 111))}
DETECTORS = ("ours", "ours+seasons", "z>3", "z>4", "z>5")


def trailing_z(columns: dict[str, np.ndarray], window: int = 100, limit: float = 3.0) -> np.ndarray:
    """Rows where some sensor is more than ``limit`` standard deviations from its previous ``window`` rows."""
    flag = np.zeros(len(next(iter(columns.values()))), dtype=bool)
    for x in columns.values():
        x = np.asarray(x, dtype=np.float64)
        ok = np.isfinite(x)
        x = np.where(ok, x, np.nan)
        filled = np.where(ok, x, 0.0)
        c = np.concatenate([[0.0], np.cumsum(filled)])
        c2 = np.concatenate([[0.0], np.cumsum(filled * filled)])
        k = np.concatenate([[0], np.cumsum(ok)])
        i = np.arange(window, len(x))
        cnt = np.maximum(k[i] - k[i - window], 1)
        mean = (c[i] - c[i - window]) / cnt
        std = np.sqrt(np.maximum((c2[i] - c2[i - window]) / cnt - mean * mean, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(std > 0, np.abs(x[i] - mean) / std, np.where(x[i] != mean, np.inf, 0.0))
        flag[i] |= np.nan_to_num(z, nan=0.0) > limit
    return flag


# --- the NAB standard profile --------------------------------------------------------------------
# Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly Benchmark"
# (IEEE ICMLA 2015), and the scoring description in the NAB repository's README and wiki: a detection
# inside a window scores A_tp * sigma(y) for the first detection only, where y in [-1, 0] is its position
# relative to the window's end (-1 at the window's first row) and sigma(y) = 2 / (1 + e^(5y)) - 1; a
# detection outside every window scores A_fp * sigma(y) with y its distance past the end of the previous
# window in window lengths (-1 if there is no previous window or y > 3: a full false positive); a
# window with no detection scores A_fn. Standard profile: A_tp = 1, A_fp = -0.11, A_fn = -1. The first
# 15% of each file is probationary: detections there are not counted. The corpus score is normalised:
# 100 * (S - S_null) / (S_perfect - S_null), where the null detector never detects and the perfect one
# detects every window at its first row.
A_TP, A_FP, A_FN = 1.0, -0.11, -1.0
PROBATION = 0.15


def _sigma(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def nab_raw(flag: np.ndarray, label: np.ndarray) -> tuple[float, float, float]:
    """(this detector's raw score, the null detector's, the perfect detector's) on one file."""
    n = len(flag)
    starts = np.flatnonzero(np.diff(np.r_[0, label.astype(int)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[label.astype(int), 0]) == -1)
    window_of = np.full(n, -1)
    for w, (a, b) in enumerate(zip(starts, ends)):
        window_of[a : b + 1] = w
    score, credited = 0.0, set()
    probation = int(PROBATION * n)
    for i in np.flatnonzero(flag):
        w = window_of[i]
        # the previous window: the last one ending before row i
        k = np.searchsorted(ends, i) - 1
        if k >= 0:
            prev_end, prev_len = ends[k], ends[k] - starts[k] + 1
        else:
            prev_end = -1
        if i < probation:
            continue
        if w >= 0:
            if w not in credited:
                credited.add(w)
                length = ends[w] - starts[w] + 1
                score += A_TP * _sigma(-(ends[w] - i + 1) / length)
        else:
            y = (i - prev_end) / max(prev_len - 1, 1) if prev_end >= 0 else math.inf
            score += abs(A_FP) * (_sigma(y) if y <= 3 else -1.0)
    counted = [w for w in range(len(starts)) if ends[w] >= probation]
    score += A_FN * len([w for w in counted if w not in credited])
    null = A_FN * len(counted)
    perfect = sum(A_TP * _sigma(-1.0) for _ in counted)
    return score, null, perfect


def nab_score(raw: np.ndarray) -> float:
    """Normalised NAB score of summed (raw, null, perfect)."""
    s, null, perfect = raw
    return 100.0 * (s - null) / (perfect - null) if perfect != null else float("nan")


# --- metrics -------------------------------------------------------------------------------------
def metrics(flag: np.ndarray, label: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """[normal flagged, normal, anomalous flagged, anomalous, anomalies caught, anomalies, false episodes,
    NAB raw, NAB null, NAB perfect] of one file (``keep``: rows that count)."""
    flag, label = flag.astype(bool), label.astype(bool)
    k = np.ones(len(flag), bool) if keep is None else keep
    starts = np.flatnonzero(np.diff(np.r_[0, label.astype(int)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[label.astype(int), 0]) == -1)
    caught = sum(bool(flag[a : b + 1].any()) for a, b in zip(starts, ends))
    rise = np.flatnonzero(np.diff(np.r_[0, flag.astype(int)]) == 1)
    false_eps = int((~label[rise] & k[rise]).sum())
    return np.array(
        [
            (flag & ~label & k).sum(),
            (~label & k).sum(),
            (flag & label & k).sum(),
            (label & k).sum(),
            caught,
            len(starts),
            false_eps,
            *nab_raw(flag & k, label),
        ],
        dtype=np.float64,
    )


def baselines(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"z>{lim}": trailing_z(columns, limit=float(lim)) for lim in (3, 4, 5)}


def files(kind: str, seeds, tmp: Path):
    """Yield (path, columns, label, keep) of each file of a kind and seed set."""
    if kind == "sim":
        for seed in seeds:
            yield from _sim_files(seed, tmp)
        return
    make = {"pump": pump, "rig": rig, "server": server}[kind]
    for seed in seeds:
        ts, cols, label = make(seed)
        path = tmp / f"{kind}-{seed}.csv"
        write_csv(path, ts, cols, label, delimiter=";" if kind in ("pump", "rig") else ",")
        yield path, cols, label, None


def _sim_files(seed: int, tmp: Path):
    out = tmp / f"sim-{seed}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faultline.service.cli",
            "simulate",
            "--mode",
            "hard",
            "--seed",
            str(seed),
            "--duration",
            "14d",
            "--period",
            "5m",
            "--speed",
            "0",
            "--start",
            "2026-01-05T00:00:00Z",
            "--out",
            str(out),
            "--no-waveforms",
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    labels = [json.loads(line) for line in open(out / "labels.jsonl")]
    for path in sorted(out.glob("*.csv")):
        if path.name.count(".") > 1:
            continue
        table = read_table(path)
        ts = table.ts
        label = np.zeros(len(ts), bool)
        keep = np.ones(len(ts), bool)
        for lab in labels:
            if lab.get("asset") != path.stem or lab["kind"] not in ("equipment", "sensor"):
                continue
            lo = _ns(lab["onset"])
            hi = _ns(lab.get("failure") or lab.get("end")) if (lab.get("failure") or lab.get("end")) else ts.max()
            inside = (ts >= lo) & (ts <= hi)
            if lab["kind"] == "equipment":
                label |= inside
            else:
                keep &= ~inside
        yield path, table.columns, label, keep


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1e9)


def run(kind: str, seeds, tmp: Path) -> tuple[dict[str, np.ndarray], int, float, int]:
    totals = {d: np.zeros(10) for d in DETECTORS}
    n_files, seconds, rows = 0, 0.0, 0
    for path, cols, label, keep in files(kind, seeds, tmp):
        t0 = time.perf_counter()
        res = score_table(read_table(path), None)
        seconds += time.perf_counter() - t0
        rows += len(label)
        n_files += 1
        totals["ours"] += metrics(res.flag.astype(bool), label, keep)
        if kind == "server":  # the daily profile switches on only in files of four days or more
            seasonal = score_table(read_table(path), None, seasons=True)
            totals["ours+seasons"] += metrics(seasonal.flag.astype(bool), label, keep)
        for name, flag in baselines(cols).items():
            totals[name] += metrics(flag, label, keep)
    return totals, n_files, seconds, rows


def summary(m: np.ndarray, n_files: int) -> dict[str, float]:
    fp, normal, tp, anomalous, caught, anomalies, feps = m[:7]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / anomalous if anomalous else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "FAR": fp / normal,
        "MAR": 1 - recall,
        "F1": f1,
        "caught": caught / anomalies if anomalies else math.nan,
        "false_ep": feps / n_files,
        "NAB": nab_score(m[7:10]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", choices=["tuning", "evaluation", "both"], default="both")
    ap.add_argument("--kind", default="pump,rig,server,sim", help="comma-separated: pump, rig, server, sim")
    args = ap.parse_args()
    sets = {"tuning": TUNING_SEEDS, "evaluation": EVALUATION_SEEDS}
    chosen = list(sets) if args.seeds == "both" else [args.seeds]
    kinds = args.kind.split(",")
    print(f"{'kind':<7}{'seeds':<11}{'detector':<9}{'FAR':>8}{'MAR':>7}{'F1':>6}{'caught':>7}{'false ep':>9}{'NAB':>9}")
    with tempfile.TemporaryDirectory() as d:
        for kind in kinds:
            for name in chosen:
                seeds = SIM_SEEDS[name] if kind == "sim" else sets[name]
                totals, n_files, seconds, rows = run(kind, seeds, Path(d))
                for det, m in totals.items():
                    if not m[1]:
                        continue  # not run on this kind
                    s = summary(m, n_files)
                    print(
                        f"{kind:<7}{name:<11}{det:<9}{s['FAR']:>8.4f}{s['MAR']:>7.2f}{s['F1']:>6.2f}"
                        f"{s['caught']:>7.2f}{s['false_ep']:>9.1f}{s['NAB']:>9.1f}"
                    )
                print(
                    f"{'':<7}{'':<11}score: {rows} rows in {n_files} files, {seconds:.1f} s "
                    f"({rows / seconds:,.0f} rows/s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
