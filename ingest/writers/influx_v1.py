"""InfluxDB 1.x: line protocol over ``POST /write`` (httpx)."""

from __future__ import annotations

import httpx

from faultline.ingest.writers.base import LineProtocolWriter, Response, parse_retry_after
from faultline.ingest.writers.errors import RetryableWriteError


class InfluxV1Writer(LineProtocolWriter):
    """Writes to InfluxDB's v1 API (``/write?db=..&precision=ns``).

    Parameters
    ----------
    url : str
        E.g. ``http://127.0.0.1:8086``.
    database : str
        Target database.
    username, password : str, optional
        Sent as HTTP basic authentication.
    retention_policy : str, optional
        Target retention policy (the database's default when None).
    timeout : float
        Seconds per request; a timeout is retryable.
    create_database : bool
        Create the database (``CREATE DATABASE`` is idempotent) before the first write, and again
        when a write finds it missing. Without it a missing database is a `FatalWriteError`.
    max_lines : int
        Lines per request.
    concurrency : int
        Requests in flight at once when a batch needs several.
    transport : httpx.BaseTransport, optional
        For tests.
    """

    dialect = "v1"
    lists_field_types = True

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        timeout: float = 10.0,
        create_database: bool = False,
        max_lines: int = 5000,
        transport: httpx.BaseTransport | None = None,
        concurrency: int = 2,
    ):
        super().__init__(max_lines, concurrency)
        self.url = url.rstrip("/")
        self.database = database
        auth = (username, password or "") if username else None
        if transport is None and self.url.startswith("http://"):
            # plain HTTP has no certificate to check: without this httpx loads its CA bundle (90 ms)
            transport = httpx.HTTPTransport(verify=False)
        self._client = httpx.Client(base_url=self.url, timeout=timeout, auth=auth, transport=transport)
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        self._create = create_database
        self._database_missing = create_database

    def prepare_store(self) -> None:
        """Create the database (if asked to) and read its field types before the first write.

        Raises `RetryableWriteError` when InfluxDB cannot be reached; the first write then tries again."""
        if self._database_missing:
            self._create_database()
        super().prepare_store()

    def _close_client(self) -> None:
        self._client.close()

    def _post(self, body: bytes) -> Response:
        if self._database_missing:
            self._create_database()
        answer = self._request("/write", params=self._params, content=body)
        if answer.status == 404 and self._create and "database not found" in answer.message:
            # dropped while we run (or never created because influxd was down): create it again
            self._create_database()
            answer = self._request("/write", params=self._params, content=body)
        return answer

    def _field_types(self) -> dict[tuple[str, str], set[str]] | None:
        """``SHOW FIELD KEYS`` of the database: (measurement, field) -> the types its shards hold."""
        try:
            r = self._client.post("/query", params={"db": self.database}, data={"q": "SHOW FIELD KEYS"})
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        types: dict[tuple[str, str], set[str]] = {}
        for result in r.json().get("results", []):
            for series in result.get("series", []):
                for field, kind in series.get("values", []):
                    types.setdefault((series["name"], field), set()).add(kind)
        return types

    def _create_database(self) -> None:
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        answer = self._request("/query", data={"q": f'CREATE DATABASE "{name}"'})
        if 200 <= answer.status < 300:
            self._database_missing = False
        # otherwise the write that follows reports the problem in its own classification

    def _request(self, path: str, **kwargs) -> Response:
        try:
            r = self._client.post(path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableWriteError(f"InfluxDB at {self.url} did not answer in time: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise RetryableWriteError(f"cannot reach InfluxDB at {self.url}: {exc!r}") from exc
        return Response(r.status_code, _message(r), parse_retry_after(r.headers.get("Retry-After")))


def _message(r: httpx.Response) -> str:
    if 200 <= r.status_code < 300:
        return ""
    try:
        return str(r.json().get("error", r.text)).strip()
    except ValueError:
        return r.headers.get("X-Influxdb-Error") or r.text.strip() or r.reason_phrase
