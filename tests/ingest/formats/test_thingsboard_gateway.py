"""ThingsBoard gateway telemetry: devices' entries with and without ``ts``, a bad value rejected alone
in a replayable message of the same format, and the options checked before anything runs."""

from __future__ import annotations

import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.codecs.thingsboard_gateway import ThingsboardGateway
from faultline.ingest.settings import MqttSettings

NOW = 1_763_700_000_000 * 1_000_000
TOPIC = "v1/gateway/telemetry"


@pytest.fixture
def decoder():
    return Decoder("faultline/{site}/{asset}/{sensor}", codecs=[(TOPIC, ThingsboardGateway({"site": "north"}))])


def rows(readings):
    return sorted(
        (k.tag("site"), k.tag("asset"), k.tag("sensor"), k.tag("ts_source"), t, v)
        for k, t, v in (
            (readings.series[i], t, v)
            for i, t, v in zip(readings.index.tolist(), readings.ts.tolist(), readings.value.tolist())
        )
    )


def test_every_device_and_key_becomes_a_reading(decoder):
    message = {
        "Pump 7": [
            {"ts": 1763699990123, "values": {"bearing_temp": 61.5, "vibration_rms": 2}},
            {"ts": 1763699991, "values": {"bearing_temp": 61.7}},
        ],  # epoch seconds
        "Fan 2": [{"bearing_temp": 40.25}],
    }  # no ts: receive time
    readings, rejected = decoder.decode_many([(TOPIC, orjson.dumps(message), NOW)])
    assert rejected == []
    assert rows(readings) == [
        ("north", "Fan 2", "bearing_temp", "receive", NOW, 40.25),
        ("north", "Pump 7", "bearing_temp", None, 1763699990123 * 10**6, 61.5),
        ("north", "Pump 7", "bearing_temp", None, 1763699991 * 10**9, 61.7),
        ("north", "Pump 7", "vibration_rms", None, 1763699990123 * 10**6, 2.0),
    ]


def test_a_bad_value_is_rejected_alone_in_a_message_of_its_own(decoder):
    message = {
        "Pump 7": [{"ts": 1763699990123, "values": {"bearing_temp": "hot", "vibration_rms": 2.5}}],
        "Fan 2": "offline",
        "Fan 3": [{"ts": 1e308, "values": {"x": 1}}],
    }
    readings, rejected = decoder.decode_many([(TOPIC, orjson.dumps(message), NOW)])
    assert rows(readings) == [("north", "Pump 7", "vibration_rms", None, 1763699990123 * 10**6, 2.5)]
    by_payload = {orjson.loads(r.payload).popitem()[0]: r for r in rejected}
    assert orjson.loads(by_payload["Pump 7"].payload) == {
        "Pump 7": [{"ts": 1763699990123, "values": {"bearing_temp": "hot"}}]
    }
    assert by_payload["Pump 7"].reason == "\"Pump 7\"[0].values.bearing_temp is string 'hot', expected a number"
    assert by_payload["Fan 2"].reason == "\"Fan 2\" is 'offline', expected an array of entries"
    assert "ahead of the receive time" in by_payload["Fan 3"].reason
    # a rejected reading replays as it is, once fixed
    fixed = orjson.dumps({"Pump 7": [{"ts": 1763699990123, "values": {"bearing_temp": 61.0}}]})
    assert len(decoder.decode(TOPIC, fixed, NOW)) == 1


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"[1, 2]", "payload is a JSON array, expected an object of device name -> entries"),
        (b"{not json", "not JSON"),
    ],
)
def test_a_message_of_the_wrong_shape_is_rejected(decoder, payload, reason):
    _, rejected = decoder.decode_many([(TOPIC, payload, NOW)])
    assert len(rejected) == 1 and reason in rejected[0].reason


def test_options_are_checked_with_the_settings():
    with pytest.raises(
        ValueError,
        match=r"codecs\[0\] \(thingsboard_gateway on v1/gateway/telemetry\): "
        r"unknown option 'site' \(known: tags\)",
    ):
        MqttSettings(codecs=[{"topic": TOPIC, "codec": "thingsboard_gateway", "options": {"site": "x"}}])
    with pytest.raises(ValueError, match="tags is .* expected a mapping"):
        MqttSettings(codecs=[{"topic": TOPIC, "codec": "thingsboard_gateway", "options": {"tags": {"site": ""}}}])
