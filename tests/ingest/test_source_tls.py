"""TLS (mqtts://, CA file, client certificate) and username/password against a real Mosquitto."""

import os
import subprocess

import pytest

from ingest.settings import MqttSettings
from ingest.source import MqttSource
from tests import servers
from tests.ingest.publishing import wait_for

pytestmark = pytest.mark.servers


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=faultline test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(extra + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    for f in d.iterdir():
        os.chmod(f, 0o644)  # mosquitto reads them as its own user


class SecureMosquitto(servers.Mosquitto):
    """Mosquitto with a TLS listener that requires a client certificate and a password."""

    def command(self):
        cmd = super().command()
        conf = self.root / "mosquitto.conf"
        certs = self.root / "certs"
        passwords = self.root / "passwords"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "gateway", "s3cret"], check=True,
                       capture_output=True)
        os.chmod(passwords, 0o644)
        conf.write_text(conf.read_text().replace("allow_anonymous true\n", "").replace(
            f"listener {self.port} 127.0.0.1\n",
            f"listener {self.port} 127.0.0.1\ncafile {certs}/ca.crt\ncertfile {certs}/server.crt\n"
            f"keyfile {certs}/server.key\nrequire_certificate true\n"
            f"allow_anonymous false\npassword_file {passwords}\n"))
        return cmd


@pytest.fixture
def secure_mosquitto():
    server = SecureMosquitto()  # under /tmp: mosquitto drops to its own user, who cannot enter tmp_path
    certs = server.root / "certs"
    certs.mkdir()
    make_certificates(certs)
    server.start()
    yield server
    server.close()


def settings(broker, **kw):
    certs = broker.root / "certs"
    return MqttSettings(url=f"mqtts://127.0.0.1:{broker.port}", client_id=kw.pop("client_id", "tls"),
                        ca_file=str(certs / "ca.crt"), cert_file=str(certs / "client.crt"),
                        key_file=str(certs / "client.key"), username="gateway", reconnect_min_s=0.1,
                        reconnect_max_s=0.5, **kw)


def test_tls_with_client_certificate_and_password_connects_and_receives(secure_mosquitto):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    source = MqttSource(settings(secure_mosquitto, password="s3cret"))
    source.start()
    try:
        assert source.connected.wait(15)
        certs = secure_mosquitto.root / "certs"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-pub")
        pub.tls_set(ca_certs=str(certs / "ca.crt"), certfile=str(certs / "client.crt"),
                    keyfile=str(certs / "client.key"))
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
