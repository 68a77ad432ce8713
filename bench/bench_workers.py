"""Workers: throughput of 1, 2 and 3 `faultline run` processes sharing one fleet by static shards.

Run:  .venv/bin/python bench/bench_workers.py            (about three minutes on a 2-core machine)
      .venv/bin/python bench/bench_workers.py --quick    (smaller counts, for a smoke test)

It starts its own Mosquitto (tests/servers.py). The fleet is six gateways (three per site), each with
``--assets`` assets of two sensors (vibration_rms, bearing_temp: the shipped detectors' default class
watches both), every message a gateway batch of 100 readings. Worker k of N subscribes to gateways
k, k+N, …: its shard. So that the publisher is not what is measured, every message is published
BEFORE the measurement into the persistent sessions of the N workers (Mosquitto queues them); the
workers are then started, each a real `faultline run` (decode, spool with fsync, PUBACK, SQLite
store, detectors, findings), and the rate is read off their `faultline_detector_readings` counters
between 10 % and 90 % of the readings detected, so start-up does not count.

Printed: readings/s for each N, and per worker against one worker alone (1.0 = perfect scaling).
On a machine with fewer cores than workers + broker, the ratio says how the cores are shared, not
how the design scales: say so when quoting it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GATEWAYS = [("north", f"gw{i}") for i in (1, 2, 3)] + [("south", f"gw{i}") for i in (4, 5, 6)]
SENSORS = ("vibration_rms", "bearing_temp")
T0_MS = 1_764_547_200_000  # 2025-12-01T00:00Z


def messages(assets: int, rounds: int):
    """(topic, payload) of every gateway's batches: each stream one reading a minute, 100 per message."""
    import numpy as np

    rng = np.random.default_rng(7)
    for site, gw in GATEWAYS:
        rows = []
        for r in range(rounds):
            for a in range(assets):
                for sensor in SENSORS:
                    base = 2.0 if sensor == "vibration_rms" else 55.0
                    rows.append(
                        {
                            "asset": f"{gw}-A{a:03d}",
                            "sensor": sensor,
                            "ts": T0_MS + r * 60_000,
                            "value": round(float(base * (1 + 0.02 * rng.standard_normal())), 3),
                        }
                    )
                    if len(rows) == 100:
                        yield f"faultline/{site}/_gateway/{gw}", json.dumps({"readings": rows})
                        rows = []
        if rows:
            yield f"faultline/{site}/_gateway/{gw}", json.dumps({"readings": rows})


def shard_filters(k: int, n: int) -> list[str]:
    return [f"faultline/{site}/_gateway/{gw}" for i, (site, gw) in enumerate(GATEWAYS) if i % n == k]


def preload(port: int, n: int, assets: int, rounds: int, run: str) -> dict[str, int]:
    """Publish everything into the N workers' sessions; returns readings per worker."""
    import paho.mqtt.client as mqtt

    from tests.ingest.publishing import create_session

    owner = {}
    for k in range(n):
        create_session(port, f"bench-{run}-w{k}", tuple(shard_filters(k, n)))
        for f in shard_filters(k, n):
            owner[f] = k
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{run}-pub", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    counts = {f"w{k}": 0 for k in range(n)}
    info = None
    for topic, payload in messages(assets, rounds):
        info = client.publish(topic, payload, qos=1)
        counts[f"w{owner[topic]}"] += payload.count('"asset"')
    if info is not None:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return counts


def worker_config(folder: Path, port: int, k: int, n: int, run: str, metrics_port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": f"bench-{run}-w{k}", "subscribe": shard_filters(k, n)},
        "store": {"kind": "sqlite", "path": str(folder / "readings.sqlite")},
        "spool": {"path": str(folder / "spool")},
        "ingest": {"dead_letter_path": str(folder / "dead.sqlite")},
        "metrics": {"port": metrics_port},
        "service": {"port": 0, "state_path": str(folder / "service.sqlite")},
        "ticketing": {
            **yaml.safe_load((ROOT / "config/ticketing.yaml").read_text())["ticketing"],
            "store_url": f"sqlite:///{folder / 'orders.sqlite'}",
        },
        "detectors": yaml.safe_load((ROOT / "config/detectors.yaml").read_text())["detectors"],
    }
    path = folder / "faultline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def detected(metrics_port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("faultline_detector_readings_total "):
            return float(line.split()[1])
    return 0.0


def measure(mosquitto, n: int, assets: int, rounds: int, workdir: Path) -> dict:
    from tests.servers import free_port

    run = f"n{n}-{time.monotonic_ns()}"
    counts = preload(mosquitto.port, n, assets, rounds, run)
    total = sum(counts.values())
    ports = [free_port() for _ in range(n)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAULTLINE_WEBHOOK_URL": "", "FAULTLINE_SMTP_HOST": ""}
    procs = []
    for k in range(n):
        config = worker_config(workdir / run / f"w{k}", mosquitto.port, k, n, run, ports[k])
        log = open(config.with_suffix(".log"), "wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "faultline.service.cli", "run", "--config", str(config)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    marks: dict[str, float] = {}
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            done = sum(detected(p) for p in ports)
            now = time.monotonic()
            if done >= 0.1 * total and "p10" not in marks:
                marks["p10"], marks["n10"] = now, done
            elif done >= 0.9 * total:
                marks["p90"], marks["n90"] = now, done
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    if "p90" not in marks:
        raise SystemExit(f"{n} workers: only {done:.0f} of {total} readings detected in time; see {workdir / run}")
    rate = (marks["n90"] - marks["n10"]) / max(marks["p90"] - marks["p10"], 1e-9)
    return {"workers": n, "readings": total, "per_worker": counts, "readings_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test, not a measurement")
    parser.add_argument("--assets", type=int, default=None, help="assets per gateway (default 100; quick 10)")
    parser.add_argument("--rounds", type=int, default=None, help="readings per stream (default 300; quick 60)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 3])
    args = parser.parse_args()
    assets = args.assets or (10 if args.quick else 100)
    rounds = args.rounds or (60 if args.quick else 300)
    from tests.servers import Mosquitto

    with tempfile.TemporaryDirectory(prefix="faultline-bench-workers-") as workdir:
        with Mosquitto(Path(workdir, "mosquitto")) as mosquitto:
            results = [measure(mosquitto, n, assets, rounds, Path(workdir)) for n in args.workers]
    one = next((r["readings_per_s"] for r in results if r["workers"] == 1), None)
    streams = len(GATEWAYS) * assets * len(SENSORS)
    print(f"{streams} streams, {results[0]['readings']} readings, gateway batches of 100, {os.cpu_count()} cores")
    for r in results:
        per = f"  per worker vs one alone: {r['readings_per_s'] / r['workers'] / one:.2f}" if one else ""
        print(f"{r['workers']} worker(s): {r['readings_per_s']:,.0f} readings/s{per}")


if __name__ == "__main__":
    main()
