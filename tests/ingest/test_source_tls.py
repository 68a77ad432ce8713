"""TLS (mqtts://, CA file, client certificate, the server host-name check) and username/password against a
real Mosquitto whose TLS listener requires a client certificate; the certificates are made by the test
(`tests.tls`, the `cryptography` package)."""

import os
import subprocess

import pytest

from faultline.ingest.settings import MqttSettings
from faultline.ingest.source import MqttSource
from tests import servers
from tests.ingest.publishing import wait_for
from tests.tls import make_pki

pytestmark = pytest.mark.servers


class SecureMosquitto(servers.Mosquitto):
    """Mosquitto with a TLS listener that requires a client certificate and a password."""

    def command(self):
        cmd = super().command()
        conf = self.root / "mosquitto.conf"
        certs = self.root / "certs"
        passwords = self.root / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwords), "gateway", "s3cret"], check=True, capture_output=True
        )
        os.chmod(passwords, 0o644)
        conf.write_text(
            conf.read_text()
            .replace("allow_anonymous true\n", "")
            .replace(
                f"listener {self.port} 127.0.0.1\n",
                f"listener {self.port} 127.0.0.1\ncafile {certs}/ca.crt\ncertfile {certs}/server.crt\n"
                f"keyfile {certs}/server.key\nrequire_certificate true\n"
                f"allow_anonymous false\npassword_file {passwords}\n",
            )
        )
        return cmd


def start_secure_mosquitto(server_names=("127.0.0.1", "localhost")) -> SecureMosquitto:
    server = SecureMosquitto()  # under /tmp: mosquitto drops to its own user, who cannot enter tmp_path
    make_pki(server.root / "certs", server_names)
    return server.start()


@pytest.fixture
def secure_mosquitto():
    server = start_secure_mosquitto()
    yield server
    server.close()


def settings(broker, **kw):
    certs = broker.root / "certs"
    return MqttSettings(
        url=f"mqtts://127.0.0.1:{broker.port}",
        client_id=kw.pop("client_id", "tls"),
        ca_file=str(certs / "ca.crt"),
        cert_file=str(certs / "client.crt"),
        key_file=str(certs / "client.key"),
        username="gateway",
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        **kw,
    )


def test_tls_with_client_certificate_and_password_connects_and_receives(secure_mosquitto):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    source = MqttSource(settings(secure_mosquitto, password="s3cret"))
    source.start()
    try:
        assert source.connected.wait(15)
        certs = secure_mosquitto.root / "certs"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-pub")
        pub.tls_set(
            ca_certs=str(certs / "ca.crt"), certfile=str(certs / "client.crt"), keyfile=str(certs / "client.key")
        )
        pub.username_pw_set("gateway", "s3cret")
        pub.connect("127.0.0.1", secure_mosquitto.port)
        pub.loop_start()
        pub.publish("faultline/s1/pump1/bearing_temp", b'{"value": 1}', qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        delivery = wait_for(lambda: source.take(timeout=0.2), 10, "the message over TLS")
        assert delivery.messages[0][1] == b'{"value": 1}'
    finally:
        source.stop()


def test_wrong_password_is_refused_and_retried_not_crashed(secure_mosquitto, caplog):
    source = MqttSource(settings(secure_mosquitto, password="wrong", client_id="tls-bad"))
    source.start()
    try:
        wait_for(lambda: caplog.text.count("refused the connection") >= 2, 15, "refusals, each logged")
        assert not source.connected.is_set()
    finally:
        source.stop()


def test_a_source_without_a_client_certificate_is_refused_and_retries(secure_mosquitto, caplog):
    certs = secure_mosquitto.root / "certs"
    source = MqttSource(
        MqttSettings(
            url=f"mqtts://127.0.0.1:{secure_mosquitto.port}",
            client_id="tls-nocert",
            ca_file=str(certs / "ca.crt"),
            username="gateway",
            password="s3cret",
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        )
    )
    source.start()
    try:
        wait_for(lambda: caplog.text.count("reconnecting in") >= 2, 15, "the refusals, each logged and retried")
        assert not source.connected.is_set()
    finally:
        source.stop()


def test_the_server_host_name_is_checked_unless_tls_insecure(caplog):
    broker = start_secure_mosquitto(server_names=("broker.plant.example",))  # we dial 127.0.0.1
    try:
        source = MqttSource(settings(broker, password="s3cret", client_id="tls-name"))
        source.start()
        try:
            wait_for(
                lambda: "certificate is not valid for '127.0.0.1'" in caplog.text, 15, "the host-name mismatch, logged"
            )
            assert not source.connected.is_set()
        finally:
            source.stop()
        insecure = MqttSource(settings(broker, password="s3cret", client_id="tls-insecure", tls_insecure=True))
        insecure.start()
        try:
            assert insecure.connected.wait(15), "tls_insecure: true skips the host-name check"
        finally:
            insecure.stop()
    finally:
        broker.close()
