"""How the default `faultline score` checks do on plant-like files, against a trailing z-score.

    python bench/score_quality.py [--seeds tuning|evaluation|both] [--kind rig|server|both]

For each file of the seeded generator (tests/realistic.py) it writes the CSV a user would have
(`;`-separated rig files with an `anomaly` label column, which `score` skips), scores it with the
default configuration exactly as `faultline score` does, and prints per kind and seed set:

- FAR: share of normal rows flagged;
- recall: share of labelled anomalies (contiguous labelled runs) with a flag inside;
- false episodes per file: flag rising edges outside the labels (what NAB-like scoring charges);

and the same for a trailing z-score (|z| > 3 against the mean and standard deviation of the
previous 100 rows, any sensor), and for that z-score at limits 4 and 5, to compare recall at a
similar false-alarm rate. Tune only on the tuning seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.scoring import read_table, score_table  # noqa: E402
from tests.realistic import EVALUATION_SEEDS, TUNING_SEEDS, rig, server, write_csv  # noqa: E402


def trailing_z(columns: dict[str, np.ndarray], window: int = 100, limit: float = 3.0) -> np.ndarray:
    flag = np.zeros(len(next(iter(columns.values()))), dtype=bool)
    for x in columns.values():
        c = np.concatenate([[0.0], np.cumsum(x)])
        c2 = np.concatenate([[0.0], np.cumsum(x * x)])
        i = np.arange(window, len(x))
        mean = (c[i] - c[i - window]) / window
        var = np.maximum((c2[i] - c2[i - window]) / window - mean * mean, 0.0)
        std = np.sqrt(var)
        z = np.where(std > 0, np.abs(x[i] - mean) / np.where(std > 0, std, 1), np.where(x[i] != mean, np.inf, 0))
        flag[i] |= z > limit
    return flag


def metrics(flag: np.ndarray, label: np.ndarray) -> tuple[float, float, int, int]:
    """(normal rows flagged, normal rows, anomalies caught, anomalies) and false episodes."""
    edges = np.flatnonzero(np.diff(np.r_[0, label.astype(int)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[label.astype(int), 0]) == -1)
    caught = sum(bool(flag[a:b + 1].any()) for a, b in zip(edges, ends))
    rise = np.flatnonzero(np.diff(np.r_[0, flag.astype(int)]) == 1)
    false_eps = int((~label[rise]).sum())
    return int((flag & ~label).sum()), int((~label).sum()), caught, len(edges), false_eps


def run(kind: str, seeds, tmp: Path) -> dict[str, list]:
    make = rig if kind == "rig" else server
    totals = {"ours": np.zeros(5), "trailing_z": np.zeros(5), "z>4": np.zeros(5), "z>5": np.zeros(5)}
    for seed in seeds:
        ts, cols, label = make(seed)
        path = tmp / f"{kind}-{seed}.csv"
        write_csv(path, ts, cols, label, delimiter=";" if kind == "rig" else ",")
        table = read_table(path)
        res = score_table(table, None)
        totals["ours"] += metrics(res.flag.astype(bool), label)
        totals["trailing_z"] += metrics(trailing_z(cols), label)
        totals["z>4"] += metrics(trailing_z(cols, limit=4.0), label)       # the same at stricter limits,
        totals["z>5"] += metrics(trailing_z(cols, limit=5.0), label)       # to compare at a similar FAR
    return totals


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", choices=["tuning", "evaluation", "both"], default="both")
    ap.add_argument("--kind", choices=["rig", "server", "both"], default="both")
    args = ap.parse_args()
    sets = {"tuning": TUNING_SEEDS, "evaluation": EVALUATION_SEEDS}
    chosen = list(sets) if args.seeds == "both" else [args.seeds]
    kinds = ["rig", "server"] if args.kind == "both" else [args.kind]
    print(f"{'kind':<7}{'seeds':<11}{'detector':<12}{'FAR':>8}{'recall':>8}{'false ep/file':>15}")
    with tempfile.TemporaryDirectory() as d:
        for kind in kinds:
            for name in chosen:
                for det, (fp, normal, caught, anomalies, feps) in run(kind, sets[name], Path(d)).items():
                    print(f"{kind:<7}{name:<11}{det:<12}{fp / normal:>8.4f}{caught / anomalies:>8.2f}"
                          f"{feps / len(sets[name]):>15.1f}")


if __name__ == "__main__":
    main()
