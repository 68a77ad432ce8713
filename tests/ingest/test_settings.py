"""Configuration: the sample file validates, bad keys and values are named, secrets come from the environment."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from faultline.ingest.settings import MqttSettings, parse_size
from faultline.service.cli import app
from faultline.service.settings import ConfigError, Settings, load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_sample_config_is_valid_and_short_form_keys_are_read():
    s = load_settings(ROOT / "config" / "faultline.yaml")
    assert s.mqtt.url == "mqtt://127.0.0.1:1883"
    assert s.store.kind == "influxdb" and s.store.api == "v1" and s.store.database == "faultline"
    assert s.spool.path == "./var/spool"


def test_no_file_gives_the_embedded_default():
    s = load_settings(None)
    assert s.store.kind == "sqlite"
    assert (s.mqtt.host, s.mqtt.port) == ("127.0.0.1", 1883)


def test_unknown_key_is_named_with_its_value():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"mqtt": {"urll": "mqtt://x:1"}})
    assert info.value.problems == ["mqtt.urll: unknown key (value 'mqtt://x:1')"]


def test_bad_value_is_named_with_its_value():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"store": {"kind": "postgres"}, "spool": {"max_bytes": "lots"}})
    text = "\n".join(info.value.problems)
    assert "store.kind" in text and "'postgres'" in text
    assert "spool.max_bytes" in text and "'lots'" in text


@pytest.mark.parametrize("name", ["", "#telemetry", "tele\nmetry", "tele\rmetry"])
def test_measurement_that_line_protocol_cannot_carry_is_named(name):
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"store": {"measurement": name}})
    assert info.value.problems == [
        f"store.measurement: a measurement name must be non-empty, must not start with "
        f"'#' and must not contain a line break (value {name!r})"
    ]
    assert settings_from_dict({"store": {"measurement": "plant #2"}}).store.measurement == "plant #2"


def test_secret_from_environment_and_never_echoed():
    s = settings_from_dict({"mqtt": {"password": "${MQTT_PASSWORD}"}}, env={"MQTT_PASSWORD": "s3cret"})
    assert s.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    with pytest.raises(ConfigError, match=r"mqtt.password: environment variable MQTT_PASSWORD is not set"):
        settings_from_dict({"mqtt": {"password": "${MQTT_PASSWORD}"}}, env={})
    assert settings_from_dict({"store": {"database": "${DB:-plant}"}}, env={}).store.database == "plant"


def test_protocol_from_yaml_number_and_tls_url():
    m = MqttSettings(url="mqtts://broker.plant:8883", protocol=5)
    assert m.protocol == "5" and m.tls and m.port == 8883
    assert MqttSettings(url="mqtts://broker.plant").port == 8883


def test_topic_filters_follow_the_template():
    # the reading filter already covers the gateway topics: one subscription, one delivery each
    assert MqttSettings(topic="plant/{site}/{asset}/{sensor}", codecs=[]).topic_filters() == ["plant/+/+/+"]
    assert MqttSettings(topic="plant/{site}/{line}/{asset}/{sensor}", codecs=[]).topic_filters() == [
        "plant/+/+/+/+",
        "plant/+/_gateway/+",
    ]
    # the formats with topics of their own are subscribed to by default (mqtt.codecs)
    assert MqttSettings(topic="plant/{site}/{asset}/{sensor}").topic_filters() == [
        "plant/+/+/+",
        "spBv1.0/#",
        "v1/gateway/telemetry",
    ]
    assert MqttSettings(
        codecs=[{"topic": "faultline/tb/gateway/telemetry", "codec": "thingsboard_gateway"}]
    ).topic_filters() == ["faultline/+/+/+"]  # a route the template's filter covers
    assert MqttSettings(subscribe=["a/#"]).topic_filters() == ["a/#"]
    with pytest.raises(ValueError, match="sensor"):
        MqttSettings(topic="plant/{site}/{asset}")


def test_v2_store_needs_bucket_and_org():
    with pytest.raises(ConfigError, match="bucket and org"):
        settings_from_dict({"store": {"kind": "influxdb", "api": "v2"}})


@pytest.mark.parametrize(
    "text,expected", [(1048576, 1048576), ("512MB", 512_000_000), ("2GiB", 2 * 1024**3), ("1.5 kib", 1536)]
)
def test_sizes(text, expected):
    assert parse_size(text) == expected


def test_check_config_command(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["check-config", str(ROOT / "config" / "faultline.yaml")])
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  url: http://nope\nmetrics:\n  port: 70000\n")
    result = runner.invoke(app, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert "mqtt.url" in result.output and "'http://nope'" in result.output
    assert "metrics.port" in result.output and "70000" in result.output


def test_settings_compose_every_section():
    assert set(Settings.model_fields) >= {"mqtt", "store", "spool", "ingest", "metrics", "detectors", "ticketing"}


def test_tls_files_must_be_readable(tmp_path):
    with pytest.raises(ConfigError, match=r"mqtt.ca_file: '/nonexistent/ca.pem' is not a readable file"):
        settings_from_dict({"mqtt": {"url": "mqtts://broker:8883", "ca_file": "/nonexistent/ca.pem"}})
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert settings_from_dict({"mqtt": {"ca_file": str(ca)}}).mqtt.ca_file == str(ca)
