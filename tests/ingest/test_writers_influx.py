"""The writers against the real servers: every payload format, decoded and written, lands with the
right tags, timestamps and values in InfluxDB 1.6 (v1 API) and VictoriaMetrics (v2 API); a point the
server refuses comes back as rejected while the good ones land; an outage is retryable."""

from __future__ import annotations

import itertools
import urllib.parse
import urllib.request

import numpy as np
import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.writers import FatalWriteError, InfluxV1Writer, InfluxV2Writer, RetryableWriteError
from tests import servers

pytestmark = pytest.mark.servers

NOW = 1_763_700_000_000 * 1_000_000
TS = 1_763_700_000_123
_names = itertools.count()


def features(blocks: np.ndarray, rate_hz: float = 4.0, tags: dict | None = None) -> dict[str, np.ndarray]:
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    m2 = (centred * centred).mean(axis=1)
    rms = np.sqrt((blocks * blocks).mean(axis=1))
    peak = np.abs(blocks).max(axis=1)
    return {
        "rms": rms,
        "peak": peak,
        "crest_factor": peak / rms,
        "kurtosis": (centred * centred * centred * centred).mean(axis=1) / (m2 * m2),
    }


def every_format() -> tuple[Readings, set[tuple]]:
    """Readings decoded from one message of each format, and the (measurement, field, tags, ts_ns,
    value) rows the store must hold afterwards."""
    decoder = Decoder("faultline/{site}/{asset}/{sensor}", waveform_features=features, keep_raw_waveform=True)
    messages = [
        ("faultline/p1/pump7/bearing_temp", {"ts": TS, "value": 61.5}),
        ("faultline/p1/pump7/bearing_temp", {"ts": "2025-11-21T04:40:01.123Z", "value": 62}),
        ("faultline/p1/pump7/motor_current", {"value": 12.25}),
        ("faultline/p1/fan 2/vibration_rms", {"ts": [TS, TS + 100, TS + 200], "value": [1.5, 1.75, 2.0]}),
        ("faultline/p1/pump7/accel", {"t0": TS, "rate_hz": 4, "values": [1.0, -3.0, 2.0, -1.0]}),
        (
            "faultline/p1/_gateway/gw-01",
            {
                "readings": [
                    {"asset": "press,3", "sensor": "bearing_temp", "ts": TS, "value": 40.0},
                    {"site": "p2", "asset": "pump=9", "sensor": "motor_current", "ts": TS + 5, "value": 7.5},
                ]
            },
        ),
    ]
    readings, rejected = decoder.decode_many([(t, orjson.dumps(p), NOW) for t, p in messages])
    assert not rejected
    ms = 1_000_000
    pump7 = {"site": "p1", "asset": "pump7"}
    expected = {
        ("telemetry", "value", (("sensor", "bearing_temp"), *pump7.items()), TS * ms, 61.5),
        ("telemetry", "value", (("sensor", "bearing_temp"), *pump7.items()), (TS + 1000) * ms, 62.0),
        ("telemetry", "value", (("sensor", "motor_current"), *pump7.items(), ("ts_source", "receive")), NOW, 12.25),
        *{
            ("telemetry", "value", (("sensor", "vibration_rms"), ("site", "p1"), ("asset", "fan 2")), (TS + d) * ms, v)
            for d, v in [(0, 1.5), (100, 1.75), (200, 2.0)]
        },
        *{
            ("waveform_raw", "value", (("sensor", "accel"), *pump7.items()), TS * ms + n * 250_000_000, v)
            for n, v in enumerate([1.0, -3.0, 2.0, -1.0])
        },
        ("telemetry", "value", (("sensor", "bearing_temp"), ("site", "p1"), ("asset", "press,3")), TS * ms, 40.0),
        ("telemetry", "value", (("sensor", "motor_current"), ("site", "p2"), ("asset", "pump=9")), (TS + 5) * ms, 7.5),
    }
    block = np.array([[1.0, -3.0, 2.0, -1.0]])
    expected |= {
        ("waveform", name, (("sensor", "accel"), *pump7.items()), TS * ms, float(column[0]))
        for name, column in features(block).items()
    }
    return readings, {(m, f, tuple(sorted(tags)), ts, v) for m, f, tags, ts, v in expected}


def influx_rows(influxdb, database: str, measurements: list[str]) -> set[tuple]:
    found = set()
    for measurement in measurements:
        answer = influxdb.query(f'SELECT * FROM "{measurement}"', database)["results"][0]
        for series in answer.get("series", []):
            for row in series["values"]:
                record = {c: v for c, v in zip(series["columns"], row) if v is not None}
                ts = record.pop("time")
                fields = {k: v for k, v in record.items() if k in ("value", "rms", "peak", "crest_factor", "kurtosis")}
                tags = tuple(sorted((k, v) for k, v in record.items() if k not in fields))
                found |= {(series["name"], f, tags, ts, float(v)) for f, v in fields.items()}
    return found


def new_database(influxdb) -> str:
    return f"w{next(_names)}"


def approx_rows(rows: set[tuple]) -> set[tuple]:
    return {(m, f, tags, ts, round(v, 9)) for m, f, tags, ts, v in rows}


def test_every_format_lands_in_influxdb_v1(influxdb):
    database = new_database(influxdb)
    readings, expected = every_format()
    with InfluxV1Writer(influxdb.url, database, create_database=True) as writer:
        result = writer.write(readings)
    assert result == (len(readings), [])
    got = influx_rows(influxdb, database, ["telemetry", "waveform", "waveform_raw"])
    assert approx_rows(got) == approx_rows(expected)


def test_every_format_lands_in_victoria_metrics_v2(own_victoria_metrics):
    readings, expected = every_format()
    with InfluxV2Writer(own_victoria_metrics.url, token="unused", org="o", bucket="b") as writer:
        assert writer.write(readings) == (len(readings), [])
    got = set()
    for series in own_victoria_metrics.export():
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        got |= {(name, tuple(sorted(labels.items())), t, v) for t, v in zip(series["timestamps"], series["values"])}
    want = {(f"{m}_{f}", tags, ts // 1_000_000, v) for m, f, tags, ts, v in expected}
    assert {(n, tags, t, round(v, 9)) for n, tags, t, v in got} == {(n, tags, t, round(v, 9)) for n, tags, t, v in want}


def test_replay_overwrites_instead_of_duplicating(influxdb):
    database = new_database(influxdb)
    readings, expected = every_format()
    with InfluxV1Writer(influxdb.url, database, create_database=True) as writer:
        writer.write(readings)
        writer.write(readings)
    assert len(influx_rows(influxdb, database, ["telemetry", "waveform", "waveform_raw"])) == len(expected)


def test_refused_points_are_returned_while_good_points_land(influxdb):
    database = new_database(influxdb)
    influxdb.create_database(database)
    # an integer field first: later float writes to the same measurement and field conflict
    req = urllib.request.Request(
        f"{influxdb.url}/write?db={database}", method="POST", data=b"legacy,asset=old value=1i 1763700000000000000"
    )
    urllib.request.urlopen(req, timeout=10).close()
    good, bad = SeriesKey.of("telemetry", {"asset": "new"}), SeriesKey.of("legacy", {"asset": "old"})
    index = np.array([0, 1, 0, 0, 1, 0], dtype=np.int32)
    readings = Readings((good, bad), index, TS * 1_000_000 + np.arange(6), np.arange(6) + 0.5)
    with InfluxV1Writer(influxdb.url, database, max_lines=4) as writer:
        result = writer.write(readings)
    assert result.written == 4
    assert [line for line, _ in result.rejected] == [
        b"legacy,asset=old value=1.5 1763700000123000001",
        b"legacy,asset=old value=4.5 1763700000123000004",
    ]
    assert all("field type conflict" in reason for _, reason in result.rejected)
    landed = influx_rows(influxdb, database, ["telemetry"])
    assert {(ts - TS * 1_000_000, v) for _, _, _, ts, v in landed} == {(0, 0.5), (2, 2.5), (3, 3.5), (5, 5.5)}


def test_field_type_conflicts_are_learned_and_routed_at_once_not_bisected(influxdb):
    # 1% of the points go to a field InfluxDB holds as integer: bisection found them at ~200 points/s
    database = new_database(influxdb)
    influxdb.create_database(database)
    req = urllib.request.Request(
        f"{influxdb.url}/write?db={database}", method="POST", data=b"legacy,asset=old value=1i 1763700000000000000"
    )
    urllib.request.urlopen(req, timeout=10).close()
    series = tuple(SeriesKey.of("telemetry", {"asset": f"a{i}"}) for i in range(99)) + (
        SeriesKey.of("legacy", {"asset": "old"}),
    )
    n = 20_000
    index = (np.arange(n) % 100).astype(np.int32)
    readings = Readings(series, index, TS * 1_000_000 + np.arange(n), np.arange(n) + 0.5)
    with InfluxV1Writer(influxdb.url, database, max_lines=5000) as writer:
        posts = []
        post = writer._post
        writer._post = lambda body: (posts.append(body.count(b"\n") + 1), post(body))[1]
        result = writer.write(readings)
        assert writer.field_types.suspect == {("legacy", "value"): "integer"}
    assert result.written == n - n // 100 and len(result.rejected) == n // 100
    assert result.rejected[0] == (
        b"legacy,asset=old value=99.5 1763700000123000099",
        'field type conflict: the store holds field "value" of measurement "legacy" '
        "as integer; this reading is a float",
    )
    assert sorted(posts) == [200, 4800, 5000, 5000, 5000]  # the good lines in requests of 5,000, the refused apart
    landed = influx_rows(influxdb, database, ["telemetry"])
    assert len(landed) == n - n // 100


def write_raw(influxdb, database: str, body: bytes) -> None:
    req = urllib.request.Request(f"{influxdb.url}/write?db={database}", method="POST", data=body)
    urllib.request.urlopen(req, timeout=10).close()


def counting_posts(writer) -> list[int]:
    """The line count of every write request the writer makes from now on."""
    posts: list[int] = []
    post = writer._post
    writer._post = lambda body: (posts.append(body.count(b"\n") + 1), post(body))[1]
    return posts


def test_a_conflict_that_appears_while_writing_is_learned_from_the_error(influxdb):
    # another tool starts writing integers, strings and booleans after the writer read the field types
    database = new_database(influxdb)
    influxdb.create_database(database)
    series = tuple(SeriesKey.of("telemetry", {"asset": f"a{i}"}) for i in range(97)) + tuple(
        SeriesKey.of(m, {"asset": "old"}) for m in ("counts", "labels", "flags")
    )
    n = 10_000
    index = (np.arange(n) % 100).astype(np.int32)
    readings = Readings(series, index, TS * 1_000_000 + np.arange(n), np.arange(n) + 0.5)
    with InfluxV1Writer(influxdb.url, database, max_lines=5000) as writer:
        writer.write(readings.take(np.arange(n) < 50))  # reads the field types: none conflicts yet
        write_raw(
            influxdb,
            database,
            b'counts,asset=x value=1i %d\nlabels,asset=x value="on" %d\n'
            b"flags,asset=x value=true %d" % ((TS * 1_000_000,) * 3),
        )
        posts = counting_posts(writer)
        result = writer.write(readings)
        assert writer.field_types.suspect == {
            ("counts", "value"): "integer",
            ("labels", "value"): "string",
            ("flags", "value"): "boolean",
        }
    assert result.written == n - 3 * n // 100 and len(result.rejected) == 3 * n // 100
    reasons = {line.split(b",")[0]: reason for line, reason in result.rejected}
    assert reasons[b"labels"] == (
        'field type conflict: the store holds field "value" of measurement "labels" as string; this reading is a float'
    )
    # the first requests refused (two in flight), then 9,700 good lines in two and each field's apart
    assert len(posts) <= 7 and sorted(posts[-5:])[:3] == [100, 100, 100]
    assert len(influx_rows(influxdb, database, ["telemetry"])) == n - 3 * n // 100


def test_a_field_held_as_integer_only_in_an_old_shard_takes_floats(influxdb):
    # SHOW FIELD KEYS lists "legacy" as integer (one point of 1970); today's shard takes floats: the
    # points written apart are stored, and the field is no longer suspect
    database = new_database(influxdb)
    influxdb.create_database(database)
    write_raw(influxdb, database, b"legacy,asset=old value=1i 1")
    readings = Readings(
        (SeriesKey.of("telemetry", {"asset": "a"}), SeriesKey.of("legacy", {"asset": "old"})),
        np.array([0, 1, 0, 1], np.int32),
        TS * 1_000_000 + np.arange(4),
        np.arange(4) + 0.5,
    )
    with InfluxV1Writer(influxdb.url, database) as writer:
        posts = counting_posts(writer)
        assert writer.write(readings) == (4, [])
        assert writer.field_types.suspect == {}
        assert writer.write(readings) == (4, [])
    assert posts == [2, 2, 4]  # apart once, then with the others
    assert len(influx_rows(influxdb, database, ["legacy"])) == 3


def test_victoria_metrics_has_no_field_type_conflicts(own_victoria_metrics):
    # VictoriaMetrics keeps every field as a float64: an integer written first takes floats after it
    write_raw(own_victoria_metrics, "x", b"legacy,asset=old value=1i %d" % (TS * 1_000_000 - 10**9))
    readings = Readings.single_series(
        SeriesKey.of("legacy", {"asset": "old"}), TS * 1_000_000 + np.arange(3), np.arange(3) + 0.5
    )
    with InfluxV2Writer(own_victoria_metrics.url, token="unused", org="o", bucket="b") as writer:
        assert writer.write(readings) == (3, [])
        assert writer.field_types.suspect == {}
    stored = sorted(
        (t, v)
        for series in own_victoria_metrics.export('{__name__="legacy_value"}')
        for t, v in zip(series["timestamps"], series["values"])
    )
    assert [v for _, v in stored] == [1, 0.5, 1.5, 2.5]


def test_a_database_dropped_while_writing_is_created_again(influxdb):
    database = new_database(influxdb)
    readings, expected = every_format()
    with InfluxV1Writer(influxdb.url, database, create_database=True) as writer:
        writer.write(readings)
        influxdb.query(f'DROP DATABASE "{database}"')
        assert writer.write(readings) == (len(readings), [])
    assert len(influx_rows(influxdb, database, ["telemetry", "waveform", "waveform_raw"])) == len(expected)


def test_missing_database_without_create_is_fatal(influxdb):
    readings, _ = every_format()
    with InfluxV1Writer(influxdb.url, "never_created") as writer, pytest.raises(FatalWriteError, match="database"):
        writer.write(readings)


def test_influxdb_stopped_is_retryable_and_writing_resumes(own_influxdb):
    readings, expected = every_format()
    with InfluxV1Writer(own_influxdb.url, "outage", create_database=True) as writer:
        own_influxdb.stop()
        with pytest.raises(RetryableWriteError):
            writer.write(readings)
        own_influxdb.start()
        assert writer.write(readings) == (len(readings), [])
    assert len(influx_rows(own_influxdb, "outage", ["telemetry", "waveform", "waveform_raw"])) == len(expected)


def test_victoria_metrics_stopped_is_retryable(own_victoria_metrics):
    readings, _ = every_format()
    with InfluxV2Writer(own_victoria_metrics.url, token="t", org="o", bucket="b", timeout=2) as writer:
        own_victoria_metrics.stop()
        with pytest.raises(RetryableWriteError):
            writer.write(readings)
        own_victoria_metrics.start()
        assert writer.write(readings).written == len(readings)


class InfluxDBWithAuth(servers.InfluxDB):
    """influxd with HTTP authentication switched on (tests/servers.py's instance has it off)."""

    name = "influxdb-auth"

    def command(self) -> list[str]:
        argv = super().command()
        conf = self.root / "influxdb.conf"
        conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  auth-enabled = true\n"))
        return argv


@pytest.fixture
def influxdb_with_auth():
    server = InfluxDBWithAuth()
    try:
        server.start()
        # with no user yet, influxd lets the first admin be created without credentials
        server.query("CREATE USER admin WITH PASSWORD 'right' WITH ALL PRIVILEGES")
        yield server
    finally:
        server.close()


def test_wrong_credentials_are_fatal_and_right_ones_write(influxdb_with_auth):
    readings, expected = every_format()
    url = influxdb_with_auth.url
    with InfluxV1Writer(url, "secured", "admin", "wrong", create_database=True) as writer:
        with pytest.raises(FatalWriteError, match="check the username/password") as exc:
            writer.write(readings)
    assert exc.value.status == 401
    with InfluxV1Writer(url, "secured", "admin", "right", create_database=True) as writer:
        assert writer.write(readings) == (len(readings), [])
    query = urllib.parse.urlencode(
        {"q": 'SELECT count("value") FROM "telemetry"', "db": "secured", "u": "admin", "p": "right"}
    )
    with urllib.request.urlopen(f"{url}/query?{query}", timeout=10) as r:
        counted = orjson.loads(r.read())["results"][0]["series"][0]["values"][0][1]
    assert counted == sum(1 for row in expected if row[0] == "telemetry")
