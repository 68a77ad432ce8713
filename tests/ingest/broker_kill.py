"""What a broker kill -9 loses: Mosquitto run with a given configuration, Faultline keeping up.

A publisher sends ``n`` numbered readings at QoS 1 and records every one the broker acknowledged;
Faultline's pipeline (real MQTT source, fsync'd spool, SQLite store) ingests them; midway the broker
is killed with SIGKILL and started again on the same port and persistence file; the publisher
reconnects and sends what was not acknowledged. Lost = acknowledged to the publisher but never
stored. Run::

    .venv/bin/python -m tests.ingest.broker_kill --conf config/mosquitto.conf --runs 2

``test_broker_kill.py`` runs a short version (marked slow).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from faultline.ingest.codecs import Decoder
from faultline.ingest.deadletter import DeadLetterStore
from faultline.ingest.metrics import IngestMetrics
from faultline.ingest.pipeline import Pipeline
from faultline.ingest.settings import MqttSettings
from faultline.ingest.source import MqttSource
from faultline.ingest.spool import Spool
from faultline.vocabulary import Backoff
from faultline.ingest.writers import SqliteStore
from tests.ingest.publishing import create_session
from tests.servers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
TS = 1763700000000
PROTOCOL = "5"


class ConfiguredMosquitto(Mosquitto):
    """Mosquitto with a given configuration file; only its listener and persistence folder are changed."""

    def __init__(self, conf: Path, root: Path | None = None):
        super().__init__(root)
        self.conf_text = conf.read_text()

    def command(self) -> list[str]:
        command = super().command()  # makes data/ and a configuration we replace
        text = re.sub(r"(?m)^listener .*$", f"listener {self.port} 127.0.0.1", self.conf_text)
        text = re.sub(r"(?m)^persistence_location .*$", f"persistence_location {self.root / 'data'}/", text)
        (self.root / "mosquitto.conf").write_text(text)
        return command


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except RuntimeError:  # paho raises when the connection is gone
        return False


def publish_through_a_kill(broker: Mosquitto, n: int, kill_at: int, window: int = 100) -> set[int]:
    """Publish readings 0..n-1; kill -9 the broker once ``kill_at`` are acknowledged; returns the acknowledged.

    The kill comes from another thread, at whatever point the stream is, as a crash would.
    """
    acked: set[int] = set()
    lock = threading.Lock()

    def killer() -> None:
        while True:
            with lock:
                if len(acked) >= kill_at:
                    break
            time.sleep(0.001)
        broker.stop(kill=True)
        broker.start()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    i = 0
    while i < n:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kill-publisher", protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(window)
        try:
            client.connect("127.0.0.1", broker.port)
        except OSError:
            time.sleep(0.1)
            continue
        client.loop_start()
        try:
            while i < n:
                batch = range(i, min(n, i + window))
                infos = [
                    (k, client.publish("faultline/s1/pump1/temp", orjson.dumps({"ts": TS + k, "value": k}), qos=1))
                    for k in batch
                ]
                missing = []
                for k, info in infos:
                    if not missing:
                        try:
                            info.wait_for_publish(3)
                        except RuntimeError:  # the connection is gone
                            pass
                    if _published(info):
                        with lock:
                            acked.add(k)
                    else:
                        missing.append(k)
                if missing:
                    i = missing[0]  # send again from the first unacknowledged one
                    break
                i = batch[-1] + 1
        finally:
            client.disconnect()
            client.loop_stop()
    thread.join(30)
    return acked


class SlowDecoder(Decoder):
    """A decoder that takes ``delay_s`` longer per call: Faultline falls behind the publisher."""

    def __init__(self, template: str, delay_s: float):
        super().__init__(template)
        self.delay_s = delay_s

    def decode_many(self, messages):
        time.sleep(self.delay_s)
        return super().decode_many(messages)


def run_once(
    conf: Path, n: int, kill_at: int, window: int = 1000, behind_ms: float = 0, ingester_down: bool = False
) -> tuple[int, int, float]:
    """(acknowledged, lost, seconds) of one run.

    Keeping up, the broker holds few messages at any moment; when Faultline falls behind (``behind_ms``
    per commit) or is down while the broker dies (``ingester_down``: it starts after the publisher
    finished), the broker holds a backlog and its persistence decides what survives.
    """
    with tempfile.TemporaryDirectory(prefix="faultline-broker-kill-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)  # mosquitto drops root privileges; its own user must reach its data folder
        broker = ConfiguredMosquitto(conf, tmp / "broker").start()
        create_session(broker.port, "kill-ingest")
        # as in a broker that has run for a while: the session is in the persistence file (SIGUSR1 saves it)
        os.kill(broker.proc.pid, signal.SIGUSR1)
        time.sleep(0.5)
        settings = MqttSettings(
            url=f"mqtt://127.0.0.1:{broker.port}",
            client_id="kill-ingest",
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
            receive_maximum=50 if behind_ms else 1000,
            protocol=PROTOCOL,
        )
        store = SqliteStore(tmp / "readings.sqlite")
        spool = Spool(tmp / "spool")
        dead = DeadLetterStore(tmp / "dl.sqlite")
        pipeline = Pipeline(
            MqttSource(settings),
            SlowDecoder("faultline/{site}/{asset}/{sensor}", behind_ms / 1000),
            spool,
            store,
            dead,
            IngestMetrics(),
            backoff=Backoff(0.05, 0.5),
        )
        started = time.monotonic()
        try:
            if not ingester_down:
                pipeline.start()
            acked = publish_through_a_kill(broker, n, kill_at, window)
            elapsed = time.monotonic() - started
            if ingester_down:
                pipeline.start()

            def stored() -> set[int]:
                return {int(v) for v in store.query("pump1", "temp", 0, 2**62).value.tolist()}

            # settle: everything the restarted broker still had arrives within a few seconds
            last, quiet_since = -1, time.monotonic()
            while time.monotonic() - quiet_since < 3:
                now = len(stored())
                if now != last:
                    last, quiet_since = now, time.monotonic()
                time.sleep(0.2)
            lost = len(acked - stored())
        finally:
            if pipeline.source.connections or not ingester_down:
                pipeline.stop(5)
            spool.close()
            dead.close()
            store.close()
            broker.close()
    return len(acked), lost, elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conf", type=Path, default=ROOT / "config" / "mosquitto.conf")
    parser.add_argument("-n", type=int, default=20_000, help="readings per run")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--window", type=int, default=1000, help="QoS-1 publishes in flight")
    parser.add_argument(
        "--behind-ms",
        type=float,
        default=0,
        help="slow each commit by this much (and Receive Maximum 50): Faultline falls behind",
    )
    parser.add_argument(
        "--ingester-down",
        action="store_true",
        help="Faultline is stopped while the broker is killed (starts after the publisher)",
    )
    args = parser.parse_args(argv)
    for run in range(args.runs):
        acked, lost, seconds = run_once(args.conf, args.n, args.n // 2, args.window, args.behind_ms, args.ingester_down)
        mode = (
            "Faultline down during the kill"
            if args.ingester_down
            else f"Faultline {args.behind_ms:g} ms behind per commit"
            if args.behind_ms
            else "Faultline keeping up"
        )
        print(
            f"run {run + 1}: {args.conf.name}, {mode}: {acked} acknowledged to the publisher, {lost} lost "
            f"({acked / seconds:,.0f} msgs/s published)",
            flush=True,
        )


if __name__ == "__main__":
    main()
