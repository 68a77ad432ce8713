"""Fault-to-order latency: a reading published over MQTT → a work order opened → its webhook delivered.

Run:  .venv/bin/python bench/bench_latency.py                    (10,000 streams at 1 Hz, about 3 minutes)
      .venv/bin/python bench/bench_latency.py --streams 100 --seconds 15 --faults 3   (a look, not figures)

It starts its own Mosquitto and InfluxDB (tests/servers.py) on free ports and a webhook receiver (a
plain HTTP server in this process). Three processes take part, so none times another's work:

* the fleet: ``--streams`` streams (``--sensors`` per asset), each publishing one reading a second at
  QoS 1 with its device time, spread over the second in tenths as independent gateways do. From
  second ``--warmup`` on, ``--faults`` assets, one at a time at known instants, start reading over the
  limit; the wall time just before that first faulty reading is published is the fault's start.
* the consumer: Faultline, built by ``service.compose.build_service`` from settings like a user's
  (real broker, InfluxDB, the work-order store in SQLite, a signed webhook), or the peer (below).
* this process: the receiver, which stamps the wall time each webhook arrives.

Latency is receive time − fault start per injected fault, for the ``opened`` webhook of that asset's
order; ``order`` is the order's own ``opened_at`` − fault start (the part before the notification).

The peer (``--legs peer``) is what a user would otherwise glue together: a Telegraf-like consumer
(paho subscriber, line protocol to InfluxDB in batches of ``metric_batch_size`` 1,000 or at least
every ``--peer-flush`` seconds) and a poll loop that asks InfluxDB every ``--peer-poll`` seconds for
readings over the limit since its last look and posts a webhook for each newly seen asset. It opens
no work order, keeps no SLA and sends unsigned webhooks: it is the latency floor of the poll design,
not a like-for-like product. Telegraf's own defaults are a 10 s flush and Kapacitor's batch queries
run on intervals of seconds to minutes; the defaults here (1 s, 1 s) favour the peer.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.receivers import HttpReceiver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT = 100.0  # the static limit every stream is checked against
HEALTHY = 50.0  # healthy readings stay near this
FAULTY = 150.0  # a faulty asset reads this from its fault start on
SITE = "north"  # a site of the shipped ticketing configuration
SECRET = "bench-latency-secret-0123456789"


def asset_name(i: int) -> str:
    return f"A{i:05d}"


# -- the fleet ------------------------------------------------------------------------------------


def fleet(
    port: int, streams: int, sensors: int, seconds: int, faults: list[tuple[int, int]], payload: str, ready, out
) -> None:
    """Publish every stream once a second for ``seconds``; ``faults``: (second, asset index) pairs.

    ``payload`` ``gateway``: one gateway message per asset and second carrying its sensors' readings;
    ``single``: one message per reading. A fault's first reading always goes alone on its sensor's
    topic, so its start is one publish. Puts {asset: fault start (wall time)}, the readings published
    and how late the fleet finished on ``out``."""
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    acked = [0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-fleet", protocol=mqtt.MQTTv311)
    client.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assets = streams // sensors
    at_second: dict[int, list[int]] = {}
    for second, asset in faults:
        at_second.setdefault(second, []).append(asset)
    faulty: set[int] = set()
    started: dict[str, float] = {}
    counts = {"messages": 0, "readings": 0}

    def publish(topic: str, body: dict, readings: int) -> None:
        # a window of unacknowledged messages: paho's mids wrap at 65,535, and a publisher far ahead of
        # its acknowledgements stalls (paho.mqtt.python PR #880)
        while counts["messages"] - acked[0] > 5000:
            time.sleep(0.001)
        client.publish(topic, orjson.dumps(body), qos=1)
        counts["messages"] += 1
        counts["readings"] += readings

    def value(asset: int, sensor: int, second: int) -> float:
        return FAULTY if asset in faulty else HEALTHY + (asset * 7 + sensor * 3 + second * 13) % 20 - 10

    ready.wait()
    t0 = time.time()
    slices = 10
    try:
        for second in range(seconds):
            first_sent: set[int] = set()
            for asset in at_second.get(second, ()):
                faulty.add(asset)
                time.sleep(max(0.0, t0 + second - time.time()))
                started[asset_name(asset)] = time.time()
                publish(
                    f"faultline/{SITE}/{asset_name(asset)}/s00", {"ts": int(time.time() * 1000), "value": FAULTY}, 1
                )
                first_sent.add(asset)
            for part in range(slices):
                time.sleep(max(0.0, t0 + second + part / slices - time.time()))
                ts = int(time.time() * 1000)
                for asset in range(part, assets, slices):
                    skip = 1 if asset in first_sent else 0  # its s00 went out as the fault's first reading
                    name = asset_name(asset)
                    if payload == "gateway":
                        publish(
                            f"faultline/{SITE}/_gateway/{name}",
                            {
                                "readings": [
                                    {"asset": name, "sensor": f"s{k:02d}", "ts": ts, "value": value(asset, k, second)}
                                    for k in range(skip, sensors)
                                ]
                            },
                            sensors - skip,
                        )
                    else:
                        for k in range(skip, sensors):
                            publish(
                                f"faultline/{SITE}/{name}/s{k:02d}", {"ts": ts, "value": value(asset, k, second)}, 1
                            )
        late = time.time() - (t0 + seconds)
        deadline = time.time() + 60
        while acked[0] < counts["messages"] and time.time() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    out.put({"started": started, "sent": counts["readings"], "late_s": late})


# -- the consumers --------------------------------------------------------------------------------


def faultline_settings(workdir: Path, mqtt_port: int, influx_url: str | None, webhook: str, metrics_port: int):
    """Settings as a user writes them: the shipped ticketing section (its webhook pointed at ours),
    one static-limit check on every sensor (no minimum duration: the first reading over opens)."""
    import yaml

    from faultline.service.settings import settings_from_dict
    from faultline.ticketing.config import default_config_path, parse_ticketing_section

    path = default_config_path()
    ticketing = parse_ticketing_section(yaml.safe_load(path.read_text()), str(path))
    ticketing.update(
        store_url=f"sqlite:///{workdir / 'workorders.sqlite'}",
        smtp={"host": ""},
        webhooks=[{"name": "bench", "url": webhook, "secret": SECRET}],
    )
    store = (
        {"kind": "influxdb", "url": influx_url, "database": "bench"}
        if influx_url
        else {"kind": "sqlite", "path": str(workdir / "readings.sqlite")}
    )
    return settings_from_dict(
        {
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{mqtt_port}",
                "client_id": "bench-faultline",
                "topic": "faultline/{site}/{asset}/{sensor}",
            },
            "store": store,
            "spool": {"path": str(workdir / "spool")},
            "ingest": {"dead_letter_path": str(workdir / "dead-letter.sqlite")},
            "metrics": {"port": metrics_port},
            "service": {"state_path": str(workdir / "service.sqlite")},
            "detectors": {
                "default_class": "default",
                "classes": {
                    "default": {
                        "checks": {
                            "over_limit": {
                                "sensor": "*",
                                "detector": "static_limit",
                                "params": {"high": LIMIT},
                                "fault_mode": "overheating",
                                "rule": {"alarm": 1.0, "clear": 0.9, "severity_levels": {"high": 1.0}},
                            }
                        }
                    }
                },
            },
            "ticketing": ticketing,
        },
        "bench",
    )


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def role_faultline(
    workdir: str, mqtt_port: int, influx_url: str | None, webhook: str, metrics_port: int, ready, stop, usage
) -> None:
    """Build the service through the composition root, run it until ``stop``."""
    import logging

    from faultline.service.compose import build_service

    logging.basicConfig(
        level=os.environ.get("BENCH_LOG", "WARNING"), format="faultline: %(levelname)s %(name)s: %(message)s"
    )
    service = build_service(faultline_settings(Path(workdir), mqtt_port, influx_url, webhook, metrics_port))
    runtime = service.runtime.start(ingest=True)
    try:
        deadline = time.monotonic() + 30
        while not runtime.source.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        ready.set()
        cpu_at_start, wall_at_start = cpu_seconds(), time.monotonic()
        stop.wait()
        usage.put((cpu_seconds() - cpu_at_start, time.monotonic() - wall_at_start))
    finally:
        runtime.stop()
        runtime.close()


def role_peer(mqtt_port: int, influx_url: str, webhook: str, flush_s: float, poll_s: float, ready, stop, usage) -> None:
    """The glue a user writes without Faultline: subscribe → line protocol → InfluxDB; poll → webhook."""
    import httpx
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    http = httpx.Client(timeout=10)
    http.post(f"{influx_url}/query", params={"q": "CREATE DATABASE peer"})
    pending: list[str] = []
    lock = threading.Lock()
    flushed = threading.Event()

    def on_message(client, userdata, message):
        _, site, asset, sensor = message.topic.split("/")
        body = orjson.loads(message.payload)
        readings = body["readings"] if asset == "_gateway" else [{"asset": asset, "sensor": sensor, **body}]
        lines = [
            f"telemetry,site={site},asset={r['asset']},sensor={r['sensor']} value={float(r['value'])} "
            f"{int(r['ts'])}000000"
            for r in readings
        ]
        with lock:
            pending.extend(lines)
            if len(pending) >= 1000:
                flushed.set()

    def writer():
        while not stop.is_set():
            flushed.wait(flush_s)
            flushed.clear()
            with lock:
                lines = pending[:]
                pending.clear()
            if lines:
                http.post(f"{influx_url}/write", params={"db": "peer"}, content="\n".join(lines).encode())

    def poller():
        seen: set[str] = set()
        since_ms = int(time.time() * 1000) - 5000
        while not stop.wait(poll_s):
            # readings are written late (batching), so look back a little past the last look
            query = (
                f"SELECT max(value) FROM telemetry WHERE value > {LIMIT} AND time > {since_ms - 5000}ms GROUP BY asset"
            )
            since_ms = int(time.time() * 1000)
            answer = http.get(f"{influx_url}/query", params={"db": "peer", "q": query}).json()
            for series in answer["results"][0].get("series", []):
                asset = series["tags"]["asset"]
                if asset not in seen:
                    seen.add(asset)
                    http.post(webhook, content=json.dumps({"asset": asset}).encode())

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-peer", protocol=mqtt.MQTTv311)
    client.on_message = on_message
    client.connect("127.0.0.1", mqtt_port)
    client.subscribe("faultline/+/+/+", qos=1)
    client.loop_start()
    threads = [threading.Thread(target=f, daemon=True) for f in (writer, poller)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    ready.set()
    cpu_at_start, wall_at_start = cpu_seconds(), time.monotonic()
    stop.wait()
    usage.put((cpu_seconds() - cpu_at_start, time.monotonic() - wall_at_start))
    client.disconnect()
    client.loop_stop()


# -- the run (the webhook receiver is tests/receivers.py's) ----------------------------------------


def fault_plan(streams: int, sensors: int, seconds: int, warmup: int, faults: int) -> list[tuple[int, int]]:
    """(second, asset) of each fault: evenly over the run after the warm-up, leaving 5 s to notice the last."""
    assets = max(1, streams // sensors)
    faults = min(faults, assets)
    span = max(1, seconds - warmup - 5)
    return [(warmup + k * span // faults, (k * 7919) % assets) for k in range(faults)]


def scrape(port: int, name: str) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[-1])
    return None


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def run_leg(leg: str, args, mqtt_port: int, influx_url: str | None, receiver: HttpReceiver, workdir: Path) -> dict:
    from tests.servers import free_port

    ctx = multiprocessing.get_context("spawn")
    ready, stop, out, usage = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    plan = fault_plan(args.streams, args.sensors, args.seconds, args.warmup, args.faults)
    metrics_port = free_port()
    if leg == "faultline":
        consumer = ctx.Process(
            target=role_faultline,
            name="faultline",
            args=(str(workdir / leg), mqtt_port, influx_url, receiver.url_for(leg), metrics_port, ready, stop, usage),
        )
    else:
        consumer = ctx.Process(
            target=role_peer,
            name="peer",
            args=(mqtt_port, influx_url, receiver.url_for(leg), args.peer_flush, args.peer_poll, ready, stop, usage),
        )
    publisher = ctx.Process(
        target=fleet,
        name="fleet",
        args=(mqtt_port, args.streams, args.sensors, args.seconds, plan, args.payload, ready, out),
    )
    consumer.start()
    publisher.start()
    waited = time.monotonic()
    while not ready.wait(0.5):
        if not consumer.is_alive() or time.monotonic() - waited > 120:
            consumer.kill()
            publisher.kill()
            raise SystemExit(f"{leg}: the consumer did not get ready (exit code {consumer.exitcode})")
    while True:
        try:
            result = out.get(timeout=1)
            break
        except queue.Empty:
            if not publisher.is_alive():
                consumer.kill()
                raise SystemExit(f"{leg}: the fleet stopped (exit code {publisher.exitcode})") from None
    started: dict[str, float] = result["started"]
    deadline = time.time() + args.settle
    while time.time() < deadline and len(_arrivals(receiver, leg, started)) < len(started):
        time.sleep(0.2)
    detected = scrape(metrics_port, "faultline_detector_readings") if leg == "faultline" else None
    stop.set()
    try:
        cpu, wall = usage.get(timeout=60)
    except queue.Empty:
        cpu = wall = None
    publisher.join(10)
    consumer.join(60)
    if consumer.is_alive():
        consumer.kill()
    arrivals = _arrivals(receiver, leg, started)
    delivered = [arrivals[a][0] - started[a] for a in started if a in arrivals]
    opened = [arrivals[a][1] - started[a] for a in started if a in arrivals and arrivals[a][1] is not None]
    return {
        "leg": leg,
        "faults": len(started),
        "delivered": delivered,
        "opened": opened,
        "sent": result["sent"],
        "late_s": result["late_s"],
        "detected": detected,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def _arrivals(receiver: HttpReceiver, leg: str, started: dict[str, float]) -> dict[str, tuple[float, float | None]]:
    """{asset: (webhook receive time, order opened_at or None)} of the first notice per faulty asset."""
    from datetime import datetime

    first: dict[str, tuple[float, float | None]] = {}
    for at, path, _, raw in list(receiver.got):
        if path != f"/{leg}":
            continue
        body = json.loads(raw)
        if "order" in body:
            if body.get("event") != "opened":
                continue
            asset, opened = body["order"]["asset"], datetime.fromisoformat(body["order"]["opened_at"]).timestamp()
        else:
            asset, opened = body["asset"], None
        if asset in started and asset not in first:
            first[asset] = (at, opened)
    return first


def report(r: dict, args) -> None:
    d = r["delivered"]
    print(
        f"\n{r['leg']}: {r['faults']} faults injected, {len(d)} notified; {r['sent']:,} readings published "
        f"(the fleet finished {r['late_s']:+.2f} s after its schedule)"
        + (f", {r['detected']:,.0f} scored by the detectors" if r["detected"] is not None else "")
    )
    if r["cpu_s"] is not None:
        print(
            f"  consumer CPU: {r['cpu_s']:.1f} s (user + system) for {r['sent']:,} readings: "
            f"{r['cpu_s'] / r['sent'] * 1e6:.0f} µs per reading; {r['cpu_s'] / r['wall_s']:.2f} of a core on average "
            f"over its {r['wall_s']:.0f} s"
        )
    if not d:
        print("  no notification arrived")
        return
    print(
        f"  reading → webhook delivered: p50 {percentile(d, 50):.3f} s, p99 {percentile(d, 99):.3f} s, "
        f"max {max(d):.3f} s, mean {statistics.mean(d):.3f} s"
    )
    if r["opened"]:
        o = r["opened"]
        print(
            f"  reading → work order opened: p50 {percentile(o, 50):.3f} s, p99 {percentile(o, 99):.3f} s, "
            f"max {max(o):.3f} s"
        )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--sensors", type=int, default=10, help="streams per asset")
    parser.add_argument("--seconds", type=int, default=90, help="how long the fleet publishes")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of healthy readings before the first fault")
    parser.add_argument("--faults", type=int, default=60)
    parser.add_argument("--settle", type=float, default=30, help="seconds to wait for the last notices")
    parser.add_argument(
        "--payload",
        choices=("gateway", "single"),
        default="gateway",
        help="gateway: one message per asset and second with its sensors' readings; single: one message per reading",
    )
    parser.add_argument("--store", choices=("influxdb", "sqlite"), default="influxdb")
    parser.add_argument("--legs", default="faultline,peer", help="faultline, peer or both (comma-separated)")
    parser.add_argument("--peer-flush", type=float, default=1.0, help="peer: longest wait before a write (s)")
    parser.add_argument("--peer-poll", type=float, default=1.0, help="peer: seconds between queries")
    args = parser.parse_args(argv)
    legs = [leg for leg in args.legs.split(",") if leg]
    if args.store == "sqlite" and "peer" in legs:
        parser.error("the peer writes to InfluxDB: use --store influxdb or --legs faultline")

    from tests.receivers import HttpReceiver
    from tests.servers import InfluxDB, Mosquitto

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(tmp)
        with Mosquitto(workdir / "mosquitto") as broker:
            influx = InfluxDB(workdir / "influxdb").start() if args.store == "influxdb" else None
            receiver = HttpReceiver().up()
            try:
                print(
                    f"{args.streams:,} streams ({args.streams // args.sensors:,} assets × {args.sensors}) at 1 Hz "
                    f"for {args.seconds} s, {args.payload} messages at QoS 1; {min(args.faults, args.streams // args.sensors)} faults from "
                    f"second {args.warmup}; store {args.store}; {os.cpu_count()} CPUs"
                )
                for leg in legs:
                    results.append(run_leg(leg, args, broker.port, influx.url if influx else None, receiver, workdir))
                    report(results[-1], args)
            finally:
                receiver.down()
                if influx is not None:
                    influx.close()
    ours = next((r for r in results if r["leg"] == "faultline" and r["delivered"]), None)
    peer = next((r for r in results if r["leg"] == "peer" and r["delivered"]), None)
    if ours and peer:
        print(
            f"\npeer p50 / Faultline p50: {percentile(peer['delivered'], 50) / percentile(ours['delivered'], 50):.2f}×"
            f"; peer p99 / Faultline p99: "
            f"{percentile(peer['delivered'], 99) / percentile(ours['delivered'], 99):.2f}× "
            f"(peer polling every {args.peer_poll} s, flushing every {args.peer_flush} s)"
        )
    return results


if __name__ == "__main__":
    main()
