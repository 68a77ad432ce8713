"""Ingest benchmark: Faultline against a bare paho subscriber and against InfluxDB's own write rate.

Run:  .venv/bin/python bench/bench_ingest.py            (about two minutes on a 2-core machine)
      .venv/bin/python bench/bench_ingest.py --quick    (smaller counts, for a smoke test)

It starts its own Mosquitto and InfluxDB (tests/servers.py) on free ports. So that the publisher is
not what is measured, every message is published BEFORE the measurement into the persistent
sessions of both consumers (Mosquitto queues them, max_queued_messages 0); each consumer then runs in
its own fresh process and the clock runs from its connect until the last message is counted (bare
subscriber) or the last reading is confirmed written to InfluxDB (Faultline: decode, spool with
fsync, PUBACK, line protocol, HTTP write).

(a) single-reading messages: Faultline / bare subscriber (json.loads + count, auto-ack QoS 1).
(b) 1,024-sample waveform blocks: Faultline storing per-block features (service.waveforms, the function
    `faultline ingest` injects: RMS, peak, crest factor, kurtosis) / bare subscriber.
(c) 100-reading batches, 1,000,000 readings: Faultline / InfluxDB taking the same points as line
    protocol from a file in 5,000-line requests; and Faultline's peak memory (VmHWM, its peak resident set).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0_MS = 1763700000000
# Faultline / baseline. (a) and (c) are issue 13's: single readings at least 1.25 times a bare paho
# subscriber, 100-reading batches at least 0.95 of InfluxDB's own rate; (b) is the first ingest issue's.
TARGETS = {"a": 1.25, "b": 0.7, "c": 0.95}
TOPIC = "faultline/bench/pump{asset}/{sensor}"


# -- payloads -------------------------------------------------------------------------------------


def payloads(kind: str, count: int, start: int = 0) -> list[tuple[str, bytes]]:
    import numpy as np
    import orjson

    if kind == "single":
        return [
            (
                TOPIC.format(asset=i % 50, sensor="bearing_temp"),
                orjson.dumps({"ts": T0_MS + i, "value": round(40 + (i % 1000) / 100, 2)}),
            )
            for i in range(start, start + count)
        ]
    if kind == "batch":
        out = []
        for m in range(start, start + count):
            ts = list(range(T0_MS + m * 100, T0_MS + m * 100 + 100))
            out.append(
                (
                    TOPIC.format(asset=m % 50, sensor="vibration_rms"),
                    orjson.dumps({"ts": ts, "value": [round(2 + (j % 17) / 10, 2) for j in range(100)]}),
                )
            )
        return out
    if kind == "waveform":
        rng = np.random.default_rng(start)
        out = []
        for m in range(start, start + count):
            values = np.round(rng.normal(0, 1, 1024), 4).tolist()
            out.append(
                (
                    TOPIC.format(asset=m % 50, sensor="accel"),
                    orjson.dumps({"t0": T0_MS + m * 200, "rate_hz": 10000, "values": values}),
                )
            )
        return out
    raise ValueError(kind)


def _publish_part(args) -> int:
    port, kind, start, count = args
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    messages = payloads(kind, count, start)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{kind}-{start}", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(500)
    client.connect("127.0.0.1", port)
    client.loop_start()
    window = 500
    for i in range(0, len(messages), window):
        infos = [client.publish(t, p, qos=1) for t, p in messages[i : i + window]]
        for info in infos:
            info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return count


def preload(port: int, kind: str, count: int, publishers: int = 2) -> float:
    """Publish ``count`` messages from several processes; returns the publish rate (msg/s)."""
    parts = [
        (port, kind, i * count // publishers, (i + 1) * count // publishers - i * count // publishers)
        for i in range(publishers)
    ]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(publishers) as pool:
        assert sum(pool.map(_publish_part, parts)) == count
    return count / (time.perf_counter() - started)


# -- the consumers, each run in its own process ---------------------------------------------------


def role_bare(port: int, client_id: str, count: int) -> dict:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    done = threading.Event()
    received = 0

    def on_message(client, userdata, message):
        nonlocal received
        json.loads(message.payload)
        received += 1
        if received == count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    cpu0, started = _own_cpu(), time.perf_counter()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return {"elapsed": elapsed, "count": received, "cpu_s": _own_cpu() - cpu0, "maxrss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a role started by a large bench process would report the bench's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_waveform_features():
    """The function `faultline ingest` injects, for an asset without configured bearing geometry:
    the time-domain features of each block (the issue's RMS, peak, crest factor and kurtosis)."""
    from faultline.detectors import DetectorsConfig
    from faultline.service.waveforms import waveform_features

    config = DetectorsConfig()
    return waveform_features(lambda: config)


def points_per_block() -> int:
    """How many points one block becomes: the fields the features function returns that ingest stores."""
    import numpy as np

    from faultline.ingest.codecs import WAVEFORM_FIELDS

    probe = bench_waveform_features()(np.zeros((1, 1024)), 10_000.0, {"asset": "bench", "sensor": "accel"})
    return len(set(probe) & set(WAVEFORM_FIELDS))


def role_ours(
    port: int,
    client_id: str,
    count: int,
    influx_url: str,
    database: str,
    workdir: str,
    features: bool,
    checkpoint_interval_s: str = "",
) -> dict:
    from faultline.ingest.metrics import IngestMetrics
    from faultline.ingest.pipeline import run_ingest
    from faultline.service.settings import settings_from_dict

    waveform_features = bench_waveform_features() if features else None
    settings = settings_from_dict(
        {
            "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": client_id, "receive_maximum": 1000},
            "store": {"kind": "influxdb", "url": influx_url, "api": "v1", "database": database},
            "spool": {
                "path": f"{workdir}/spool",
                **({"checkpoint_interval_s": float(checkpoint_interval_s)} if checkpoint_interval_s else {}),
            },
            "ingest": {"dead_letter_path": f"{workdir}/dead-letter.sqlite"},
            "metrics": {"port": 0},
        }
    )
    metrics = IngestMetrics()
    stop = threading.Event()
    written = lambda: metrics.registry.get_sample_value("faultline_readings_written_total") or 0  # noqa: E731
    cpu0, started = _own_cpu(), time.perf_counter()
    runner = threading.Thread(
        target=run_ingest,
        args=(settings.mqtt, settings.store, settings.spool, settings.ingest, settings.metrics),
        kwargs={"waveform_features": waveform_features, "stop": stop, "metrics": metrics},
    )
    runner.start()
    while written() < count and runner.is_alive():
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    runner.join()
    return {
        "elapsed": elapsed,
        "count": written(),
        "messages": metrics.registry.get_sample_value("faultline_messages_received_total"),
        "cpu_s": _own_cpu() - cpu0,
        "maxrss_mb": peak_rss_mb(),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_role(*args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--role", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise RuntimeError(f"role {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- InfluxDB's own rate for the same points --------------------------------------------------------


def influx_direct(influxdb, database: str, messages: list[tuple[str, bytes]], workdir: str) -> tuple[float, float]:
    """Points/s InfluxDB takes from one client posting a line-protocol file in 5,000-line requests, and the
    CPU seconds influxd used meanwhile."""
    import httpx
    import orjson

    lines = []
    for topic, payload in messages:
        _, site, asset, sensor = topic.split("/")
        obj = orjson.loads(payload)
        prefix = f"telemetry,asset={asset},sensor={sensor},site={site} value="
        lines.extend(f"{prefix}{v!r} {t * 1_000_000}" for t, v in zip(obj["ts"], obj["value"]))
    path = Path(workdir) / "points.lp"
    path.write_text("\n".join(lines))
    chunks = []
    with open(path) as f:
        text = f.read().split("\n")
    for i in range(0, len(text), 5000):
        chunks.append("\n".join(text[i : i + 5000]).encode())
    with httpx.Client(base_url=influxdb.url, timeout=60) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'})
        cpu = cpu_seconds(influxdb.proc.pid)
        started = time.perf_counter()
        for chunk in chunks:
            r = client.post("/write", params={"db": database, "precision": "ns"}, content=chunk)
            r.raise_for_status()
        return len(lines) / (time.perf_counter() - started), cpu_seconds(influxdb.proc.pid) - cpu


# -- the orchestration ------------------------------------------------------------------------------


def compare(
    mosquitto,
    influxdb,
    kind: str,
    count: int,
    readings_per_message: int,
    features: bool,
    workdir: str,
    label: str,
    run: int = 0,
    checkpoint_interval_s: str = "",
) -> dict:
    from tests.ingest.publishing import create_session

    bare_id, ours_id = f"bench-bare-{kind}-{run}", f"bench-ours-{kind}-{run}"
    filters = ("faultline/bench/+/+",)
    for client_id in (bare_id, ours_id):
        create_session(mosquitto.port, client_id, filters)
    publish_rate = preload(mosquitto.port, kind, count)
    servers = {"mosquitto": mosquitto.proc.pid, "influxd": influxdb.proc.pid}
    before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    bare = run_role("bare", mosquitto.port, bare_id, count)
    middle = {name: cpu_seconds(pid) for name, pid in servers.items()}
    readings = count * (points_per_block() if features else readings_per_message)
    ours = run_role(
        "ours",
        mosquitto.port,
        ours_id,
        readings,
        influxdb.url,
        f"bench_{kind}_{run}",
        Path(workdir, f"{kind}-{run}"),
        int(features),
        checkpoint_interval_s,
    )
    after = {name: cpu_seconds(pid) for name, pid in servers.items()}
    result = {
        "label": label,
        "messages": count,
        "publish_msg_s": publish_rate,
        "bare_msg_s": bare["count"] / bare["elapsed"],
        "ours_msg_s": ours["messages"] / ours["elapsed"],
        "ours_readings_s": ours["count"] / ours["elapsed"],
        "ours_maxrss_mb": ours["maxrss_mb"],
        "cpu": {
            "bare": {"self": bare["cpu_s"], **{k: middle[k] - before[k] for k in servers}},
            "ours": {"self": ours["cpu_s"], **{k: after[k] - middle[k] for k in servers}},
        },
    }
    result["ratio"] = result["ours_msg_s"] / result["bare_msg_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test, not figures)")
    parser.add_argument("--legs", default="abc", help="which legs to run, e.g. 'c' (default: abc)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each leg; prints the median ratio")
    parser.add_argument(
        "--checkpoint-interval-s",
        default="",
        help="Faultline's spool.checkpoint_interval_s (default: the shipped setting; 0: after every batch)",
    )
    parser.add_argument("--role", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        role, *rest = args.role
        if role == "bare":
            print(json.dumps(role_bare(int(rest[0]), rest[1], int(rest[2]))))
        else:
            port, client_id, count, url, db, workdir, features, *checkpoint = rest
            print(
                json.dumps(role_ours(int(port), client_id, int(count), url, db, workdir, features == "1", *checkpoint))
            )
        return

    from tests.servers import InfluxDB, Mosquitto

    scale = 10 if args.quick else 1
    n_single, n_wave, n_batch = 200_000 // scale, 4_000 // scale, 10_000 // scale
    workdir = tempfile.mkdtemp(prefix="faultline-bench-")
    legs = set(args.legs)
    runs: dict[str, list[dict]] = {leg: [] for leg in "abc" if leg in legs}
    with Mosquitto(Path(workdir, "mosquitto")) as mosquitto, InfluxDB(Path(workdir, "influxdb")) as influxdb:
        print(
            f"Mosquitto on {mosquitto.port}, InfluxDB on {influxdb.port}, cpus {os.cpu_count()}, "
            f"{args.repeat} run(s) of each leg"
        )
        for run in range(args.repeat):
            if "a" in legs:
                runs["a"].append(
                    compare(mosquitto, influxdb, "single", n_single, 1, False, workdir, "(a) single readings", run)
                )
            if "b" in legs:
                runs["b"].append(
                    compare(
                        mosquitto, influxdb, "waveform", n_wave, 1, True, workdir, "(b) 1,024-sample waveforms", run
                    )
                )
            if "c" in legs:
                c = compare(
                    mosquitto,
                    influxdb,
                    "batch",
                    n_batch,
                    100,
                    False,
                    workdir,
                    "(c) 100-reading batches",
                    run,
                    args.checkpoint_interval_s,
                )
                c["direct"], c["direct_cpu"] = influx_direct(
                    influxdb, f"bench_direct_{run}", payloads("batch", n_batch), workdir
                )
                c["ratio"] = c["ours_readings_s"] / c["direct"]
                runs["c"].append(c)
    print()
    for leg, target in (("a", TARGETS["a"]), ("b", TARGETS["b"])):
        for r in runs.get(leg, []):
            print(f"{r['label']}: {r['messages']:,} messages (publisher {r['publish_msg_s']:,.0f} msg/s, not timed)")
            print(f"    bare paho subscriber (json.loads + count): {r['bare_msg_s']:>10,.0f} msg/s")
            print(
                f"    Faultline  MQTT -> spool (fsync) -> InfluxDB: {r['ours_msg_s']:>7,.0f} msg/s"
                f"  ({r['ours_readings_s']:,.0f} points/s)"
            )
            print(f"    ratio {r['ratio']:.2f}  (target >= {target})")
            print(f"    {_cpu_line(r)}")
    for c in runs.get("c", []):
        print(f"{c['label']}: {c['messages'] * 100:,} readings in {c['messages']:,} messages")
        print(f"    InfluxDB direct from a line-protocol file (5,000-line requests): {c['direct']:>10,.0f} points/s")
        print(
            f"    Faultline MQTT -> spool (fsync) -> InfluxDB:                     {c['ours_readings_s']:>10,.0f} points/s"
        )
        print(f"    ratio {c['ratio']:.2f}  (target >= {TARGETS['c']})")
        print(f"    {_cpu_line(c)}; influxd direct {c['direct_cpu']:.1f}")
        print(
            f"    bare paho subscriber on the same messages: {c['bare_msg_s']:,.0f} msg/s; "
            f"Faultline {c['ours_msg_s']:,.0f} msg/s"
        )
        print(f"    Faultline peak memory (VmHWM): {c['ours_maxrss_mb']:.0f} MB  (target < 300 MB)")
    if args.repeat > 1:
        print("\nmedian ratio over the runs (each run's baseline and Faultline measured back to back):")
        for leg, target in TARGETS.items():
            if runs.get(leg):
                ratios = sorted(r["ratio"] for r in runs[leg])
                print(
                    f"    {runs[leg][0]['label']}: {statistics.median(ratios):.2f} "
                    f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}; target >= {target})"
                )


def _cpu_line(r: dict) -> str:
    """CPU seconds each process used in a leg: on 2 cores, who competes with whom."""
    parts = [
        f"{role} {c['self']:.1f} (mosquitto {c['mosquitto']:.1f}, influxd {c['influxd']:.1f})"
        for role, c in r["cpu"].items()
    ]
    return "CPU seconds: " + "; ".join(parts)


if __name__ == "__main__":
    main()
