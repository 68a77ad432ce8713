"""Field-type conflicts at speed: Faultline's v1 writer on points of which 1% go to fields InfluxDB
holds as integer or string, against InfluxDB's own rate for the same points without conflicts, in
the same run.

    .venv/bin/python -m bench.bench_conflicts [--points 500000] [--rounds 3] [--bisect-points 2000]

Both sides write to the same ``influxd`` (Debian's 1.x, started on a free port via tests/servers.py),
each run into a fresh database, in 5,000-line requests.

* baseline: the points as line protocol, cut into 5,000-line bodies before the clock starts, into a
  database where no field conflicts: InfluxDB stores every point. Timed are the POSTs only.
* ours: `InfluxV1Writer.write` of 20,000-row batches (as the drain loop reads the spool) into a
  database where ``legacy_counts`` already holds ``value`` as integer and ``legacy_labels`` as
  string; 1% of the rows are points of those two. Timed is all of it: learning the field types,
  encoding, writing, and returning every refused point with its reason. Checked: the good points
  all landed, the refused ones are exactly the conflicting ones.
* ours without conflicts (for scale): the same, on the points the baseline writes.
* bisection (for scale, on ``--bisect-points``): the same writer with its field-type learning
  switched off, so refused requests are bisected down to the refused lines, as before.

Prints points/s (points handled: written + refused) and the ratio ours / baseline, per round paired
(the machine is shared, so load drifts) and of the best rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.bench_batches import run_baseline
from faultline.ingest.lineprotocol import encode
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.writers import InfluxV1Writer
from tests.servers import InfluxDB

T0_NS = 1_763_700_000_000 * 1_000_000
BATCH = 20_000
CONFLICTING = {"legacy_counts": b"1i", "legacy_labels": b'"idle"'}  # what another tool wrote there first


def make_points(n: int, seed: int = 5) -> tuple[Readings, np.ndarray]:
    """``n`` rows over 300 telemetry series and 6 conflicting ones (1% of rows); and which rows conflict."""
    rng = np.random.default_rng(seed)
    good = [
        SeriesKey.of(
            "telemetry",
            {
                "site": "p1",
                "asset": f"pump{i % 100}",
                "sensor": ("bearing_temp", "vibration_rms", "motor_current")[i % 3],
            },
        )
        for i in range(300)
    ]
    bad = [SeriesKey.of(m, {"site": "p1", "asset": f"old{i}"}) for m in CONFLICTING for i in range(3)]
    conflicting = rng.random(n) < 0.01
    index = np.where(conflicting, len(good) + rng.integers(0, len(bad), n), rng.integers(0, len(good), n))
    ts = T0_NS + np.arange(n, dtype=np.int64) * 1_000_000
    return Readings(tuple(good + bad), index.astype(np.int32), ts, rng.normal(50, 10, n).round(3)), conflicting


def prepare_conflicts(url: str, database: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()
        body = b"\n".join(
            b"%s,site=p1,asset=old0 value=%s %d" % (m.encode(), v, T0_NS - 1) for m, v in CONFLICTING.items()
        )
        client.post("/write", params={"db": database, "precision": "ns"}, content=body).raise_for_status()


def run_ours(url: str, database: str, readings: Readings, learn: bool = True) -> tuple[float, int, int]:
    prepare_conflicts(url, database)
    with InfluxV1Writer(url, database) as writer:
        if not learn:  # as before: refused requests bisected
            writer.learn_field_types = lambda: False
            writer._learn_conflict = lambda message: False
        written = refused = 0
        start = time.perf_counter()
        for i in range(0, len(readings), BATCH):
            result = writer.write(readings.slice(i, i + BATCH))
            written += result.written
            refused += len(result.rejected)
        return time.perf_counter() - start, written, refused


def count(url: str, database: str) -> int:
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post(
            "/query", params={"db": database}, data={"q": 'SELECT count("value") FROM "telemetry"'}
        ).json()["results"][0]
    return answer["series"][0]["values"][0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bisect-points", type=int, default=2_000, help="0 skips the bisection leg")
    args = parser.parse_args()
    readings, conflicting = make_points(args.points)
    n_bad = int(conflicting.sum())
    clean = Readings(
        readings.series[:300], np.where(conflicting, 0, readings.index).astype(np.int32), readings.ts, readings.value
    )  # the same rows, the conflicting ones as telemetry
    bodies_text = encode(clean, dialect="v1").split(b"\n")
    bodies = [b"\n".join(bodies_text[i : i + 5000]) for i in range(0, len(bodies_text), 5000)]
    times: dict[str, list[float]] = {"baseline": [], "ours": [], "clean": []}
    with tempfile.TemporaryDirectory() as tmp, InfluxDB(Path(tmp) / "influxdb") as influxdb:
        for r in range(args.rounds):
            times["baseline"].append(run_baseline(influxdb.url, f"baseline{r}", bodies))
            assert count(influxdb.url, f"baseline{r}") == args.points, "baseline: not every point landed"
            seconds, written, refused = run_ours(influxdb.url, f"ours{r}", readings)
            assert (written, refused) == (args.points - n_bad, n_bad), (written, refused, n_bad)
            assert count(influxdb.url, f"ours{r}") == args.points - n_bad, "ours: not every good point landed"
            times["ours"].append(seconds)
            times["clean"].append(run_ours(influxdb.url, f"clean{r}", clean)[0])
        if args.bisect_points:
            small = readings.slice(0, args.bisect_points)
            bisect_seconds, _, bisect_refused = run_ours(influxdb.url, "bisect", small, learn=False)
    print(
        f"{args.points:,} points, {n_bad:,} ({n_bad / args.points:.1%}) to fields InfluxDB holds as integer "
        f"or string; 5,000-line requests, InfluxDB 1.x on a free port, {args.rounds} rounds"
    )
    base = args.points / min(times["baseline"])
    ours = args.points / min(times["ours"])
    paired = sorted(b / o for b, o in zip(times["baseline"], times["ours"]))
    print(f"InfluxDB, the same points without conflicts, from line protocol: {base:10,.0f} points/s (best round)")
    print(
        f"Faultline v1 writer, conflicts refused with their reason:       {ours:10,.0f} points/s (best round) "
        f"= {ours / base:5.1%} of InfluxDB's own rate; per round median {statistics.median(paired):5.1%}, "
        f"range {paired[0]:.1%}-{paired[-1]:.1%}"
    )
    clean_rate = args.points / min(times["clean"])
    print(
        f"Faultline v1 writer, the same points without conflicts:         {clean_rate:10,.0f} points/s (best round) "
        f"= {clean_rate / base:5.1%}"
    )
    if args.bisect_points:
        print(
            f"for scale, bisection (learning off), {args.bisect_points:,} points with {bisect_refused} refused: "
            f"{args.bisect_points / bisect_seconds:10,.0f} points/s"
        )


if __name__ == "__main__":
    main()
