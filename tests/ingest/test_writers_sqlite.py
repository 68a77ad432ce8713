"""The embedded SQLite store: same Writer interface, readings read back by asset and sensor."""

from __future__ import annotations

import sqlite3

import numpy as np
import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.writers import FatalWriteError, SqliteStore, Writer

NOW = 1_763_700_000_000 * 1_000_000
TS = 1_763_700_000_123
MS = 1_000_000


def decoded(*messages) -> Readings:
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    readings, rejected = decoder.decode_many([(t, orjson.dumps(p), NOW) for t, p in messages])
    assert not rejected
    return readings


def test_is_a_writer(tmp_path):
    with SqliteStore(tmp_path / "r.db") as store:
        assert isinstance(store, Writer)


def test_readings_come_back_by_asset_and_sensor(tmp_path):
    readings = decoded(
        ("faultline/p1/pump7/bearing_temp", {"ts": [TS, TS + 1, TS + 2], "value": [1.0, 2.0, 3.0]}),
        ("faultline/p1/pump7/motor_current", {"ts": TS, "value": 9.0}),
        ("faultline/p2/pump7/bearing_temp", {"ts": TS, "value": 5.0}),
    )
    with SqliteStore(tmp_path / "r.db") as store:
        assert store.write(readings) == (5, [])
        got = store.query("pump7", "bearing_temp", TS * MS, (TS + 2) * MS)
    by_site = {key.tag("site"): [] for key in got.series}
    for i, ts, value in zip(got.index.tolist(), got.ts.tolist(), got.value.tolist()):
        by_site[got.series[i].tag("site")].append((ts, value))
    assert by_site == {"p1": [(TS * MS, 1.0), ((TS + 1) * MS, 2.0)], "p2": [(TS * MS, 5.0)]}
    assert all(key.measurement == "telemetry" and key.field == "value" for key in got.series)


def test_replay_overwrites_and_survives_reopening(tmp_path):
    first = decoded(("faultline/p/a/s", {"ts": [TS, TS + 1], "value": [1.0, 2.0]}))
    again = decoded(("faultline/p/a/s", {"ts": [TS + 1, TS + 2], "value": [20.0, 3.0]}))
    with SqliteStore(tmp_path / "r.db") as store:
        store.write(first)
    with SqliteStore(tmp_path / "r.db") as store:
        store.write(again)
        got = store.query("a", "s", 0, 2**62)
    assert list(zip(got.ts.tolist(), got.value.tolist())) == [
        (TS * MS, 1.0),
        ((TS + 1) * MS, 20.0),
        ((TS + 2) * MS, 3.0),
    ]
    assert len(got.series) == 1


def test_non_finite_values_are_rejected_and_the_rest_stored(tmp_path):
    key = SeriesKey.of("telemetry", {"asset": "a", "sensor": "s"})
    readings = Readings.single_series(key, [1, 2, 3], [1.0, np.nan, -np.inf])
    with SqliteStore(tmp_path / "r.db") as store:
        result = store.write(readings)
        assert result.written == 1
        assert [reason for _, reason in result.rejected] == ["value nan is not finite", "value -inf is not finite"]
        assert store.query("a", "s", 0, 10).value.tolist() == [1.0]


def test_waveform_features_are_queried_by_measurement_and_field(tmp_path):
    decoder = Decoder(
        "f/{site}/{asset}/{sensor}", waveform_features=lambda b, rate_hz, tags: {"peak": np.abs(b).max(axis=1)}
    )
    readings = decoder.decode("f/p/m/accel", orjson.dumps({"t0": TS, "rate_hz": 10, "values": [1, -4, 2]}), NOW)
    with SqliteStore(":memory:") as store:
        store.write(readings)
        assert store.query("m", "accel", 0, 2**62).value.tolist() == []
        assert store.query("m", "accel", 0, 2**62, measurement="waveform", field="peak").value.tolist() == [4.0]


def test_empty_write_and_empty_query(tmp_path):
    with SqliteStore(tmp_path / "r.db") as store:
        assert store.write(Readings.empty()) == (0, [])
        assert len(store.query("a", "s", 0, 2**62)) == 0


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "r.db"
    with SqliteStore(path) as store:
        store.write(decoded(("faultline/p/a/s", {"ts": TS, "value": 1.0})))
    path.write_bytes(b"this is not a database" * 500)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"r.db{suffix}").unlink(missing_ok=True)
    with pytest.raises((FatalWriteError, sqlite3.DatabaseError)):
        with SqliteStore(path) as store:
            store.write(decoded(("faultline/p/a/s", {"ts": TS, "value": 1.0})))
