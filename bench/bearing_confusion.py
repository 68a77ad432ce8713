"""Confusion matrices of the bearing diagnosis on plant-like simulated records, tuning and evaluation seeds.

Records come from `simulators.bearing_records.confounded_record`: 10 s at 12 kHz, a 6205 or the
6309-class bearing, shaft speed drawn from 20–30 Hz, noise σ 0.25, 0.5 and 1.0, impacts ringing a
resonance drawn from 2–5 kHz, fault size drawn (ball defects weaker and intermittent), shaft
harmonics 1×–5×, line 50/60 Hz, slip up to 2 % and isolated knocks about once a second on every
record, healthy ones included. Each record is diagnosed three ways:

- ``record, 1 s blocks``: what ``faultline diagnose`` prints by default (`diagnose_record`);
- ``record, 1,024-sample blocks``: the same record cut in 85 ms blocks, their spectra averaged;
- ``single 1,024-sample blocks``: the first eight such blocks, each diagnosed alone (what the live
  path sees when a gateway sends short blocks).

The defaults of `detectors.waveform` were chosen looking only at the tuning seeds (0-9); report
the evaluation seeds (100-129), never tune on them::

    .venv/bin/python bench/bearing_confusion.py              # both sets
    .venv/bin/python bench/bearing_confusion.py tuning       # one of them
"""

from __future__ import annotations

import sys
import time

import numpy as np

from faultline.detectors.waveform import BEARING_MODES, diagnose_bearing, diagnose_record, record_blocks
from faultline.simulators.bearing_records import BEARINGS, confounded_record, kinematic_frequencies

SETS = {"tuning": range(0, 10), "evaluation": range(100, 130)}
NOISES = (0.25, 0.5, 1.0)
RATE = 12000.0
LABELS = ("healthy", *BEARING_MODES)
WAYS = ("record, 1 s blocks", "record, 1,024-sample blocks", "single 1,024-sample blocks")


def run(seeds) -> dict[str, np.ndarray]:
    """Confusion matrix per way: rows the true mode, columns the named one (healthy first)."""
    tables = {w: np.zeros((len(LABELS), len(LABELS)), dtype=np.int64) for w in WAYS}
    for seed in seeds:
        for noise in NOISES:
            for truth, mode in enumerate((None, *BEARING_MODES)):
                rng = np.random.default_rng([seed, int(noise * 100), truth])
                bearing = list(BEARINGS)[seed % len(BEARINGS)]
                shaft = float(rng.uniform(20.0, 30.0))
                x, _ = confounded_record(rng, mode, bearing, shaft, RATE, 10.0, noise)
                hz = kinematic_frequencies(bearing, shaft)
                named = [
                    diagnose_record(x, RATE, hz, shaft)[1].mode[0],
                    diagnose_record(x, RATE, hz, shaft, block=1024)[1].mode[0],
                ]
                singles = diagnose_bearing(record_blocks(x, RATE, 1024)[:8], RATE, hz, shaft).mode
                for way, got in zip(WAYS, named):
                    tables[way][truth, got] += 1
                np.add.at(tables[WAYS[2]][truth], singles, 1)
    return tables


def show(name: str, seeds, tables: dict[str, np.ndarray], seconds: float) -> None:
    print(f"\n{name} seeds {seeds.start}-{seeds.stop - 1} ({seconds:.0f} s)")
    for way, table in tables.items():
        right = np.trace(table) / table.sum()
        false = table[0, 1:].sum() / table[0].sum()
        missed = table[1:, 0].sum() / table[1:].sum()
        wrong = (table[1:, 1:].sum() - np.trace(table[1:, 1:])) / table[1:].sum()
        print(
            f"  {way}: named right {right:.1%}, healthy flagged {false:.1%}, defects missed {missed:.1%}, "
            f"defects misnamed {wrong:.1%}"
        )
        print("    true \\ named " + "".join(f"{c:>9}" for c in LABELS))
        for label, row in zip(LABELS, table):
            print(f"    {label:<13} " + "".join(f"{v:>9}" for v in row))


def main(argv: list[str]) -> None:
    for name in argv or list(SETS):
        t0 = time.perf_counter()
        tables = run(SETS[name])
        show(name, SETS[name], tables, time.perf_counter() - t0)


if __name__ == "__main__":
    main(sys.argv[1:])
