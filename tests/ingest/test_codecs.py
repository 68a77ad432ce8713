"""Payload codecs and topic templates: every format decodes, every kind of bad input is rejected
with a reason that names the bad key or value, and good messages beside bad ones still decode."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultline.ingest.codecs import RECEIVE_TIME_TAG, DecodeLimits, Decoder, PayloadError, timestamp_ns
from faultline.ingest.readings import SeriesKey
from faultline.ingest.topics import TopicTemplate

NOW = 1_763_700_000_000 * 1_000_000  # receive time of every test message, epoch ns
TS = 1_763_700_000_123  # a device timestamp, epoch ms
TOPIC = "faultline/plant1/pump7/bearing_temp"
TAGS = {"site": "plant1", "asset": "pump7", "sensor": "bearing_temp"}


def features(blocks: np.ndarray, rate_hz: float, tags: dict[str, str]) -> dict[str, np.ndarray]:
    rms = np.sqrt((blocks * blocks).mean(axis=1))
    peak = np.abs(blocks).max(axis=1)
    return {"rms": rms, "peak": peak, "crest_factor": peak / rms}


@pytest.fixture
def decoder() -> Decoder:
    return Decoder("faultline/{site}/{asset}/{sensor}", waveform_features=features)


def msg(payload, topic: str = TOPIC, received: int = NOW) -> tuple[str, bytes, int]:
    return topic, payload if isinstance(payload, bytes) else orjson.dumps(payload), received


def rows(readings) -> list[tuple[SeriesKey, int, float]]:
    return [
        (readings.series[i], t, v)
        for i, t, v in zip(readings.index.tolist(), readings.ts.tolist(), readings.value.tolist())
    ]


def reason_of(decoder: Decoder, payload, topic: str = TOPIC) -> str:
    """The one reason given; a rejected whole message must leave no readings behind."""
    message = msg(payload, topic)
    readings, rejected = decoder.decode_many([message])
    assert len(rejected) == 1
    if rejected[0].payload == message[1]:
        assert len(readings) == 0
    return rejected[0].reason


# -- topic templates ------------------------------------------------------------------------------


def test_template_parses_topic_into_tags():
    t = TopicTemplate("plant/{site}/x/{asset}/{sensor}")
    assert t.parse("plant/s1/x/a1/temp") == {"site": "s1", "asset": "a1", "sensor": "temp"}
    assert t.subscription == "plant/+/x/+/+"
    assert t.gateway().template == "plant/{site}/x/_gateway/{gateway}"


@pytest.mark.parametrize(
    "template, complaint",
    [
        ("", "empty"),
        ("faultline/site/asset", "no {name}"),
        ("faultline/{site}/{site}", "twice"),
        ("faultline/pre{site}/{asset}", "exactly one {name}"),
        ("faultline/+/{asset}", "wildcard"),
        ("faultline/{si te}/{asset}", "exactly one {name}"),
    ],
)
def test_template_errors_name_the_problem(template, complaint):
    with pytest.raises(ValueError, match=complaint.replace("{", r"\{").replace("}", r"\}")):
        TopicTemplate(template)


@pytest.mark.parametrize(
    "topic, complaint",
    [
        ("faultline/plant1/pump7", "3 segments"),
        ("other/plant1/pump7/temp", "'other' where 'faultline'"),
        ("faultline//pump7/temp", "empty {site}"),
        ("faultline/plant1/pump\n7/temp", "line break"),
    ],
)
def test_topic_that_does_not_match_names_the_topic(topic, complaint):
    with pytest.raises(PayloadError, match=repr(topic)[1:8]) as exc:
        TopicTemplate("faultline/{site}/{asset}/{sensor}").parse(topic)
    assert complaint in exc.value.reason


def test_topic_cache_stays_bounded():
    t = TopicTemplate("f/{site}", cache_size=10)
    for n in range(25):
        assert t.parse(f"f/s{n}") == {"site": f"s{n}"}
    assert len(t._cache) <= 10


# -- one reading ------------------------------------------------------------------------------------


def test_one_reading_with_ms_timestamp(decoder):
    readings = decoder.decode(*msg({"ts": TS, "value": 4.2}))
    assert rows(readings) == [(SeriesKey.of("telemetry", TAGS), TS * 1_000_000, 4.2)]


def test_integer_and_float_values_and_float_ms(decoder):
    readings, rejected = decoder.decode_many([msg({"ts": TS, "value": 4}), msg({"ts": TS + 0.5, "value": -1.5e-3})])
    assert not rejected
    assert [(t, v) for _, t, v in rows(readings)] == [(TS * 1_000_000, 4.0), (TS * 1_000_000 + 500_000, -1.5e-3)]


@pytest.mark.parametrize(
    "text, ns",
    [
        ("2025-11-21T04:40:00.123Z", 1_763_700_000_123_000_000),
        ("2025-11-21T05:40:00.123+01:00", 1_763_700_000_123_000_000),
        ("2025-11-21T04:40:00.123456789Z", 1_763_700_000_123_456_789),
        ("2025-11-21T04:40:00Z", 1_763_700_000_000_000_000),
    ],
)
def test_iso_timestamps(decoder, text, ns):
    assert decoder.decode(*msg({"ts": text, "value": 1.0})).ts.tolist() == [ns]


def test_missing_timestamp_uses_receive_time_and_says_so(decoder):
    readings = decoder.decode(*msg({"value": 4.2}))
    ((key, ts, value),) = rows(readings)
    assert ts == NOW and value == 4.2
    assert key.tag(RECEIVE_TIME_TAG[0]) == RECEIVE_TIME_TAG[1]
    assert dict(key.tags) == {**TAGS, "ts_source": "receive"}


def test_extra_keys_are_ignored(decoder):
    readings = decoder.decode(*msg({"ts": TS, "value": 1.0, "unit": "degC", "seq": 7}))
    assert readings.value.tolist() == [1.0]


def test_many_topics_in_one_call_share_series_per_topic(decoder):
    messages = [msg({"ts": TS + n, "value": float(n)}, f"faultline/s/a{n % 3}/t") for n in range(30)]
    readings, rejected = decoder.decode_many(messages)
    assert not rejected and len(readings) == 30 and len(readings.series) == 3
    for key, ts, value in rows(readings):
        assert key.tag("asset") == f"a{int(value) % 3}" and ts == (TS + int(value)) * 1_000_000


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53)),
    offset_ms=st.integers(-(10**11), 10**7),
)
def test_any_finite_number_round_trips(value, offset_ms):
    decoder = Decoder("f/{site}/{asset}/{sensor}")
    readings = decoder.decode("f/s/a/t", orjson.dumps({"ts": TS + offset_ms, "value": value}), NOW)
    assert readings.value.tolist() == [float(value)]
    assert readings.ts.tolist() == [(TS + offset_ms) * 1_000_000]


# -- batches ----------------------------------------------------------------------------------------


def test_batch(decoder):
    readings = decoder.decode(*msg({"ts": [TS, TS + 10, TS + 20.5], "value": [1, 2.5, -3]}))
    assert rows(readings) == [
        (SeriesKey.of("telemetry", TAGS), TS * 1_000_000, 1.0),
        (SeriesKey.of("telemetry", TAGS), (TS + 10) * 1_000_000, 2.5),
        (SeriesKey.of("telemetry", TAGS), (TS + 20) * 1_000_000 + 500_000, -3.0),
    ]


def test_batch_of_iso_timestamps(decoder):
    readings = decoder.decode(*msg({"ts": ["2025-11-21T04:40:00.123Z", "2025-11-21T04:40:00.124Z"], "value": [1, 2]}))
    assert readings.ts.tolist() == [1_763_700_000_123_000_000, 1_763_700_000_124_000_000]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**9), st.floats(allow_nan=False, allow_infinity=False, width=64)),
        min_size=1,
        max_size=50,
    )
)
def test_batches_decode_every_pair_in_order(pairs):
    decoder = Decoder("f/{site}/{asset}/{sensor}")
    payload = {"ts": [TS - d for d, _ in pairs], "value": [v for _, v in pairs]}
    readings = decoder.decode("f/s/a/t", orjson.dumps(payload), NOW)
    assert readings.ts.tolist() == [(TS - d) * 1_000_000 for d, _ in pairs]
    assert readings.value.tolist() == [v for _, v in pairs]


# -- waveform blocks ----------------------------------------------------------------------------------


def test_waveform_block_stored_as_features_at_t0(decoder):
    values = [1.0, -2.0, 3.0, -4.0]
    readings = decoder.decode(*msg({"t0": TS, "rate_hz": 1000, "values": values}, "faultline/p/m/accel"))
    got = {key.field: (key.measurement, ts, value) for key, ts, value in rows(readings)}
    rms = math.sqrt(sum(v * v for v in values) / 4)
    assert got == {
        "rms": ("waveform", TS * 1_000_000, pytest.approx(rms)),
        "peak": ("waveform", TS * 1_000_000, 4.0),
        "crest_factor": ("waveform", TS * 1_000_000, pytest.approx(4.0 / rms)),
    }
    assert all(dict(k.tags) == {"site": "p", "asset": "m", "sensor": "accel"} for k in readings.series)


def test_waveform_raw_samples_when_configured():
    decoder = Decoder("f/{site}/{asset}/{sensor}", waveform_features=features, keep_raw_waveform=True)
    readings = decoder.decode("f/p/m/accel", orjson.dumps({"t0": TS, "rate_hz": 3, "values": [1, 2, 3]}), NOW)
    raw = [(ts, v) for key, ts, v in rows(readings) if key.measurement == "waveform_raw"]
    start = TS * 1_000_000
    assert raw == [(start, 1.0), (start + 333_333_333, 2.0), (start + 666_666_667, 3.0)]
    assert {key.field for key in readings.series if key.measurement == "waveform"} == {"rms", "peak", "crest_factor"}


def test_waveform_blocks_of_several_lengths_in_one_call(decoder):
    blocks = [{"t0": TS + n, "rate_hz": 100, "values": [float(n + 1)] * (4 + n % 2)} for n in range(6)]
    readings, rejected = decoder.decode_many([msg(b, "faultline/p/m/accel") for b in blocks])
    assert not rejected
    peaks = sorted((ts, v) for key, ts, v in rows(readings) if key.field == "peak")
    assert peaks == [((TS + n) * 1_000_000, float(n + 1)) for n in range(6)]


def test_feature_function_gets_each_series_and_rate_on_its_own():
    calls = []

    def recording(blocks, rate_hz, tags):
        calls.append((tags["asset"], rate_hz, blocks.shape))
        return {"bpfo": np.full(len(blocks), rate_hz)}  # a machine-dependent feature is stored too

    decoder = Decoder("f/{site}/{asset}/{sensor}", waveform_features=recording)
    blocks = [
        msg({"t0": TS + n, "rate_hz": rate, "values": [1.0, 2.0, 3.0]}, f"f/p/{asset}/accel")
        for n, (asset, rate) in enumerate([("m1", 100), ("m2", 100), ("m1", 100), ("m1", 50)])
    ]
    readings, rejected = decoder.decode_many(blocks)
    assert not rejected
    assert sorted(calls) == [("m1", 50.0, (1, 3)), ("m1", 100.0, (2, 3)), ("m2", 100.0, (1, 3))]
    assert sorted((k.tag("asset"), k.field, ts, v) for k, ts, v in rows(readings)) == [
        ("m1", "bpfo", TS * 1_000_000, 100.0),
        ("m1", "bpfo", (TS + 2) * 1_000_000, 100.0),
        ("m1", "bpfo", (TS + 3) * 1_000_000, 50.0),
        ("m2", "bpfo", (TS + 1) * 1_000_000, 100.0),
    ]


def test_non_finite_feature_is_left_out_for_that_block_only():
    def with_kurtosis(blocks, rate_hz, tags):
        centred = blocks - blocks.mean(axis=1, keepdims=True)
        m2 = (centred * centred).mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"kurtosis": (centred**4).mean(axis=1) / (m2 * m2)}

    decoder = Decoder("f/{site}/{asset}/{sensor}", waveform_features=with_kurtosis)
    flat = msg({"t0": TS, "rate_hz": 10, "values": [2.0] * 4}, "f/p/flat/accel")
    varied = msg({"t0": TS, "rate_hz": 10, "values": [1.0, -1.0, 1.0, -1.0]}, "f/p/varied/accel")
    readings, rejected = decoder.decode_many([flat, varied])
    assert not rejected
    assert [(k.tag("asset"), v) for k, _, v in rows(readings)] == [("varied", 1.0)]


def test_only_the_waveform_schema_fields_are_stored_unless_asked():
    def many(blocks, rate_hz, tags):
        return {"rms": blocks.std(axis=1), "mean": blocks.mean(axis=1), "skewness": blocks.mean(axis=1)}

    payload = orjson.dumps({"t0": TS, "rate_hz": 10, "values": [1.0, 3.0]})
    default = Decoder("f/{site}/{asset}/{sensor}", waveform_features=many).decode("f/p/m/accel", payload, NOW)
    assert [k.field for k in default.series] == ["rms"]
    everything = Decoder("f/{site}/{asset}/{sensor}", waveform_features=many, waveform_fields=None)
    assert {k.field for k in everything.decode("f/p/m/accel", payload, NOW).series} == {"rms", "mean", "skewness"}


def test_failing_feature_function_rejects_its_blocks_not_the_others():
    def broken(blocks, rate_hz, tags):
        raise RuntimeError("boom")

    decoder = Decoder("f/{site}/{asset}/{sensor}", waveform_features=broken)
    readings, rejected = decoder.decode_many(
        [msg({"ts": TS, "value": 1.0}, "f/p/m/t"), msg({"t0": TS, "rate_hz": 10, "values": [1.0]}, "f/p/m/accel")]
    )
    assert readings.value.tolist() == [1.0]
    assert [(r.index, r.reason) for r in rejected] == [(1, "waveform features failed: RuntimeError: boom")]


def test_without_feature_function_waveforms_are_stored_raw():
    decoder = Decoder("f/{site}/{asset}/{sensor}")
    readings = decoder.decode("f/p/m/accel", orjson.dumps({"t0": TS, "rate_hz": 1, "values": [5, 6]}), NOW)
    assert {k.measurement for k in readings.series} == {"waveform_raw"}
    assert readings.value.tolist() == [5.0, 6.0]


# -- gateway messages -----------------------------------------------------------------------------------


def test_gateway_message_carries_tags_per_reading(decoder):
    payload = {
        "readings": [
            {"asset": "pump7", "sensor": "bearing_temp", "ts": TS, "value": 61.5},
            {
                "site": "plant2",
                "asset": "fan1",
                "sensor": "motor_current",
                "ts": "2025-11-21T04:40:00.123Z",
                "value": 3,
            },
            {"asset": "pump7", "sensor": "vibration_rms", "value": 2.25},
        ]
    }
    readings = decoder.decode(*msg(payload, "faultline/plant1/_gateway/gw-01"))
    assert rows(readings) == [
        (
            SeriesKey.of("telemetry", {"site": "plant1", "asset": "pump7", "sensor": "bearing_temp"}),
            TS * 1_000_000,
            61.5,
        ),
        (
            SeriesKey.of("telemetry", {"site": "plant2", "asset": "fan1", "sensor": "motor_current"}),
            TS * 1_000_000,
            3.0,
        ),
        (
            SeriesKey.of(
                "telemetry", {"site": "plant1", "asset": "pump7", "sensor": "vibration_rms", "ts_source": "receive"}
            ),
            NOW,
            2.25,
        ),
    ]


def test_gateway_readings_carry_every_tag_of_the_reading_template():
    decoder = Decoder("plant/{site}/{line}/{asset}/{sensor}")
    assert decoder.gateway_template.template == "plant/{site}/_gateway/{gateway}"
    direct = decoder.decode("plant/p1/l2/pump7/temp", orjson.dumps({"ts": TS, "value": 1.0}), NOW)
    via_gateway = decoder.decode(
        "plant/p1/_gateway/gw",
        orjson.dumps({"readings": [{"line": "l2", "asset": "pump7", "sensor": "temp", "ts": TS, "value": 2.0}]}),
        NOW,
    )
    assert via_gateway.series == direct.series
    assert (
        'has no "line"'
        in decoder.decode_many(
            [
                (
                    "plant/p1/_gateway/gw",
                    orjson.dumps({"readings": [{"asset": "pump7", "sensor": "temp", "value": 2.0}]}),
                    NOW,
                )
            ]
        )[1][0].reason
    )


def test_a_bad_gateway_reading_is_rejected_alone_and_the_good_ones_kept(decoder):
    bad = {"asset": "a", "sensor": "s", "ts": TS, "value": "2"}
    payload = {"readings": [{"asset": "a", "sensor": "s", "ts": TS, "value": 1}, bad]}
    readings, rejected = decoder.decode_many([msg(payload, "faultline/plant1/_gateway/gw-01")])
    assert readings.value.tolist() == [1.0]
    assert [(r.index, r.topic, orjson.loads(r.payload), r.reason) for r in rejected] == [
        (
            0,
            "faultline/plant1/_gateway/gw-01",
            {"readings": [bad]},
            "\"readings\"[1].value is string '2', expected a number",
        )
    ]
    bad["value"] = 2  # fixed, the dead letter decodes as a message of its own (a replay)
    fixed = decoder.decode_many([msg({"readings": [bad]}, "faultline/plant1/_gateway/gw-01")])[0]
    assert fixed.value.tolist() == [2.0]


@pytest.mark.parametrize("where", ["one", "batch", "gateway", "waveform"])
def test_a_timestamp_of_1e308_rejects_that_reading_alone_with_an_exact_reason(decoder, where):
    # 1e308 ms used to overflow a float inside the reason text: the whole delivery was dead-lettered
    good = msg({"ts": TS, "value": 1.0})
    bad = {
        "one": msg({"ts": 1e308, "value": 2.0}),
        "batch": msg({"ts": [TS, 1e308], "value": [3.0, 2.0]}),
        "gateway": msg(
            {
                "readings": [
                    {"asset": "a", "sensor": "s", "ts": TS, "value": 3.0},
                    {"asset": "a", "sensor": "s", "ts": 1e308, "value": 2.0},
                ]
            },
            "faultline/plant1/_gateway/gw",
        ),
        "waveform": msg({"t0": 1e308, "rate_hz": 10.0, "values": [2.0]}),
    }[where]
    readings, rejected = decoder.decode_many([good, bad, good])
    assert sorted(readings.value.tolist()) == ([1.0, 1.0] if where in ("one", "waveform") else [1.0, 1.0, 3.0])
    assert len(rejected) == 1 and rejected[0].index == 1 and rejected[0].topic == bad[0]
    assert "ahead of the receive time" in rejected[0].reason and "1e+308" in rejected[0].reason
    assert "more than 1e+12 h" in rejected[0].reason


def test_overlong_tag_values_are_rejected():
    decoder = Decoder("faultline/{site}/{asset}/{sensor}", DecodeLimits(max_tag_chars=8))
    assert reason_of(decoder, {"ts": TS, "value": 1}, "faultline/p/a/" + "s" * 9) == (
        "topic segment {sensor} is 9 characters, over the limit of 8"
    )
    assert (
        reason_of(decoder, {"readings": [{"asset": "a" * 9, "sensor": "s", "value": 1}]}, "faultline/p/_gateway/g")
        == '"readings"[0].asset is 9 characters, over the limit of 8'
    )


def test_a_bad_batch_element_is_rejected_alone(decoder):
    readings, rejected = decoder.decode_many([msg({"ts": [TS, TS + 1, TS + 2], "value": [1.5, "hot", 2.5]})])
    assert readings.value.tolist() == [1.5, 2.5]
    assert [r.reason for r in rejected] == ["\"value\"[1] is string 'hot', expected a number"]
    assert orjson.loads(rejected[0].payload) == {"ts": TS + 1, "value": "hot"}


def test_an_unexpected_decoder_error_costs_one_message_not_the_call(decoder, monkeypatch):
    def broken(*args):
        raise OverflowError("a decoder bug")

    monkeypatch.setattr("faultline.ingest.codecs.waveform.block", broken)
    readings, rejected = decoder.decode_many(
        [msg({"ts": TS, "value": 1.0}), msg({"t0": TS, "rate_hz": 1, "values": [1.0]})]
    )
    assert readings.value.tolist() == [1.0]
    assert [r.reason for r in rejected] == ["decoder error on this message: OverflowError: a decoder bug"]


def test_gateway_and_reading_topics_are_not_mixed_up(decoder):
    assert "gateway topic" in reason_of(decoder, {"ts": TS, "value": 1.0}, "faultline/plant1/_gateway/gw-01")
    assert "belong on gateway topics" in reason_of(
        decoder, {"readings": [{"asset": "a", "sensor": "s", "value": 1}]}, TOPIC
    )


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"ts": 1763700000123, "value": NaN}', "not JSON"),
        (b'{"ts": 1763700000123, "value": 1e400}', "not JSON: number is infinity"),
        (b"[1, 2]", "payload is a JSON array, expected an object"),
        (b"4.2", "payload is a JSON number, expected an object"),
        ({"ts": TS, "value": True}, '"value" is boolean True, expected a number'),
        ({"ts": TS, "value": "4.2"}, "\"value\" is string '4.2', expected a number"),
        ({"ts": TS, "value": None}, '"value" is missing'),
        ({"ts": TS, "value": {"v": 1}}, '"value" is object'),
        ({"ts": TS}, 'none of "value", "values" or "readings"'),
        ({"ts": None, "value": 1}, '"ts" is null'),
        ({"ts": True, "value": 1}, '"ts" is True, expected epoch seconds, milliseconds, microseconds or nanoseconds'),
        ({"ts": "yesterday", "value": 1}, "\"ts\" 'yesterday' is not an ISO 8601 timestamp"),
        ({"ts": "2025-11-21T04:40:00", "value": 1}, "has no UTC offset"),
        ({"ts": 946684799, "value": 1}, '"ts" 946684799 is 1999-12-31T23:59:59Z, before 2000-01-01'),  # seconds
        ({"ts": 123, "value": 1}, "before 2000-01-01"),
        ({"ts": TS + 2 * 86_400_000, "value": 1}, "h ahead of the receive time"),
        ({"ts": [TS, TS], "value": [1]}, '"ts" has 2 elements but "value" has 1'),
        ({"ts": [], "value": []}, '"value" is an empty array'),
        ({"ts": TS, "value": [1, 2]}, 'a batch needs "ts" as an array'),
        ({"ts": [TS, TS], "value": 1}, '"ts" is an array but "value" is not'),
        ({"ts": [TS, TS], "value": [1, False]}, '"value"[1] is boolean False'),
        ({"ts": [TS, TS], "value": [1, "x"]}, "\"value\"[1] is string 'x'"),
        ({"ts": [TS, 5], "value": [1, 2]}, '"ts"[1] 5 is 1970-01-01'),
        ({"ts": [TS, TS + 0.5, 9e15], "value": [1, 2, 3]}, '"ts"[2] 9000000000000000.0 is 2255-03-14'),  # µs
        ({"ts": [TS, "nope"], "value": [1, 2]}, "\"ts\"[1] 'nope' is not an ISO 8601"),
        (b'{"ts": [1763700000123, 1180591620717411303424], "value": [1, 2]}', '"ts"[1] 1.1805916207174113e+21'),
        ({"rate_hz": 10, "values": [1.0]}, 'no "t0"'),
        ({"t0": TS, "values": [1.0]}, '"rate_hz" is missing'),
        ({"t0": TS, "rate_hz": 0, "values": [1.0]}, '"rate_hz" is 0, expected a positive number'),
        ({"t0": TS, "rate_hz": 2e9, "values": [1.0]}, "one sample per nanosecond"),
        ({"t0": TS, "rate_hz": 1e-300, "values": [1.0, 2.0]}, "block's last sample"),
        ({"t0": TS, "rate_hz": 0.001, "values": [1.0] * 200}, "h ahead of the receive time"),
        ({"t0": TS, "rate_hz": 10, "values": []}, '"values" is an empty array'),
        ({"t0": TS, "rate_hz": 10, "values": "1,2"}, "\"values\" is '1,2', expected an array"),
        ({"t0": TS, "rate_hz": 10, "values": [1.0, None]}, '"values"[1] is missing'),
        ({"t0": 5, "rate_hz": 10, "values": [1.0]}, '"t0" 5 is 1970'),
    ],
)
def test_bad_payload_is_rejected_with_a_reason(decoder, payload, reason):
    assert reason in reason_of(decoder, payload)


@pytest.mark.parametrize(
    "reading, reason",
    [
        ({"sensor": "s", "value": 1}, '"readings"[0] has no "asset"'),
        ({"asset": 7, "sensor": "s", "value": 1}, '"readings"[0] has a non-text "asset": 7'),
        ({"asset": "", "sensor": "s", "value": 1}, '"readings"[0].asset is empty'),
        ({"asset": "a\nb", "sensor": "s", "value": 1}, "line break"),
        ({"asset": "a", "sensor": "s", "ts": 17, "value": 1}, '"readings"[0].ts 17 is 1970'),
        ("a reading", "\"readings\"[0] is 'a reading', expected an object"),
    ],
)
def test_bad_gateway_reading_is_named(decoder, reading, reason):
    assert reason in reason_of(decoder, {"readings": [reading]}, "faultline/plant1/_gateway/gw")


def test_bad_gateway_payload_shapes(decoder):
    gw = "faultline/plant1/_gateway/gw"
    assert reason_of(decoder, {"readings": []}, gw) == '"readings" is an empty array'
    assert reason_of(decoder, {"readings": {"a": 1}}, gw) == "\"readings\" is {'a': 1}, expected an array"


def test_limits_are_enforced():
    limits = DecodeLimits(max_payload_bytes=80, max_batch_len=2, max_waveform_len=3, max_future_ns=1_000_000_000)
    decoder = Decoder("f/{site}/{asset}/{sensor}", limits=limits, waveform_features=features)
    cases = [
        (b'{"value": 1, "pad": "' + b"x" * 80 + b'"}', "payload is 103 bytes, over the limit of 80"),
        (orjson.dumps({"ts": [TS] * 3, "value": [1] * 3}), '"value" has 3 readings, over the limit of 2'),
        (orjson.dumps({"t0": TS, "rate_hz": 1, "values": [1] * 4}), '"values" has 4 samples, over the limit of 3'),
        (orjson.dumps({"ts": NOW // 1_000_000 + 2000, "value": 1}), "0.0 h ahead of the receive time"),
    ]
    readings, rejected = decoder.decode_many([("f/s/a/t", payload, NOW) for payload, _ in cases])
    assert len(readings) == 0
    assert len(rejected) == len(cases)
    for r, (_, reason) in zip(rejected, cases):
        assert reason in r.reason


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_batch_len"):
        DecodeLimits(max_batch_len=0)


def test_topic_not_matching_is_rejected_naming_the_topic(decoder):
    assert (
        reason_of(decoder, {"value": 1}, "elsewhere/x")
        == "topic 'elsewhere/x' has 2 segments, template 'faultline/{site}/{asset}/{sensor}' has 4"
    )


def test_good_messages_around_bad_ones_still_decode(decoder):
    messages = [
        msg({"ts": TS, "value": 1.0}),
        msg(b"garbage"),
        msg({"ts": TS + 1, "value": 2.0}),
        msg({"ts": [TS + 2], "value": ["x"]}),
        msg({"ts": [TS + 3], "value": [3.0]}),
        msg({"value": 1}, "bad/topic"),
        msg({"t0": TS, "rate_hz": 1, "values": [4.0]}, "faultline/p/m/accel"),
        msg({"t0": TS, "rate_hz": -1, "values": [4.0]}, "faultline/p/m/accel"),
    ]
    readings, rejected = decoder.decode_many(messages)
    assert [r.index for r in rejected] == [1, 3, 5, 7]
    assert [r.payload for r in rejected] == [messages[i][1] for i in (1, 3, 5, 7)][:1] + [
        orjson.dumps({"ts": TS + 2, "value": "x"})
    ] + [messages[i][1] for i in (5, 7)]  # a batch's bad reading alone
    assert [r.topic for r in rejected] == [messages[i][0] for i in (1, 3, 5, 7)]
    telemetry = sorted((t, v) for k, t, v in rows(readings) if k.measurement == "telemetry")
    assert telemetry == [(TS * 1_000_000, 1.0), ((TS + 1) * 1_000_000, 2.0), ((TS + 3) * 1_000_000, 3.0)]
    assert {k.field for k in readings.series if k.measurement == "waveform"} == {"rms", "peak", "crest_factor"}


def test_decode_raises_for_one_bad_message(decoder):
    with pytest.raises(PayloadError, match="not JSON"):
        decoder.decode(TOPIC, b"{", NOW)


def test_empty_call_gives_empty_readings(decoder):
    readings, rejected = decoder.decode_many([])
    assert len(readings) == 0 and rejected == []


def test_timestamp_ns_rejects_non_finite_floats():
    with pytest.raises(PayloadError, match="finite"):
        timestamp_ns(float("inf"))


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from([TS, TS + 0.5, "2025-11-21T04:40:00Z", 1763700000]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["ts", "value", "values", "t0", "rate_hz", "readings", "site", "asset", "sensor", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(
        st.tuples(st.sampled_from([TOPIC, "faultline/p/_gateway/g", "x/y", "faultline/p/m/accel"]), _json),
        min_size=1,
        max_size=6,
    )
)
def test_arbitrary_json_never_escapes_as_an_exception(payloads):
    decoder = Decoder("faultline/{site}/{asset}/{sensor}", waveform_features=features, keep_raw_waveform=True)
    messages = []
    for topic, value in payloads:
        try:
            messages.append((topic, orjson.dumps(value), NOW))
        except TypeError:  # integers beyond 64 bits: send the text orjson cannot produce
            messages.append((topic, repr(value).encode(), NOW))
    readings, rejected = decoder.decode_many(messages)
    assert all(0 <= r.index < len(messages) for r in rejected)
    assert all(r.reason for r in rejected)
    assert np.isfinite(readings.value).all()
    assert ((readings.ts >= DecodeLimits().earliest_ns) & (readings.ts <= NOW + DecodeLimits().max_future_ns)).all()
    assert len(readings.index) == 0 or readings.index.max() < len(readings.series)


def test_an_oversize_payload_keeps_only_its_start_in_the_dead_letter():
    decoder = Decoder("faultline/{site}/{asset}/{sensor}", DecodeLimits(max_payload_bytes=1024))
    payload = b'{"value": 1, "pad": "' + b"x" * 10_000_000 + b'"}'  # 10 MB: kept whole, 100 of them held 1 GB
    _, rejected = decoder.decode_many([msg(payload)])
    assert rejected[0].payload == payload[:4096]
    assert rejected[0].reason == "payload is 10000023 bytes, over the limit of 1024 (the first 4096 bytes are kept)"


@pytest.mark.parametrize("unit, scale", [("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)])
def test_epoch_numbers_are_read_by_magnitude_in_every_shape(decoder, unit, scale):
    whole = TS * 10**6 // scale  # TS (ms) in this unit
    expected = whole * scale
    one = decoder.decode(*msg({"ts": whole, "value": 1.0}))
    batch = decoder.decode(*msg({"ts": [whole, whole + 1], "value": [1.0, 2.0]}))
    gateway = decoder.decode(
        *msg({"readings": [{"asset": "a", "sensor": "s", "ts": whole, "value": 1.0}]}, "faultline/plant1/_gateway/gw")
    )
    block = decoder.decode(*msg({"t0": whole, "rate_hz": 10, "values": [1.0, 2.0]}, "faultline/p/m/accel"))
    assert one.ts.tolist() == [expected] and gateway.ts.tolist() == [expected]
    assert batch.ts.tolist() == [expected, expected + scale]
    assert set(block.ts.tolist()) >= {expected}
    if unit == "s":  # a float of seconds keeps its fraction
        assert decoder.decode(*msg({"ts": whole + 0.25, "value": 1.0})).ts.tolist() == [expected + 250_000_000]


_good_ts = st.integers(TS - 10**9, TS + 10**6)
_element_ts = st.one_of(
    _good_ts,
    _good_ts,
    _good_ts,
    st.sampled_from([True, None, "2025-11-21T04:40:00Z", 1_763_700_000, 10**30, 1e308, TS + 0.5, TS + 10**9, -1]),
)
_element_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6),
    st.sampled_from([False, None, "7", [1.0], {"v": 1}, 10**30, 2**64 - 1, 2**63]),
)
_batch = st.integers(1, 6).flatmap(
    lambda n: st.fixed_dictionaries(
        {"ts": st.lists(_element_ts, min_size=n, max_size=n), "value": st.lists(_element_value, min_size=n, max_size=n)}
    )
)
_batch_or_odd = st.one_of(
    _batch,
    _batch,
    _batch.map(lambda b: {"ts": b["ts"][:-1] or 5, "value": b["value"]}),  # lengths differ, or ts is not a list
    st.just({"ts": [], "value": []}),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_batch_or_odd, st.sampled_from(["pump1", "pump2", "pump3"])), min_size=1, max_size=8))
def test_batches_decoded_together_give_what_each_batch_gives_alone(batches):
    """The batches of one call are checked and converted in one vector pass (`batch.decode_together`);
    whatever they hold -- bools, nulls, strings, float or second timestamps, numbers too large, bad
    lengths -- the readings and the rejections are those of each batch decoded by `batch.decode`."""
    from faultline.ingest.codecs import batch

    # json, not orjson: it writes integers past 64 bits (orjson reads them back as floats)
    messages = [msg(json.dumps(payload).encode(), topic=f"faultline/plant1/{asset}/vib") for payload, asset in batches]
    together, rejected = Decoder("faultline/{site}/{asset}/{sensor}").decode_many(messages)
    original = batch.decode_together
    batch.decode_together = lambda decoder, pending, rows: list(pending)  # every batch through batch.decode
    try:
        alone, rejected_alone = Decoder("faultline/{site}/{asset}/{sensor}").decode_many(messages)
    finally:
        batch.decode_together = original
    assert sorted(rows(together), key=repr) == sorted(rows(alone), key=repr)
    assert sorted(together.series, key=repr) == sorted(alone.series, key=repr)  # no series without readings
    assert rejected == rejected_alone
