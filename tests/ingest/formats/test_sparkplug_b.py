"""The Sparkplug B codec on payloads written byte by byte from the specification (tests/ingest/
sparkplug_wire.py, not our .proto): births with aliases, data by alias, signed integers, deaths as
data-quality records, bdSeq, sequence gaps and rebirth requests."""

from __future__ import annotations

import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.codecs.sparkplug_b import SparkplugB
from tests.ingest.sparkplug_wire import BOOLEAN, DOUBLE, FLOAT, INT16, INT32, INT64, STRING, fields, metric, payload

NOW = 1_763_700_000_000 * 1_000_000
MS = 1_763_699_990_000  # a device timestamp, epoch ms
NODE = "spBv1.0/north/{}/gw1"


class Broker:
    """What the codec asked to publish."""

    def __init__(self):
        self.sent = []

    def __call__(self, topic, data):
        self.sent.append((topic, data))


@pytest.fixture
def broker():
    return Broker()


@pytest.fixture
def decoder(broker):
    return Decoder(
        "faultline/{site}/{asset}/{sensor}", codecs=[("spBv1.0/#", SparkplugB(publish=broker, rebirth_every_s=0))]
    )


def decode(decoder, *messages):
    return decoder.decode_many([(topic, data, NOW) for topic, data in messages])


def rows(readings):
    return sorted(
        (k.measurement, k.tag("site"), k.tag("asset"), k.tag("sensor"), k.field, t, v)
        for k, t, v in (
            (readings.series[i], t, v)
            for i, t, v in zip(readings.index.tolist(), readings.ts.tolist(), readings.value.tolist())
        )
    )


def nbirth(seq=0, bdseq=0):
    return NODE.format("NBIRTH"), payload(
        [
            metric("bdSeq", datatype=INT64, value=bdseq),
            metric("Temperature", alias=1, datatype=DOUBLE, value=21.5),
            metric("Pressure", alias=2, datatype=FLOAT, value=1.25),
            metric("Offset", alias=3, datatype=INT32, value=-5),
            metric("Running", alias=4, datatype=BOOLEAN, value=True),
            metric("Label", alias=5, datatype=STRING, value="line 1"),
            metric("Node Control/Rebirth", datatype=BOOLEAN, value=False),
        ],
        seq=seq,
        timestamp=MS,
    )


def rebirths(broker):
    """The nodes asked for a rebirth, each request checked against the specification's metric."""
    asked = []
    for topic, data in broker.sent:
        [(number, body)] = [f for f in fields(data) if f[0] == 2]
        metric_fields = dict(fields(body))
        assert metric_fields[1] == b"Node Control/Rebirth" and metric_fields[4] == BOOLEAN and metric_fields[14] == 1
        asked.append(topic)
    return asked


def test_birth_and_data_by_alias_become_readings_of_the_node(decoder, broker):
    readings, rejected = decode(
        decoder,
        nbirth(),
        (
            NODE.format("NDATA"),
            payload(
                [
                    metric(alias=1, value=22.0, datatype=DOUBLE, timestamp=MS + 1000),
                    metric(alias=3, datatype=INT32, value=-7),
                ],
                seq=1,
                timestamp=MS + 2000,
            ),
        ),
    )
    assert rejected == []
    assert rows(readings) == [
        ("sparkplug", "north", "gw1", None, "online", MS * 10**6, 1.0),
        ("telemetry", "north", "gw1", "Offset", "value", MS * 10**6, -5.0),
        ("telemetry", "north", "gw1", "Offset", "value", (MS + 2000) * 10**6, -7.0),  # the payload's time
        ("telemetry", "north", "gw1", "Pressure", "value", MS * 10**6, 1.25),
        ("telemetry", "north", "gw1", "Running", "value", MS * 10**6, 1.0),
        ("telemetry", "north", "gw1", "Temperature", "value", MS * 10**6, 21.5),
        ("telemetry", "north", "gw1", "Temperature", "value", (MS + 1000) * 10**6, 22.0),  # the metric's own
    ]
    assert broker.sent == []


def test_device_birth_data_and_death(decoder):
    device = "spBv1.0/north/{}/gw1/pump7"
    readings, rejected = decode(
        decoder,
        nbirth(),
        (
            device.format("DBIRTH"),
            payload([metric("bearing_temp", alias=10, datatype=INT16, value=-3)], seq=1, timestamp=MS),
        ),
        (device.format("DDATA"), payload([metric(alias=10, datatype=INT16, value=61)], seq=2, timestamp=MS + 60_000)),
        (device.format("DDEATH"), payload([], seq=3, timestamp=MS + 90_000)),
    )
    assert rejected == []
    got = [r for r in rows(readings) if r[2] == "pump7"]
    assert got == [
        ("sparkplug", "north", "pump7", None, "online", MS * 10**6, 1.0),
        ("sparkplug", "north", "pump7", None, "online", (MS + 90_000) * 10**6, 0.0),
        ("telemetry", "north", "pump7", "bearing_temp", "value", MS * 10**6, -3.0),
        ("telemetry", "north", "pump7", "bearing_temp", "value", (MS + 60_000) * 10**6, 61.0),
    ]


def test_a_sequence_gap_is_recorded_and_a_rebirth_requested(decoder, broker):
    readings, rejected = decode(
        decoder,
        nbirth(seq=0),
        (NODE.format("NDATA"), payload([metric(alias=1, datatype=DOUBLE, value=23.0)], seq=3, timestamp=MS)),
    )
    assert rejected == []
    assert ("sparkplug", "north", "gw1", None, "seq_gap", NOW, 2.0) in rows(readings)  # seq 1 and 2 lost
    assert ("telemetry", "north", "gw1", "Temperature", "value", MS * 10**6, 23.0) in rows(readings)
    assert rebirths(broker) == ["spBv1.0/north/NCMD/gw1"]
    # 255 wraps to 0: no gap
    broker.sent.clear()
    readings, _ = decode(
        decoder,
        nbirth(seq=254),
        (NODE.format("NDATA"), payload([], seq=255)),
        (NODE.format("NDATA"), payload([], seq=0)),
    )
    assert broker.sent == [] and not [r for r in rows(readings) if r[4] == "seq_gap"]


def test_data_without_a_birth_is_dead_lettered_and_a_rebirth_requested(decoder, broker):
    readings, rejected = decode(
        decoder, ("spBv1.0/north/NDATA/gw9", payload([metric(alias=1, value=1.0, datatype=DOUBLE)], seq=7))
    )
    assert len(readings) == 0 and len(rejected) == 1
    assert "NDATA of north/gw9 before its NBIRTH" in rejected[0].reason
    assert rebirths(broker) == ["spBv1.0/north/NCMD/gw9"]


def test_an_unknown_alias_costs_that_metric_and_asks_for_a_rebirth(decoder, broker):
    readings, rejected = decode(
        decoder,
        nbirth(),
        (
            NODE.format("NDATA"),
            payload(
                [metric(alias=99, datatype=DOUBLE, value=5.0), metric(alias=1, datatype=DOUBLE, value=24.0)], seq=1
            ),
        ),
    )
    assert [r.reason for r in rejected] == [
        "metrics[0]: alias 99 is not defined by the birth certificate; a rebirth was requested"
    ]
    assert ("telemetry", "north", "gw1", "Temperature", "value", NOW, 24.0) in rows(readings)
    assert rebirths(broker) == ["spBv1.0/north/NCMD/gw1"]


def test_ndeath_with_the_births_bdseq_takes_node_and_devices_offline_a_stale_one_does_not(decoder):
    decode(
        decoder,
        nbirth(bdseq=4),
        ("spBv1.0/north/DBIRTH/gw1/pump7", payload([metric("t", alias=9, datatype=DOUBLE, value=1.0)], seq=1)),
    )
    stale, _ = decode(decoder, (NODE.format("NDEATH"), payload([metric("bdSeq", datatype=INT64, value=3)])))
    assert len(stale) == 0
    death, rejected = decode(decoder, (NODE.format("NDEATH"), payload([metric("bdSeq", datatype=INT64, value=4)])))
    assert rejected == []
    assert rows(death) == [
        ("sparkplug", "north", "gw1", None, "online", NOW, 0.0),
        ("sparkplug", "north", "pump7", None, "online", NOW, 0.0),
    ]
    after, rejected = decode(
        decoder, (NODE.format("NDATA"), payload([metric(alias=1, value=1.0, datatype=DOUBLE)], seq=2))
    )
    assert "before its NBIRTH" in rejected[0].reason  # dead until it is born again


@pytest.mark.parametrize(
    "topic, data, reason",
    [
        (NODE.format("NDATA"), b"\xff\xff\xff", "not a Sparkplug B payload"),
        ("spBv1.0/north/NBIRTH/gw1/extra", payload([]), "NBIRTH has no a device id"),
        ("spBv1.0/north/DDATA/gw1", payload([]), "DDATA needs a device id"),
        ("spBv1.0/north/NFOO/gw1", payload([]), "unknown Sparkplug message type 'NFOO'"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(decoder, topic, data, reason):
    _, rejected = decode(decoder, (topic, data))
    assert len(rejected) == 1 and reason in rejected[0].reason, rejected


def test_state_and_commands_are_not_telemetry(decoder):
    readings, rejected = decode(
        decoder, ("spBv1.0/STATE/scada-host", b'{"online": true}'), ("spBv1.0/north/NCMD/gw1", payload([]))
    )
    assert len(readings) == 0 and rejected == []
