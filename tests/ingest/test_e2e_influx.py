"""Mosquitto → ingest → InfluxDB (v1 on influxd 1.6, v2 on VictoriaMetrics), and the faults around it:
the store stopped mid-stream, the broker restarted mid-stream."""

import itertools

import numpy as np
import orjson
import pytest

from faultline.ingest.deadletter import DeadLetterStore
from faultline.service.settings import settings_from_dict
from tests.ingest import cases
from tests.ingest.publishing import Running, create_session, publish, wait_for

pytestmark = pytest.mark.servers

_n = itertools.count()


def waveform_rms(blocks, rate_hz=None, tags=None):
    return {"rms": np.sqrt(((blocks - blocks.mean(1, keepdims=True)) ** 2).mean(1))}


def influx_settings(tmp_path, mosquitto, influx_url, database, client_id, **store):
    data = cases.decode_settings(
        tmp_path,
        {
            "mqtt": {"url": mosquitto.url, "client_id": client_id},
            "store": {
                "kind": "influxdb",
                "url": influx_url,
                "api": "v1",
                "database": database,
                "retry_min_s": 0.1,
                "retry_max_s": 1,
                **store,
            },
        },
    )
    return settings_from_dict(data)


def influx_points(influxdb, database, measurement="telemetry", field="value"):
    """Every stored point as (tags dict, ts ns, value)."""
    answer = influxdb.query(f'SELECT "{field}" FROM "{measurement}" GROUP BY *', database)
    points = []
    for series in answer["results"][0].get("series", []):
        for ts, value in series["values"]:
            points.append((series.get("tags", {}), ts, value))
    return points


def influx_count(influxdb, database) -> int:
    series = influxdb.query("SELECT count(value) FROM telemetry", database)["results"][0].get("series")
    return series[0]["values"][0][1] if series else 0


def stream(n: int, start: int = 0, asset: str = "pump1"):
    """``n`` single readings with distinct timestamps; value = sequence number."""
    return [
        (f"faultline/s1/{asset}/bearing_temp", orjson.dumps({"ts": cases.T + i, "value": i}))
        for i in range(start, start + n)
    ]


def test_every_format_lands_in_influxdb_v1(mosquitto, influxdb, tmp_path):
    db = f"e2e_formats_{next(_n)}"
    settings = influx_settings(tmp_path, mosquitto, influxdb.url, db, "e2e-influx-v1")
    create_session(mosquitto.port, "e2e-influx-v1")
    publish(mosquitto.port, cases.interleaved())  # queued in the session before the ingester starts
    with Running(settings, waveform_features=waveform_rms):
        wait_for(lambda: len(influx_points(influxdb, db)) >= len(cases.EXPECTED), 30, "points in InfluxDB")
        dead = DeadLetterStore(settings.ingest.dead_letter_path)
        wait_for(lambda: dead.count() == len(cases.BAD), 10, "bad messages dead-lettered")
    points = influx_points(influxdb, db)
    assert sorted((tuple(sorted(t.items())), ts, v) for t, ts, v in points) == sorted(
        (tuple(sorted(t.items())), ts, v) for t, ts, v in cases.EXPECTED
    )
    [(tags, ts, rms)] = influx_points(influxdb, db, "waveform", "rms")
    assert tags == {"site": "s1", "asset": "pump1", "sensor": "accel"} and ts == cases.T * cases.MS
    assert rms == pytest.approx(float(waveform_rms(np.array([cases.WAVE]))["rms"][0]))
    assert {r.payload for r in dead.list()} == {p[:4096] for _, p, _ in cases.BAD}  # an oversize one: its start


def test_every_format_lands_through_the_v2_api(mosquitto, victoria_metrics, tmp_path):
    data = cases.decode_settings(
        tmp_path,
        {
            "mqtt": {"url": mosquitto.url, "client_id": "e2e-v2"},
            "store": {
                "kind": "influxdb",
                "url": victoria_metrics.url,
                "api": "v2",
                "bucket": "faultline",
                "org": "plant",
                "token": "unused",
            },
        },
    )
    settings = settings_from_dict(data)
    create_session(mosquitto.port, "e2e-v2")
    publish(mosquitto.port, cases.interleaved())

    def stored():
        found = set()
        for s in victoria_metrics.export('{__name__="telemetry_value"}'):
            tags = {k: v for k, v in s["metric"].items() if k in ("site", "asset", "sensor")}
            found |= {(tuple(sorted(tags.items())), ts, v) for ts, v in zip(s["timestamps"], s["values"])}
        return found

    expected = {(tuple(sorted(t.items())), ts // 1_000_000, v) for t, ts, v in cases.EXPECTED}  # VM keeps ms
    with Running(settings):
        wait_for(lambda: expected <= stored(), 30, "every point in VictoriaMetrics")


def test_store_outage_mid_stream_loses_nothing(mosquitto, own_influxdb, tmp_path):
    db = "outage"
    settings = influx_settings(tmp_path, mosquitto, own_influxdb.url, db, "e2e-outage")
    create_session(mosquitto.port, "e2e-outage")
    with Running(settings):
        publish(mosquitto.port, stream(2000))
        wait_for(lambda: influx_count(own_influxdb, db) == 2000, 30, "first part written")
        own_influxdb.stop()
        publish(mosquitto.port, stream(3000, start=2000))  # acknowledged: spooled while the store is down
        own_influxdb.start()
        publish(mosquitto.port, stream(1000, start=5000))
        wait_for(lambda: influx_count(own_influxdb, db) == 6000, 60, "everything written after the outage")
    values = sorted(v for _, _, v in influx_points(own_influxdb, db))
    assert values == list(range(6000))


def test_broker_restart_reconnects_and_resumes(own_mosquitto, influxdb, tmp_path):
    db = f"broker_restart_{next(_n)}"
    settings = influx_settings(tmp_path, own_mosquitto, influxdb.url, db, "e2e-broker-restart")
    create_session(own_mosquitto.port, "e2e-broker-restart")
    with Running(settings):
        publish(own_mosquitto.port, stream(1000))
        wait_for(lambda: influx_count(influxdb, db) == 1000, 30, "before the restart")
        own_mosquitto.restart()
        # published while the ingester is still reconnecting: the persistent session queues them
        publish(own_mosquitto.port, stream(1000, start=1000))
        wait_for(lambda: influx_count(influxdb, db) == 2000, 30, "after the restart")
    assert sorted(v for _, _, v in influx_points(influxdb, db)) == list(range(2000))
