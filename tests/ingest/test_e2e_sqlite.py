"""Mosquitto → ingest → the embedded SQLite store: every format lands, every bad message is dead-lettered."""

import urllib.request

import numpy as np
import pytest

from faultline.ingest.deadletter import DeadLetterStore
from faultline.ingest.writers import SqliteStore
from faultline.service.settings import settings_from_dict
from tests.ingest import cases
from tests.ingest.publishing import Running, create_session, publish, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.servers


def scrape(port: int) -> dict[str, float]:
    """The Prometheus endpoint's samples by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")}


def rms(values):
    x = np.asarray(values)
    return float(np.sqrt(np.mean((x - x.mean()) ** 2)))


def test_every_format_lands_and_bad_messages_are_dead_lettered(mosquitto, tmp_path):
    port = free_port()
    data = cases.decode_settings(
        tmp_path,
        {
            "mqtt": {"url": mosquitto.url, "client_id": "e2e-sqlite"},
            "store": {"kind": "sqlite", "path": str(tmp_path / "r.sqlite")},
            "metrics": {"port": port},
        },
    )
    settings = settings_from_dict(data)
    create_session(mosquitto.port, "e2e-sqlite")
    with Running(
        settings,
        waveform_features=lambda blocks, rate_hz, tags: {
            "rms": np.sqrt(((blocks - blocks.mean(1, keepdims=True)) ** 2).mean(1))
        },
    ):
        publish(mosquitto.port, cases.interleaved())
        dead = DeadLetterStore(settings.ingest.dead_letter_path)
        wait_for(lambda: dead.count() == len(cases.BAD), 20, "every bad message dead-lettered")
        store = SqliteStore(settings.store.path)

        def stored(tags):
            return store.query(tags["asset"], tags["sensor"], 0, 2**62)

        wait_for(lambda: all(len(stored(t)) for t, _, _ in cases.EXPECTED), 20, "every good reading stored")
        # the counters move just after the store's commit returns
        metrics = wait_for(
            lambda: (
                (m := scrape(port))["faultline_readings_written_total"] >= len(cases.EXPECTED)
                and m["faultline_spool_records"] == 0
                and m
            ),
            10,
            "metrics to catch up",
        )
        assert metrics['faultline_dead_letters_total{reason="not_json",stage="decode"}'] == 2
        assert metrics['faultline_dead_letters_total{reason="too_large",stage="decode"}'] == 1
    for tags, ts, value in cases.EXPECTED:
        got = stored(tags)
        rows = [(got.series[i].tag("site"), int(t), float(v)) for i, t, v in zip(got.index, got.ts, got.value)]
        assert (tags["site"], ts, value) in rows
    feature = store.query("pump1", "accel", 0, 2**62, measurement="waveform", field="rms")
    assert feature.ts.tolist() == [cases.T * cases.MS]
    assert feature.value[0] == pytest.approx(rms(cases.WAVE))

    letters = dead.list(limit=100)
    # an oversize payload keeps its first 4,096 bytes; the others are whole
    assert {(r.topic, r.payload) for r in letters} == {(t, p[:4096]) for t, p, _ in cases.BAD}
    for _topic, payload, word in cases.BAD:
        reason = next(r.reason for r in letters if r.payload == payload[:4096])
        assert word in reason, (payload[:40], reason)
    assert all(r.stage == "decode" for r in letters)
