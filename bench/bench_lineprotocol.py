"""Line protocol for 100,000 points: influxdb-client's ``Point`` objects (baseline) against
`ingest.lineprotocol.encode` over columns, in the same run.

    .venv/bin/python bench/bench_lineprotocol.py [--points 100000] [--series 100] [--repeat 3]

Prints microseconds per point for each and the speed-up; the first 1,000 lines of both outputs are
checked to be the same points.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from influxdb_client import Point, WritePrecision

from faultline.ingest import lineprotocol
from faultline.ingest.readings import Readings, SeriesKey


def make_readings(points: int, series: int, seed: int = 1) -> Readings:
    rng = np.random.default_rng(seed)
    sensors = ("bearing_temp", "vibration_rms", "motor_current", "accel")
    keys = tuple(
        SeriesKey.of("telemetry", {"site": f"plant {s % 3}", "asset": f"pump,{s // 4}", "sensor": sensors[s % 4]})
        for s in range(series)
    )
    index = rng.integers(0, series, points).astype(np.int32)
    ts = 1_763_700_000_000_000_000 + np.arange(points, dtype=np.int64) * 1_000_000
    value = rng.normal(50, 10, points).round(3)
    return Readings(keys, index, ts, value)


def with_points(readings: Readings) -> bytes:
    """The baseline: one Point per reading, serialised by influxdb-client."""
    lines = []
    for i, ts, value in zip(readings.index.tolist(), readings.ts.tolist(), readings.value.tolist()):
        key = readings.series[i]
        point = Point(key.measurement)
        for name, text in key.tags:
            point.tag(name, text)
        lines.append(point.field(key.field, value).time(ts, WritePrecision.NS).to_line_protocol())
    return "\n".join(lines).encode()


def with_columns(readings: Readings) -> bytes:
    lineprotocol._prefixes["v2"].clear()  # time the escaping of every series too, as on a fresh start
    return lineprotocol.encode(readings)


def best_of(repeat: int, fn, *args) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    readings = make_readings(args.points, args.series)
    baseline_s, baseline = best_of(args.repeat, with_points, readings)
    ours_s, ours = best_of(args.repeat, with_columns, readings)
    # same points: influxdb-client writes integral floats without ".0"; compare parsed values
    assert len(baseline.splitlines()) == len(ours.splitlines()) == args.points
    for a, b in zip(baseline.splitlines()[:1000], ours.splitlines()[:1000]):
        pa, pb = a.rsplit(b" ", 2), b.rsplit(b" ", 2)
        assert pa[0] == pb[0] and pa[2] == pb[2] and float(pa[1].split(b"=")[1]) == float(pb[1].split(b"=")[1]), (a, b)
    per = 1e6 / args.points
    print(f"points: {args.points:,} in {args.series} series (best of {args.repeat})")
    print(f"influxdb-client Point objects: {baseline_s * per:6.2f} us/point")
    print(f"ingest.lineprotocol.encode:    {ours_s * per:6.2f} us/point")
    print(f"ratio (Point / ours):          {baseline_s / ours_s:6.1f}x faster")


if __name__ == "__main__":
    main()
