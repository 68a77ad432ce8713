"""Faults at the boundaries, against the real Mosquitto: the stream stalls for no one and loses nothing.

Each test builds the pipeline from its real parts (MQTT source, spool, SQLite store, dead-letter
store) and injects a fault that once stalled ingest for good.
"""

import contextlib
import subprocess
import sys

import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.deadletter import DeadLetterStore
from faultline.ingest.metrics import IngestMetrics
from faultline.ingest.pipeline import Pipeline
from faultline.ingest.settings import MqttSettings
from faultline.ingest.source import MqttSource
from faultline.ingest.spool import Spool
from faultline.vocabulary import Backoff
from faultline.ingest.writers import SqliteStore
from tests.ingest.publishing import create_session, publish, wait_for

pytestmark = pytest.mark.servers

TS = 1763700000000
TEMPLATE = "faultline/{site}/{asset}/{sensor}"


@contextlib.contextmanager
def pipeline(mosquitto, tmp_path, client_id, **kwargs):
    """A running pipeline from the real parts; yields (pipeline, store, dead letters)."""
    create_session(mosquitto.port, client_id)
    settings = MqttSettings(url=mosquitto.url, client_id=client_id, reconnect_min_s=0.1, reconnect_max_s=1)
    store = SqliteStore(tmp_path / "readings.sqlite")
    dead = DeadLetterStore(tmp_path / "dead-letter.sqlite", busy_timeout_s=0.2)
    spool = Spool(tmp_path / "spool")
    p = Pipeline(
        MqttSource(settings),
        Decoder(TEMPLATE),
        spool,
        store,
        dead,
        IngestMetrics(),
        backoff=Backoff(0.05, 0.5),
        **kwargs,
    ).start()
    try:
        yield p, store, dead
    finally:
        p.stop(5.0)
        spool.close()
        dead.close()
        store.close()


def stored_values(store, sensor="temp"):
    return sorted(store.query("pump1", sensor, 0, 2**62).value.tolist())


def test_dead_letter_store_locked_by_another_process_stalls_nothing(mosquitto, tmp_path):
    with pipeline(mosquitto, tmp_path, "fault-locked-dead-letters") as (p, store, dead):
        # another process (an operator's sqlite3 shell, a replay job) holds the write lock
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                    "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"
                ),
                str(tmp_path / "dead-letter.sqlite"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert holder.stdout.readline() == b"locked\n"
            good = [("faultline/s1/pump1/temp", orjson.dumps({"ts": TS + i, "value": i})) for i in range(100)]
            publish(mosquitto.port, good[:50] + [("faultline/s1/pump1/temp", b"{oops")] + good[50:])
            failures = p.metrics.stage_failures.labels("commit")
            wait_for(lambda: failures._value.get() >= 2, 20, "the commit stage to fail and retry")
            assert not p.healthy and "locked" in p.stage_failures["commit"]
        finally:
            holder.stdin.close()
            holder.wait(10)
        wait_for(lambda: stored_values(store) == [float(i) for i in range(100)], 30, "every good reading stored")
        wait_for(lambda: dead.count() == 1, 10, "the bad message dead-lettered")
        wait_for(lambda: p.healthy, 10, "the commit stage healthy again")
        assert dead.list()[0].payload == b"{oops"


def test_readings_without_a_device_timestamp_are_stored_once_when_the_broker_sends_them_again(mosquitto, tmp_path):
    # the ingester spools messages and dies before its PUBACKs leave: the broker sends them again
    # (DUP set), and each must get the receive time it was first given, or it is stored twice
    client_id = "fault-receive-stamps"
    create_session(mosquitto.port, client_id)
    settings = MqttSettings(url=mosquitto.url, client_id=client_id, reconnect_min_s=0.1, reconnect_max_s=1)
    store = SqliteStore(tmp_path / "readings.sqlite")
    dead = DeadLetterStore(tmp_path / "dead-letter.sqlite")
    messages = [("faultline/s1/pump1/temp", orjson.dumps({"value": i})) for i in range(50)]
    publish(mosquitto.port, messages)

    class NeverAcks(MqttSource):
        def ack(self, delivery):  # as if the process died between the spool's fsync and the PUBACK
            return 0

    with Spool(tmp_path / "spool") as spool:
        first = Pipeline(NeverAcks(settings), Decoder(TEMPLATE), spool, store, dead, IngestMetrics()).start()
        wait_for(lambda: len(stored_values(store)) == 50, 20, "the first delivery stored")
        first.stop(5.0)
    with Spool(tmp_path / "spool") as spool:  # a new process: the stamps come back from the spool
        again = Pipeline(MqttSource(settings), Decoder(TEMPLATE), spool, store, dead, IngestMetrics()).start()
        wait_for(lambda: again.metrics.messages_received._value.get() >= 50, 20, "the broker to send them again")
        again.stop(5.0)
    assert stored_values(store) == [float(i) for i in range(50)]  # once each, not twice
    store.close()
    dead.close()
