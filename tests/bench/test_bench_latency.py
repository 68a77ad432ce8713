"""The fault-to-order latency bench at a tiny scale, so it cannot rot: both legs run end to end and every
injected fault is notified. No timing is asserted (the figures come from the full run; see bench/README.md)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_latency.py"


def load_bench():
    # by its own name from bench/, which spawned processes (the fleet, the consumers) import it by
    if str(BENCH.parent) not in sys.path:
        sys.path.insert(0, str(BENCH.parent))
    return importlib.import_module("bench_latency")


def test_the_latency_bench_runs_both_legs_at_tiny_scale(capsys):
    bench = load_bench()
    results = bench.main(
        ["--streams", "40", "--sensors", "4", "--seconds", "6", "--warmup", "2", "--faults", "2", "--settle", "20"]
    )
    printed = capsys.readouterr().out
    assert [r["leg"] for r in results] == ["faultline", "peer"]
    for r in results:
        assert r["faults"] == 2 and len(r["delivered"]) == 2, r
        assert r["sent"] == 40 * 6, r
        assert all(d > 0 for d in r["delivered"]), r  # a notice cannot come before its fault
    assert len(results[0]["opened"]) == 2
    assert "reading → webhook delivered: p50" in printed and "peer p50 / Faultline p50" in printed


def test_percentile_is_nearest_rank():
    bench = load_bench()
    values = [float(v) for v in range(1, 101)]
    assert (bench.percentile(values, 50), bench.percentile(values, 99), bench.percentile([3.0], 99)) == (50, 99, 3)
