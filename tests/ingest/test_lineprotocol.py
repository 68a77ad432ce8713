"""Line protocol from columns: escaping, refusals, exact floats, and a round trip through the real
InfluxDB 1.6 and VictoriaMetrics (the v2 write API) that reads every tricky name back unchanged."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultline.ingest.lineprotocol import UnencodableError, encode, encode_chunks, encode_lines, series_prefix
from faultline.ingest.readings import Readings, SeriesKey

T0 = 1_763_700_000_123_000_000


def one(key: SeriesKey, value: float = 1.5, ts: int = T0) -> Readings:
    return Readings.single_series(key, [ts], [value])


# -- a reader of the current line-protocol reference, to check that what we write reads back --------


def _scan(line: str, pos: int, escapable: str, stops: str) -> tuple[str, int]:
    out = []
    while pos < len(line):
        ch = line[pos]
        if ch == "\\" and pos + 1 < len(line) and line[pos + 1] in escapable + "\\":
            out.append(line[pos + 1])
            pos += 2
            continue
        if ch in stops:
            break
        out.append(ch)
        pos += 1
    return "".join(out), pos


def parse(line: str) -> tuple[SeriesKey, float, int]:
    """(series, value, timestamp) of one line with one float field, per the v2 line-protocol reference."""
    measurement, pos = _scan(line, 0, ", ", ", ")
    tags = []
    while line[pos] == ",":
        key, pos = _scan(line, pos + 1, ",= ", ",= ")
        assert line[pos] == "="
        value, pos = _scan(line, pos + 1, ",= ", ", ")
        tags.append((key, value))
    assert line[pos] == " "
    field, pos = _scan(line, pos + 1, ",= ", ",= ")
    assert line[pos] == "="
    value_text, ts_text = line[pos + 1 :].split(" ")
    return SeriesKey(measurement, tuple(tags), field), float(value_text), int(ts_text)


TRICKY = [
    "a b",
    "a,b",
    "a=b",
    'a"b',
    "a'b",
    "a\\b",
    "ünï©ødé ✓",
    "%s%d",
    "=",
    " ",
    ",",
    "a\\ b",
    "a\\",
    "a\\\\b",
    "a\\,b",
    "\\",
    "\\=",
]
#: backslashes InfluxDB 1.x cannot store unaltered (it does not read a doubled backslash as one)
V1_REFUSED = {"a\\", "a\\\\b", "a\\,b", "\\", "\\=", "a\\ b"}


# -- escaping ----------------------------------------------------------------------------------------


def test_plain_series():
    key = SeriesKey.of("telemetry", {"site": "plant1", "asset": "pump7", "sensor": "bearing_temp"})
    assert (
        encode(one(key, 4.2)) == b"telemetry,asset=pump7,sensor=bearing_temp,site=plant1 value=4.2 1763700000123000000"
    )


@pytest.mark.parametrize(
    "measurement, expected", [("m e", "m\\ e"), ("m,e", "m\\,e"), ("m=e", "m=e"), ('m"e', 'm"e'), ("ü", "ü")]
)
def test_measurement_escapes_comma_and_space(measurement, expected):
    assert series_prefix(SeriesKey(measurement, (), "value")) == f"{expected} value="


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a b", "a\\ b"),
        ("a,b", "a\\,b"),
        ("a=b", "a\\=b"),
        ('a"b', 'a"b'),
        ("a'b", "a'b"),
        ("ünï©ødé ✓", "ünï©ødé\\ ✓"),
        ("a\\b", "a\\b"),
        ("a\\", "a\\\\"),
        ("a\\\\b", "a\\\\\\b"),
        ("a\\,b", "a\\\\\\,b"),
    ],
)
def test_tag_keys_values_and_field_keys_escape_comma_equals_space(text, expected):
    key = SeriesKey("m", ((text, text),), text)
    assert series_prefix(key) == f"m,{expected}={expected} {expected}="


def test_newlines_cannot_be_encoded():
    for key in [
        SeriesKey("m\n", (), "value"),
        SeriesKey("m", (("t", "a\nb"),), "value"),
        SeriesKey("m", (("t\r", "a"),), "value"),
        SeriesKey("m", (), "v\n"),
    ]:
        with pytest.raises(UnencodableError, match="line break"):
            series_prefix(key)


def test_empty_names_cannot_be_encoded_but_empty_tag_values_are_left_out():
    for key in [SeriesKey("", (), "value"), SeriesKey("m", (), ""), SeriesKey("m", (("", "v"),), "value")]:
        with pytest.raises(UnencodableError, match="empty"):
            series_prefix(key)
    with pytest.raises(UnencodableError, match="comment"):
        series_prefix(SeriesKey("#m", (), "value"))
    assert series_prefix(SeriesKey("m", (("a", ""), ("b", "x")), "value")) == "m,b=x value="


def test_tags_are_written_sorted():
    assert series_prefix(SeriesKey("m", (("z", "1"), ("a", "2")), "f")) == "m,a=2,z=1 f="


def test_v1_dialect_refuses_backslashes_it_would_store_altered():
    for text in TRICKY:
        key = SeriesKey("m", (("t", text),), "value")
        if text in V1_REFUSED:
            with pytest.raises(UnencodableError, match="InfluxDB 1.x"):
                series_prefix(key, "v1")
        else:
            assert series_prefix(key, "v1") == series_prefix(key, "v2")


@settings(max_examples=300, deadline=None)
@given(
    measurement=st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), min_size=1).filter(
        lambda m: not m.startswith("#")
    ),
    tags=st.dictionaries(
        st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), min_size=1),
        st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), min_size=1),
        max_size=4,
    ),
    field=st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), min_size=1),
    value=st.floats(allow_nan=False, allow_infinity=False),
    ts=st.integers(-(2**63), 2**63 - 1),
)
def test_any_series_reads_back_unchanged(measurement, tags, field, value, ts):
    key = SeriesKey.of(measurement, tags, field)
    line = encode(one(key, value, ts)).decode()
    assert "\n" not in line
    assert parse(line) == (key, value, ts)


# -- rows ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_floats_are_written_exactly(values):
    readings = Readings.single_series(SeriesKey("m", (), "v"), np.arange(len(values)), values)
    lines, refused = encode_lines(readings)
    assert not refused
    assert [parse(line)[1] for line in lines] == values


def test_many_series_keep_row_order():
    a, b = SeriesKey("m", (("s", "a"),), "v"), SeriesKey("m", (("s", "b"),), "v")
    readings = Readings((a, b), np.array([1, 0, 1], dtype=np.int32), np.array([3, 1, 2]), np.array([1.0, 2.0, 3.0]))
    assert encode(readings).decode().splitlines() == ["m,s=b v=1 3", "m,s=a v=2 1", "m,s=b v=3 2"]


def test_percent_signs_in_names_survive_bulk_formatting():
    key = SeriesKey("m%s", (("t", "%d%%"),), "v%r")
    assert encode(one(key, 2.0, 5)) == b"m%s,t=%d%% v%r=2 5"


def test_refused_rows_are_returned_and_the_rest_encoded():
    good, bad = SeriesKey("m", (("s", "ok"),), "v"), SeriesKey("m", (("s", "a\nb"),), "v")
    readings = Readings(
        (good, bad),
        np.array([0, 1, 0, 0], dtype=np.int32),
        np.array([1, 2, 3, 4]),
        np.array([1.0, 2.0, np.nan, np.inf]),
    )
    lines, refused = encode_lines(readings)
    assert lines == ["m,s=ok v=1 1"]
    assert [r.reason for r in refused] == [
        "tag value 'a\\nb' contains a line break, which line protocol cannot carry",
        "value nan is not finite",
        "value inf is not finite",
    ]
    with pytest.raises(UnencodableError, match="3 rows"):
        encode(readings)


@pytest.mark.parametrize("precision, ts", [("ns", T0), ("us", T0 // 1000), ("ms", T0 // 10**6), ("s", T0 // 10**9)])
def test_precision(precision, ts):
    assert encode(one(SeriesKey("m", (), "v")), precision).endswith(b" %d" % ts)


def test_bad_precision_and_dialect_are_errors():
    with pytest.raises(ValueError, match="precision 'h'"):
        encode(one(SeriesKey("m", (), "v")), "h")
    with pytest.raises(ValueError, match="dialect 'v3'"):
        encode(one(SeriesKey("m", (), "v")), dialect="v3")


def test_chunks_hold_at_most_max_lines():
    readings = Readings.single_series(SeriesKey("m", (), "v"), np.arange(12), np.ones(12))
    chunks = list(encode_chunks(readings, max_lines=5))
    assert [c.count(b"\n") + 1 for c in chunks] == [5, 5, 2]
    assert b"\n".join(chunks) == encode(readings)


def test_empty_readings_encode_to_nothing():
    assert encode(Readings.empty()) == b""


# -- the real servers read it back -------------------------------------------------------------------


def _tricky_readings(dialect: str) -> tuple[Readings, list[SeriesKey]]:
    # VictoriaMetrics (Debian's) silently drops a line whose *field key* holds a double quote, so
    # field keys get none; ours are fixed names ("value", "rms", ..) that never carry one.
    keys = [
        SeriesKey.of(f"lp {text}" if n % 2 else "lp", {"n": str(n), f"k{text}": text}, f"f{text}".replace('"', "_"))
        for n, text in enumerate(TRICKY)
        if dialect == "v2" or text not in V1_REFUSED
    ]
    readings = Readings(
        tuple(keys), np.arange(len(keys), dtype=np.int32), T0 + np.arange(len(keys)), np.arange(len(keys)) + 0.25
    )
    return readings, keys


def _post(url: str, body: bytes) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10) as r:
        assert r.status == 204


@pytest.mark.servers
def test_influxdb_1x_reads_every_name_back_unchanged(influxdb):
    influxdb.create_database("lp_escaping")
    readings, keys = _tricky_readings("v1")
    _post(f"{influxdb.url}/write?db=lp_escaping&precision=ns", encode(readings, dialect="v1"))
    found = set()
    for series in influxdb.query("SELECT * FROM /^lp/", "lp_escaping")["results"][0]["series"]:
        for row in series["values"]:
            record = {c: v for c, v in zip(series["columns"], row) if v is not None}
            ts, n = record.pop("time"), record.pop("n")
            ((field, value),) = [(c, v) for c, v in record.items() if c.startswith("f")]
            tags = {c: v for c, v in record.items() if c.startswith("k")}
            found.add((SeriesKey.of(series["name"], {"n": n, **tags}, field), value, ts))
    assert found == {(k, n + 0.25, T0 + n) for n, k in enumerate(keys)}


@pytest.mark.servers
def test_victoria_metrics_reads_every_name_back_unchanged(victoria_metrics):
    readings, keys = _tricky_readings("v2")
    _post(f"{victoria_metrics.url}/api/v2/write?bucket=b&org=o", encode(readings))
    found = set()
    for series in victoria_metrics.export('{__name__=~"lp.*"}'):
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        found.update(
            (name, tuple(sorted(labels.items())), v, t) for v, t in zip(series["values"], series["timestamps"])
        )
    expected = {(f"{k.measurement}_{k.field}", k.tags, n + 0.25, (T0 + n) // 10**6) for n, k in enumerate(keys)}
    assert found == expected
