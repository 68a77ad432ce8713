"""Draw one plot per detector for docs/detectors.md, on data from the fleet simulator.

Each plot shows a stream of `config/fleet.yaml` (seed 1, 14 days from 2026-01-05, one reading a
minute) with the labelled fault shaded, and below it the detector's score with the alarm level 1.0.
The data and the detectors are the project's own; the parameters are written in each plot's title.

    pip install -e '.[docs]'
    python scripts/detector_plots.py          # writes docs/img/detectors/*.png (about a minute)

The PNGs are committed, so building the site needs neither matplotlib nor this script.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "detectors"
START = datetime(2026, 1, 5, tzinfo=UTC)


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from faultline.detectors import (
        AdaptiveDrift,
        AdaptiveLevel,
        Cusum,
        EnvelopeCusum,
        Ewma,
        IsoZones,
        NoData,
        OutOfRange,
        RobustZ,
        SpikeBursts,
        StaticLimit,
        StuckSensor,
        TrendToLimit,
    )
    from faultline.simulators import Fleet, simulate_offline

    run = simulate_offline(
        Fleet.from_yaml(ROOT / "config" / "fleet.yaml"), seed=1, start=START, duration=timedelta(days=14)
    )

    def series(asset: str, sensor: str):
        ts, values = run.scalars[(asset, sensor)]
        return np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def windows(asset: str, sensor: str):
        spans = []
        for label in run.labels:
            if label.asset == asset and (not label.sensors or sensor in label.sensors):
                begin = getattr(label, "onset", None) or getattr(label, "start", None)
                end = getattr(label, "end", None) or getattr(label, "failure", None)
                if begin is not None and end is not None:
                    spans.append((begin, end, label.fault_mode))
        return spans

    ts0, temp = series("F-202", "bearing_temp")
    hot = float(np.ceil(temp[ts0 < ts0[0] + 4 * 86400 * 10**9].max() + 5.0))
    cases = [
        (
            "static_limit",
            "F-202",
            "bearing_temp",
            f"StaticLimit(high={hot:g}): 5 °C over the first four days' top",
            lambda: StaticLimit(high=hot),
            None,
        ),
        (
            "iso_zones",
            "P-101",
            "vibration_rms",
            "IsoZones(ab=1.4, bc=2.8, cd=4.5)",
            lambda: IsoZones(ab=1.4, bc=2.8, cd=4.5),
            None,
        ),
        (
            "robust_z",
            "M-101",
            "vibration_rms",
            "RobustZ(window=60, threshold=6)",
            lambda: RobustZ(window=60, threshold=6),
            None,
        ),
        (
            "spike_bursts",
            "M-101",
            "vibration_rms",
            "SpikeBursts(window=30, threshold=8, spikes=3, within_h=1)",
            lambda: SpikeBursts(window=30, threshold=8, spikes=3, within_h=1.0),
            None,
        ),
        (
            "ewma",
            "P-102",
            "vibration_rms",
            "Ewma(alpha=0.005, limit_sigmas=6, warmup=2880)",
            lambda: Ewma(alpha=0.005, limit_sigmas=6.0, warmup=2880),
            None,
        ),
        (
            "cusum",
            "P-102",
            "vibration_rms",
            "Cusum(k=1, h=40, warmup=1440)",
            lambda: Cusum(k=1.0, h=40.0, warmup=1440),
            None,
        ),
        (
            "envelope_cusum",
            "F-201",
            "vibration_rms",
            "EnvelopeCusum(k=1.5, h=60, warmup=2880)",
            lambda: EnvelopeCusum(k=1.5, h=60.0, warmup=2880),
            None,
        ),
        (
            "trend_to_limit",
            "P-101",
            "vibration_rms",
            "TrendToLimit(limit=4.5, horizon_h=48, window=240)",
            lambda: TrendToLimit(limit=4.5, horizon_h=48.0, window=240),
            None,
        ),
        ("adaptive_level", "F-202", "bearing_temp", "AdaptiveLevel()", AdaptiveLevel, None),
        ("adaptive_drift", "M-202", "bearing_temp", "AdaptiveDrift()", AdaptiveDrift, None),
        (
            "stuck_sensor",
            "P-102",
            "bearing_temp",
            "StuckSensor(window=30, factor=3, warmup=1440)",
            lambda: StuckSensor(window=30, factor=3.0, warmup=1440),
            None,
        ),
        ("no_data", "F-201", "motor_current", "NoData(max_gap_s=900)", lambda: NoData(max_gap_s=900.0), None),
        (
            "out_of_range",
            "P-201",
            "bearing_temp",
            "OutOfRange(low=0, high=150); an open loop injected on day 9",
            lambda: OutOfRange(low=0.0, high=150.0),
            "open_loop",
        ),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, asset, sensor, title, make, inject in cases:
        ts, values = series(asset, sensor)
        if inject == "open_loop":  # a 4–20 mA loop that opens reads the bottom of its range, far below 0 °C
            values = values.copy()
            hole = (ts >= ts[0] + 9 * 86400 * 10**9) & (ts < ts[0] + int(9.2 * 86400 * 10**9))
            values[hole] = -50.0
        score = np.asarray(make().update(np.zeros(len(ts), np.int64), ts, values), dtype=np.float64)
        days = (ts - ts[0]) / 86400e9
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True, height_ratios=[3, 2])
        top.plot(days, values, lw=0.6, color="#1f5f99")
        for begin, end, mode in windows(asset, sensor):
            b = (begin - START).total_seconds() / 86400
            e = (end - START).total_seconds() / 86400
            top.axvspan(b, e, color="#f2a900", alpha=0.18, lw=0)
            top.text(b, top.get_ylim()[1], f" {mode}", va="top", fontsize=8, color="#8a6100")
        top.set_ylabel(sensor, fontsize=9)
        top.set_title(f"{name}: {asset} {sensor} — {title}", fontsize=10)
        bottom.plot(days, np.clip(score, 0, 5), lw=0.7, color="#a12a2a")
        bottom.axhline(1.0, color="black", lw=0.8, ls="--")
        bottom.set_ylabel("score (1 = alarm)", fontsize=9)
        bottom.set_xlabel("days since 2026-01-05 (simulated, seed 1)", fontsize=9)
        fig.tight_layout()
        fig.savefig(OUT / f"{name}.png", dpi=90)
        plt.close(fig)
        first = days[np.argmax(score >= 1.0)] if (score >= 1.0).any() else None
        print(
            f"{name}: {asset} {sensor}, first score >= 1 on day {first:.2f}"
            if first is not None
            else f"{name}: {asset} {sensor}, never >= 1"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
