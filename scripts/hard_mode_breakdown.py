"""Why the detectors raise false alarms on the simulator's hard mode, and which faults they miss.

A developer's tool, not part of the product: it reruns the simulator's operating regime (which the
readings do not carry) to say what the machine was doing when each false alarm opened, and lists
each equipment fault with its drawn size and whether it was detected.

    .venv/bin/python scripts/hard_mode_breakdown.py --seeds 1 2 3 4 5 --duration 7d

Never run it on the evaluation seeds to choose a setting.
"""

from __future__ import annotations

import argparse
import collections
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from faultline.detectors import Engine
from faultline.service.commands.detect import DEFAULT_CONFIG, load_detectors_config
from faultline.service.evaluate import TWIN_TOLERANCE, episodes, feed, fleet_config, healthy_twin, score
from faultline.vocabulary import parse_duration
from faultline.simulators import Fleet, physics, simulate_offline
from faultline.simulators.run import _HARD_REGIME, _REGIME, NS, rng_stream

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, tzinfo=timezone.utc)


def regime(run, asset_id: str, seed: int):
    """(elapsed s, speed, load) of one asset, drawn as the simulator drew them."""
    table = run.tables[asset_id]
    asset = table.asset
    elapsed = table.elapsed_ns
    ts = run.start.timestamp() * 1e9 + elapsed
    speed, load, _ = physics.hard_regime(
        asset,
        elapsed,
        ts.astype(np.int64),
        run.fleet.hard,
        rng_stream(seed, "asset", asset.id, _REGIME),
        rng_stream(seed, "asset", asset.id, _HARD_REGIME),
    )
    return elapsed / NS, speed, load


def context(t_s: float, el: np.ndarray, speed: np.ndarray, load: np.ndarray, hour: float) -> str:
    """What the machine did in the two hours before ``t_s`` (the first matching cause)."""
    lo, hi = np.searchsorted(el, [t_s - 7200, t_s + 60])
    sp, ld = speed[lo:hi], load[lo:hi]
    if not len(sp):
        return "?"
    if sp.min() < 0.05 and sp[-1] > 0.05:
        return "start"
    if sp[-1] < 0.05:
        return "stopped"
    if sp.max() - sp.min() > 0.05:
        return "speed step"
    if ld.max() - ld.min() > 0.1:
        return "load step"
    lo6 = np.searchsorted(el, t_s - 6 * 3600)
    if load[lo6:hi].max() - load[lo6:hi].min() > 0.1 or speed[lo6:hi].min() < 0.05:
        return "op change 2-6h before"
    return f"steady ({'night' if hour < 6 or hour >= 22 else 'day'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--duration", default="7d")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--fleet", type=Path, default=ROOT / "config" / "fleet.yaml")
    args = ap.parse_args()
    if set(args.seeds) & set(range(101, 111)):
        raise SystemExit("not on the evaluation seeds: tune on the tuning seeds only")
    fleet = Fleet.from_yaml(args.fleet)
    cfg = load_detectors_config(args.config)
    duration = parse_duration(args.duration)
    by_cause: collections.Counter = collections.Counter()
    by_rule: collections.Counter = collections.Counter()
    missed, found = [], []
    for seed in args.seeds:
        run = simulate_offline(fleet, seed=seed, start=START, duration=duration, mode="hard")
        eps = episodes(feed(Engine(fleet_config(cfg, run.assets)), run))
        twin = simulate_offline(healthy_twin(fleet), seed=seed, start=START, duration=duration, mode="hard")
        healthy = episodes(feed(Engine(fleet_config(cfg, twin.assets)), twin))
        result = score(eps, run.labels, run.assets, START + duration, duration, healthy)
        regimes = {a: regime(run, a, seed) for a in run.tables}
        for fa in result["false_alarms"]:
            at = datetime.fromisoformat(fa["started_at"])
            el, sp, ld = regimes[fa["asset"]]
            cause = context((at - START).total_seconds(), el, sp, ld, at.hour + at.minute / 60)
            key = (fa["kind"], fa["rule"])
            by_rule[key] += 1
            by_cause[key + (cause,)] += 1
            print(f"seed {seed} {fa['started_at']} {fa['asset']:6} {fa['sensor']:22} {fa['rule']:20} {cause}")
        for label in run.labels:
            if label.kind != "equipment" or label.onset >= START + duration:
                continue
            hit = [
                e
                for e in eps
                if e.asset == label.asset
                and not e.is_data_quality
                and label.onset <= e.started_at <= label.failure
                and not any(
                    (h.asset, h.sensor, h.rule) == (e.asset, e.sensor, e.rule)
                    and abs(h.started_at - e.started_at) <= TWIN_TOLERANCE
                    for h in healthy
                )
            ]
            end_share = min(1.0, (START + duration - label.onset) / (label.failure - label.onset))
            row = (
                seed,
                label.asset,
                label.fault_mode,
                label.params.get("magnitude"),
                label.severity_curve,
                round(end_share, 2),
                sorted({e.rule for e in hit}),
            )
            (found if hit else missed).append(row)
    print("\nfalse alarms by rule:")
    for k, v in by_rule.most_common():
        print(f"  {v:4d}  {k}")
    print("false alarms by rule and what the machine was doing:")
    for k, v in sorted(by_cause.items(), key=lambda kv: -kv[1]):
        print(f"  {v:4d}  {k}")
    print("missed equipment faults (seed, asset, mode, magnitude, growth, share of life in run):")
    for row in missed:
        print("  ", row[:-1])
    print("detected (the rules that opened inside the fault's life and not in the healthy twin):")
    for row in found:
        print("  ", row)


if __name__ == "__main__":
    main()
