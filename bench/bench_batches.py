"""100-reading batch messages, decoded + encoded + written to a real InfluxDB, against InfluxDB's own
rate for the same points written straight from a pre-encoded line-protocol file, in the same run.

    .venv/bin/python -m bench.bench_batches [--messages 3000] [--rounds 3]

Both sides write 5,000-line requests over HTTP from one client to the same ``influxd`` (started on a
free port via tests/servers.py), each round into a fresh database so neither overwrites the other.

* baseline: the line-protocol file is read and cut into 5,000-line bodies before the clock starts;
  timed are the POSTs only.
* ours: the raw JSON payloads (as they come off MQTT) go through ``Decoder.decode_many`` (50
  messages = 5,000 readings per call) and ``InfluxV1Writer``; timed is all of it. Three variants:
  ``sequential``, one thread, one 5,000-row ``write`` per decode; ``large``, one thread, four
  decodes joined into one 20,000-row ``write`` (as the service's drain loop reads the spool), which
  the writer sends as four requests while formatting the next; ``pipelined``, one thread decodes
  and encodes (``decode_many`` + ``prepare``) while the other sends (``write_prepared``).

Prints points/s for each and the ratio ours / baseline (the issue's target is >= 70%): of the
best rounds, and the median of the per-round ratios (the machine is shared, so load drifts).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

from faultline.ingest.codecs import Decoder
from faultline.ingest.lineprotocol import encode
from faultline.ingest.readings import Readings
from faultline.ingest.writers import InfluxV1Writer
from tests.servers import InfluxDB

BATCH = 100  # readings per MQTT message
MESSAGES_PER_CALL = 50  # 5,000 readings per decode and per write
T0_MS = 1_763_700_000_000


def make_messages(n: int, seed: int = 3) -> list[tuple[str, bytes, int]]:
    rng = np.random.default_rng(seed)
    received = (T0_MS + 10 * n * BATCH) * 1_000_000
    messages = []
    for m in range(n):
        topic = f"faultline/plant{m % 4}/pump{m % 50}/{('bearing_temp', 'vibration_rms', 'motor_current')[m % 3]}"
        ts = (T0_MS + (m * BATCH + np.arange(BATCH)) * 10).tolist()
        values = rng.normal(50, 10, BATCH).round(3).tolist()
        messages.append((topic, orjson.dumps({"ts": ts, "value": values}), received))
    return messages


def baseline_bodies(messages, path: Path) -> list[bytes]:
    """Write the same points as a line-protocol file, then read it back as 5,000-line bodies."""
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    readings, rejected = decoder.decode_many(messages)
    assert not rejected
    path.write_bytes(encode(readings, dialect="v1"))
    lines = path.read_bytes().split(b"\n")
    return [b"\n".join(lines[i : i + 5000]) for i in range(0, len(lines), 5000)]


def run_baseline(url: str, database: str, bodies: list[bytes]) -> float:
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()
        start = time.perf_counter()
        for body in bodies:
            client.post("/write", params={"db": database, "precision": "ns"}, content=body).raise_for_status()
        return time.perf_counter() - start


def _calls(messages):
    return [messages[i : i + MESSAGES_PER_CALL] for i in range(0, len(messages), MESSAGES_PER_CALL)]


def run_sequential(url: str, database: str, messages) -> float:
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    with InfluxV1Writer(url, database, create_database=True) as writer:
        writer.write(decoder.decode_many(messages[:1])[0])  # creates the database, outside the clock
        start = time.perf_counter()
        for call in _calls(messages):
            readings, rejected = decoder.decode_many(call)
            assert not rejected
            result = writer.write(readings)
            assert not result.rejected
        return time.perf_counter() - start


def run_large_writes(url: str, database: str, messages) -> float:
    """As the service's drain loop: 20,000 rows per `write`, which the writer sends as four
    5,000-line requests, formatting each while the previous one is on the wire."""
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    with InfluxV1Writer(url, database, create_database=True) as writer:
        writer.write(decoder.decode_many(messages[:1])[0])
        start = time.perf_counter()
        calls = _calls(messages)
        for i in range(0, len(calls), 4):
            readings = Readings.concat([decoder.decode_many(call)[0] for call in calls[i : i + 4]])
            assert not writer.write(readings).rejected
        return time.perf_counter() - start


def run_pipelined(url: str, database: str, messages) -> float:
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    handoff: queue.Queue = queue.Queue(maxsize=4)
    with InfluxV1Writer(url, database, create_database=True) as writer:
        writer.write(decoder.decode_many(messages[:1])[0])

        def decode_and_encode():
            for call in _calls(messages):
                handoff.put(writer.prepare(decoder.decode_many(call)[0]))
            handoff.put(None)

        start = time.perf_counter()
        producer = threading.Thread(target=decode_and_encode, name="decode")
        producer.start()
        while (batch := handoff.get()) is not None:
            assert not writer.write_prepared(batch).rejected
        producer.join()
        return time.perf_counter() - start


def count(influxdb: InfluxDB, database: str) -> int:
    answer = influxdb.query('SELECT count("value") FROM "telemetry"', database)["results"][0]
    return answer["series"][0]["values"][0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="100-reading messages per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all three runs")
    args = parser.parse_args()
    messages = make_messages(args.messages)
    points = args.messages * BATCH
    times: dict[str, list[float]] = {"baseline": [], "sequential": [], "large": [], "pipelined": []}
    with tempfile.TemporaryDirectory() as tmp, InfluxDB(Path(tmp) / "influxdb") as influxdb:
        bodies = baseline_bodies(messages, Path(tmp) / "points.lp")
        for r in range(args.rounds):
            for name, run in (
                ("baseline", lambda db: run_baseline(influxdb.url, db, bodies)),
                ("sequential", lambda db: run_sequential(influxdb.url, db, messages)),
                ("large", lambda db: run_large_writes(influxdb.url, db, messages)),
                ("pipelined", lambda db: run_pipelined(influxdb.url, db, messages)),
            ):
                database = f"{name}{r}"
                seconds = run(database)
                assert count(influxdb, database) == points, f"{name}: not every point landed"
                times[name].append(seconds)
    print(
        f"{points:,} points as {args.messages:,} messages of {BATCH} readings, 5,000-line writes, "
        f"InfluxDB 1.x on a free port, {args.rounds} rounds (each round runs all four, one after the other)"
    )
    rate = {name: points / min(seconds) for name, seconds in times.items()}
    print(f"InfluxDB from a line-protocol file:      {rate['baseline']:10,.0f} points/s (best round)")
    for name in ("sequential", "large", "pipelined"):
        # the ratio within each round pairs runs made under the same machine load
        paired = sorted(b / o for b, o in zip(times["baseline"], times[name]))
        print(
            f"Faultline decode+encode+write, {name:10s} {rate[name]:10,.0f} points/s (best round) "
            f"= {rate[name] / rate['baseline']:5.1%} of InfluxDB's own rate; "
            f"per round median {statistics.median(paired):5.1%}, range {paired[0]:.1%}-{paired[-1]:.1%}"
        )


if __name__ == "__main__":
    main()
