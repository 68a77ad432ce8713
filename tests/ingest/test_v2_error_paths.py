"""The v2 API's token, org and bucket error paths against real servers.

No registry these machines reach ships an InfluxDB 2 server (Debian has influxdb 1.6.7; PyPI and npm
only clients), so the v2 write path is tested against VictoriaMetrics (which serves /api/v2/write)
and InfluxDB 1.x: a refused token is fatal with the reason, a server without the bucket (or without
the v2 API) is fatal naming url, database or bucket, and a v2 store without bucket or org never
starts. The writer then stops and is tried again every ``store.fatal_retry_s``
(tests/ingest/test_pipeline.py)."""

from __future__ import annotations

import httpx
import pytest

from faultline.ingest.pipeline import build_writer
from faultline.ingest.settings import StoreSettings
from faultline.ingest.writers import FatalWriteError
from faultline.service.readers import InfluxReader
from faultline.service.settings import ConfigError, settings_from_dict
from tests import servers
from tests.ingest.test_store_tls import readings


class VictoriaMetricsWithAuth(servers.VictoriaMetrics):
    """VictoriaMetrics that asks every request for HTTP credentials, so a token is refused (401)."""

    name = "victoria-metrics-auth"

    def command(self) -> list[str]:
        return [*super().command(), "-httpAuth.username=faultline", "-httpAuth.password=s3cret"]

    def ready(self) -> bool:
        return servers._port_open(self.port)


def v2(url: str, **kw) -> StoreSettings:
    return StoreSettings(
        **{
            "kind": "influxdb",
            "url": url,
            "api": "v2",
            "bucket": "plant",
            "org": "o",
            "token": "wrong-token",
            "timeout_s": 5,
            **kw,
        }
    )


def refused(store: StoreSettings, reason: str) -> FatalWriteError:
    """The fatal error a write to ``store`` ends in; its text must match ``reason``."""
    writer = build_writer(store)
    try:
        with pytest.raises(FatalWriteError, match=reason) as stopped:
            writer.write(readings())
    finally:
        writer.close()
    return stopped.value


@pytest.mark.servers
def test_a_refused_token_stops_writing_and_reading_with_the_reason():
    with VictoriaMetricsWithAuth() as vm:
        assert (
            refused(
                v2(vm.url),
                r"refused the credentials \(HTTP 401.*check the username/password or "
                r"token",
            ).status
            == 401
        )
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            InfluxReader(v2(vm.url))._query("SHOW MEASUREMENTS")


@pytest.mark.servers
def test_a_server_without_the_bucket_or_the_v2_api_is_fatal_naming_what_to_check(influxdb):
    # InfluxDB 1.6.7 serves no /api/v2/write: 404, as a 2.x server without the bucket answers
    assert (
        refused(
            v2(influxdb.url),
            r"no such database or bucket \(HTTP 404.*check the url, database or "
            r"bucket",
        ).status
        == 404
    )


@pytest.mark.parametrize(
    "store, problem",
    [
        ({"api": "v2", "org": "o"}, r"store: api v2 needs bucket \(bucket, org, token\)"),
        ({"api": "v2", "bucket": "b"}, r"store: api v2 needs org \(bucket, org, token\)"),
        ({"api": "v2"}, "api v2 needs bucket and org"),
    ],
)
def test_a_v2_store_without_bucket_or_org_never_starts(store, problem):
    with pytest.raises(ConfigError, match=problem):
        settings_from_dict({"store": {"kind": "influxdb", **store}}, "test", env={})
