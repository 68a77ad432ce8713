"""InfluxDB v2 write API (2.x, 3.x, Cloud, 1.8+, VictoriaMetrics) through ``influxdb-client``.

The client makes the HTTP call (authentication, org and bucket parameters, its connection pool);
the body is our own pre-encoded line protocol, never the client's ``Point`` objects, which cost
several microseconds per point.
"""

from __future__ import annotations

import ssl

import urllib3.exceptions
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from faultline.ingest.writers.base import LineProtocolWriter, Response, parse_retry_after
from faultline.ingest.writers.errors import RetryableWriteError


class InfluxV2Writer(LineProtocolWriter):
    """Writes to ``/api/v2/write`` with ``precision=ns``.

    VictoriaMetrics answers 204 even for lines it cannot parse (it logs and skips them), so there
    ``written`` counts lines sent; the encoder writes none it would refuse (see `ingest.lineprotocol`).

    Parameters
    ----------
    url : str
        E.g. ``http://127.0.0.1:8086``.
    token : str
        API token (InfluxDB 1.8 accepts ``username:password``).
    org, bucket : str
        Target organisation and bucket (1.8: bucket ``database/retention_policy``).
    timeout : float
        Seconds per request; a timeout is retryable.
    max_lines : int
        Lines per request.
    concurrency : int
        Requests in flight at once when a batch needs several.
    """

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        timeout: float = 10.0,
        max_lines: int = 5000,
        concurrency: int = 2,
        ssl_context: ssl.SSLContext | None = None,
    ):
        super().__init__(max_lines, concurrency)
        self.url = url.rstrip("/")
        self.org = org
        self.bucket = bucket
        # retries=False: retrying is the drain loop's job (with its backoff and metrics), and the
        # classification below must see the first failure.
        # ssl_context (StoreSettings.tls_context): CA bundle, client certificate, verification
        self._client = InfluxDBClient(
            url=self.url,
            token=token,
            org=org,
            timeout=int(timeout * 1000),
            retries=False,
            ssl_context=ssl_context,
            verify_ssl=ssl_context is None or ssl_context.verify_mode != ssl.CERT_NONE,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _close_client(self) -> None:
        self._write_api.close()
        self._client.close()

    def _post(self, body: bytes) -> Response:
        try:
            self._write_api.write(
                bucket=self.bucket,
                org=self.org,
                record=body,
                # the client declares WritePrecision, whose members are plain str constants
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            if exc.response is None:  # no answer (e.g. the TLS handshake failed): the client's reason says why
                raise RetryableWriteError(f"cannot reach the store at {self.url}: {exc.reason}") from exc
            message = exc.message
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            return Response(exc.status or 0, str(message).strip(), parse_retry_after(exc.retry_after))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableWriteError(f"cannot reach the store at {self.url}: {exc!r}") from exc
        return Response(204, "")
