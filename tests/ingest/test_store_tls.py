"""TLS to the store (``https://``): the CA bundle, the client certificate and verification, through the
writers ``build_writer`` makes and the InfluxQL reader, against real InfluxDB 1.x and VictoriaMetrics
serving HTTPS with certificates the test makes (`tests.tls`).

Neither server asks for a client certificate (InfluxDB OSS and VictoriaMetrics OSS cannot), so that
the writers present one is checked against a small HTTPS endpoint of the test's own that requires
it (Python's ``ssl``), standing in for a proxy in front of the store.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from faultline.ingest.pipeline import build_writer
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.settings import StoreSettings
from faultline.ingest.writers.errors import RetryableWriteError
from faultline.service.readers import InfluxReader
from faultline.service.settings import ConfigError, settings_from_dict
from tests import servers
from tests.tls import make_pki

T0 = 1_767_225_600 * 10**9  # 2026-01-01


def readings(n: int = 3) -> Readings:
    key = SeriesKey.of("telemetry", {"site": "north", "asset": "P-101", "sensor": "bearing_temp"})
    return Readings.single_series(key, T0 + np.arange(n, dtype=np.int64) * 10**9, 60.0 + np.arange(n))


class _HttpsOnly:
    """A server of tests.servers with its HTTP API on HTTPS only, with the certificates of ``pki``."""

    def __init__(self, pki):
        super().__init__()
        self.pki = pki

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return servers._port_open(self.port)


class HttpsInfluxDB(_HttpsOnly, servers.InfluxDB):
    """InfluxDB 1.x serving its HTTP API on HTTPS."""

    def command(self) -> list[str]:
        cmd = super().command()
        conf = self.root / "influxdb.conf"
        conf.write_text(
            conf.read_text().replace(
                "[http]\n",
                f'[http]\n  https-enabled = true\n  https-certificate = "{self.pki.server_cert}"\n'
                f'  https-private-key = "{self.pki.server_key}"\n',
            )
        )
        return cmd


class HttpsVictoriaMetrics(_HttpsOnly, servers.VictoriaMetrics):
    """VictoriaMetrics serving ``/api/v2/write`` on HTTPS."""

    def command(self) -> list[str]:
        return [
            *super().command(),
            "-tls",
            f"-tlsCertFile={self.pki.server_cert}",
            f"-tlsKeyFile={self.pki.server_key}",
        ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def v1(server, **tls) -> StoreSettings:
    return StoreSettings(kind="influxdb", url=server.url, api="v1", database="tls", timeout_s=5, **tls)


def v2(server, **tls) -> StoreSettings:
    return StoreSettings(
        kind="influxdb", url=server.url, api="v2", bucket="tls", org="plant", token="t", timeout_s=5, **tls
    )


def write(settings: StoreSettings, n: int = 3) -> int:
    writer = build_writer(settings)
    try:
        return writer.write(readings(n)).written
    finally:
        writer.close()


@pytest.mark.servers
def test_influxdb_over_https_with_our_ca_bundle_writes_and_reads(pki):
    with HttpsInfluxDB(pki) as influx:
        store = v1(influx, ca_file=str(pki.ca))
        assert write(store) == 3
        reader = InfluxReader(store)
        rows = reader._query('SELECT count("value") FROM "telemetry"')
        assert rows[0]["values"][0][1] == 3
        with pytest.raises(RetryableWriteError, match="CERTIFICATE_VERIFY_FAILED"):
            write(v1(influx))  # the system CAs do not know the test's CA
        assert write(v1(influx, tls_verify=False), 4) == 4


@pytest.mark.servers
def test_victoria_metrics_v2_api_over_https_checks_the_certificate(pki, tmp_path):
    with HttpsVictoriaMetrics(pki) as vm:
        assert write(v2(vm, ca_file=str(pki.ca))) == 3
        with pytest.raises(RetryableWriteError, match="CERTIFICATE_VERIFY_FAILED"):
            write(v2(vm))
        other = make_pki(tmp_path / "other", ca_name="another CA")
        with pytest.raises(RetryableWriteError, match="CERTIFICATE_VERIFY_FAILED"):
            write(v2(vm, ca_file=str(other.ca)))
        assert write(v2(vm, tls_verify=False)) == 3


class _ClientCertEndpoint:
    """An HTTPS endpoint that requires a client certificate signed by the test CA and answers 204 to
    both write APIs, remembering the common name of each client certificate it saw."""

    def __init__(self, pki):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cert = self.connection.getpeercert()
                seen.append(dict(x[0] for x in cert["subject"])["commonName"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("api", [v1, v2], ids=["v1", "v2"])
def test_the_writers_present_the_client_certificate(pki, api):
    with _ClientCertEndpoint(pki) as endpoint:
        mtls = api(endpoint, ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
        assert write(mtls) == 3
        assert set(endpoint.seen) == {"faultline-client"}  # v1 also asks /query (database, field types)
        requests = len(endpoint.seen)
        with pytest.raises(RetryableWriteError):
            write(api(endpoint, ca_file=str(pki.ca)))  # no client certificate: the handshake fails
        assert len(endpoint.seen) == requests


def test_tls_settings_on_a_plain_http_url_are_an_error_naming_them(pki):
    with pytest.raises(
        ConfigError,
        match=r"store: Value error, ca_file, tls_verify set but url "
        r"'http://127.0.0.1:8086' is not https://|store: ca_file, tls_verify",
    ):
        settings_from_dict(
            {
                "store": {
                    "kind": "influxdb",
                    "url": "http://127.0.0.1:8086",
                    "ca_file": str(pki.ca),
                    "tls_verify": False,
                }
            },
            "test",
            env={},
        )
    with pytest.raises(ConfigError, match="key_file set without cert_file"):
        settings_from_dict(
            {"store": {"kind": "influxdb", "url": "https://db:8086", "key_file": str(pki.client_key)}}, "test", env={}
        )
    with pytest.raises(ConfigError, match=r"store.ca_file: '/nonexistent/ca.pem' is not a readable file"):
        settings_from_dict({"store": {"url": "https://db:8086", "ca_file": "/nonexistent/ca.pem"}}, "test", env={})
