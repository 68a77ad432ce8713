"""Sparkplug B through a real Mosquitto into the ingest pipeline and its SQLite store.

The edge node is an independent publisher: a plain paho client sending payloads written byte by
byte from the specification's field numbers (tests/ingest/sparkplug_wire.py), with its NDEATH as
the MQTT will, as the specification asks. It is born, sends data by alias, loses messages (a seq
gap), receives the rebirth request over the broker and is born again, then drops its connection
without a DISCONNECT, so the broker publishes the will: the node is recorded offline.
"""

from __future__ import annotations

import sqlite3
import threading

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from faultline.service.settings import settings_from_dict
from tests.ingest import cases
from tests.ingest.publishing import Running, create_session, wait_for
from tests.ingest.sparkplug_wire import BOOLEAN, DOUBLE, INT64, fields, metric, payload

pytestmark = pytest.mark.servers

GROUP, NODE = "north", "gw1"


class EdgeNode:
    """A Sparkplug edge node on its own MQTT connection; it answers a rebirth request with a new NBIRTH."""

    def __init__(self, port: int):
        self.bdseq = 0
        self.seq = 0
        self.ms = cases.T  # each message a second later, so no two readings share a timestamp
        self.rebirths = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-gw1", protocol=mqtt.MQTTv311)
        self.client.will_set(self.topic("NDEATH"), self.death(), qos=1)
        self.client.on_message = self._on_command
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(self.topic("NCMD"), qos=1)

    def topic(self, kind: str) -> str:
        return f"spBv1.0/{GROUP}/{kind}/{NODE}"

    def death(self) -> bytes:
        return payload([metric("bdSeq", datatype=INT64, value=self.bdseq)])

    def send(self, kind: str, metrics: list[bytes], skip: int = 0) -> None:
        self.seq = (self.seq + skip) % 256
        self.ms += 1000
        self.client.publish(
            self.topic(kind), payload(metrics, seq=self.seq, timestamp=self.ms), qos=1
        ).wait_for_publish(10)
        self.seq = (self.seq + 1) % 256

    def birth(self) -> None:
        self.seq = 0
        self.send(
            "NBIRTH",
            [
                metric("bdSeq", datatype=INT64, value=self.bdseq),
                metric("Temperature", alias=1, datatype=DOUBLE, value=20.0),
                metric("Node Control/Rebirth", datatype=BOOLEAN, value=False),
            ],
        )

    def _on_command(self, client, userdata, message) -> None:
        for number, body in fields(message.payload):
            if number == 2 and dict(fields(body)).get(1) == b"Node Control/Rebirth":
                self.rebirths.set()
                self.birth()

    def drop(self) -> None:
        """Close the socket without DISCONNECT: the broker sends the will (NDEATH)."""
        self.client.loop_stop()
        self.client.socket().close()


def stored(path) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT s.measurement, s.tags, s.field, r.ts, r.value FROM series s "
                "JOIN readings r ON r.series = s.id ORDER BY r.ts, s.id"
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [(m, dict(orjson.loads(tags)), f, ts, v) for m, tags, f, ts, v in rows]


def test_a_sparkplug_edge_node_through_mosquitto(own_mosquitto, tmp_path):
    settings = settings_from_dict(
        cases.decode_settings(
            tmp_path,
            {
                "mqtt": {"url": own_mosquitto.url, "client_id": "spb-ingest", "subscribe": None},
                "store": {"kind": "sqlite", "path": str(tmp_path / "r.sqlite")},
                "metrics": {"port": 0},
            },
        )
    )
    create_session(own_mosquitto.port, "spb-ingest", filters=settings.mqtt.topic_filters())
    with Running(settings):
        node = EdgeNode(own_mosquitto.port)
        node.birth()
        node.send("NDATA", [metric(alias=1, datatype=DOUBLE, value=21.0)])
        wait_for(
            lambda: sum(r[0] == "telemetry" for r in stored(settings.store.path)) == 2,
            20,
            "the birth's and the data's temperature stored",
        )
        node.send("NDATA", [metric(alias=1, datatype=DOUBLE, value=22.0)], skip=2)  # two messages lost
        assert node.rebirths.wait(20), "no rebirth request reached the edge node"
        wait_for(
            lambda: sum(r[0] == "telemetry" for r in stored(settings.store.path)) >= 4,
            20,
            "the data after the gap and the new birth stored",
        )
        node.drop()
        wait_for(
            lambda: any(r[2] == "online" and r[4] == 0.0 for r in stored(settings.store.path)),
            20,
            "the will (NDEATH) recorded as the node going offline",
        )
    rows = stored(settings.store.path)
    temperatures = [r[4] for r in rows if r[0] == "telemetry"]
    assert temperatures[:3] == [20.0, 21.0, 22.0] and 20.0 in temperatures[3:]
    assert all(r[1] == {"site": GROUP, "asset": NODE, "sensor": "Temperature"} for r in rows if r[0] == "telemetry")
    gaps = [r[4] for r in rows if r[2] == "seq_gap"]
    online = [r[4] for r in rows if r[2] == "online"]
    assert gaps == [2.0]
    assert online[0] == 1.0 and online[-1] == 0.0 and online.count(1.0) == 2  # two births, then the death
