"""Reading stored readings back: the embedded SQLite store's query, or InfluxQL on InfluxDB's ``/query``.

Both give the same shape, so the API and the backtest do not care which store a run uses. Waveform
blocks are stored as features (measurement ``waveform``, one field per feature); they read back as
the sensor ``<sensor>.<feature>`` (``accel.rms``), the stream name the detectors use.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Protocol
from pathlib import Path

import numpy as np

from faultline.vocabulary import feature_sensor
from faultline.ingest.settings import StoreSettings

WAVEFORM = "waveform"


@dataclass(frozen=True)
class Series:
    """One stored stream: where it is and how the detectors name it."""

    site: str | None
    asset: str
    sensor: str  # as the detectors name it (accel.rms for a waveform feature)
    measurement: str
    field: str
    stored_sensor: str  # the sensor tag in the store


class ReadingsReader(Protocol):
    """What the API and the backtest read stored readings through (`SqliteReader`, `InfluxReader`)."""

    measurement: str

    def series(self) -> list[Series]: ...

    def query(self, series: Series, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def _series(site, asset, sensor, measurement, field) -> Series:
    name = feature_sensor(sensor, field) if measurement == WAVEFORM else sensor
    return Series(site, asset, name, measurement, field, sensor)


class SqliteReader:
    """Reads the embedded store's file: series from its own read-only connection, readings through
    ``SqliteStore.query`` (WAL lets both read while ingest writes)."""

    def __init__(self, path: str, measurement: str = "telemetry"):
        from faultline.ingest.writers import SqliteStore

        self._store = SqliteStore(path)  # creates the file and its schema when ingest has not yet
        self._conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.measurement = measurement

    def series(self) -> list[Series]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT site, asset, sensor, measurement, field FROM series WHERE asset IS NOT NULL "
                "AND measurement IN (?, ?) ORDER BY asset, sensor, field",
                (self.measurement, WAVEFORM),
            ).fetchall()
        return [_series(*r) for r in rows]

    def query(self, series: Series, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """(ts int64 ns (n,), value float64 (n,)) sorted by time."""
        got = self._store.query(series.asset, series.stored_sensor, start_ns, end_ns, series.measurement, series.field)
        order = np.argsort(got.ts, kind="stable")
        return got.ts[order], got.value[order]

    def ping(self) -> bool:
        try:
            with self._lock:
                self._conn.execute("SELECT count(*) FROM series").fetchone()
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._store.close()


class InfluxReader:
    """InfluxQL over HTTP (``/query``), which InfluxDB 1.x, 2.x (with a DBRP mapping) and 3.x serve."""

    def __init__(self, store: StoreSettings):
        import httpx

        self.store = store
        self.measurement = store.measurement
        auth = None
        if store.username:
            auth = (store.username, store.password.get_secret_value() if store.password else "")
        headers = {"Authorization": f"Token {store.token.get_secret_value()}"} if store.token else {}
        tls = store.tls_context()
        self._http = httpx.Client(
            base_url=store.url, auth=auth, headers=headers, timeout=store.timeout_s, verify=tls if tls else True
        )  # True: httpx's default, the system's CAs
        self.database = store.database if store.api == "v1" else (store.bucket or store.database)

    def _query(self, q: str) -> list[dict]:
        r = self._http.get("/query", params={"db": self.database, "q": q, "epoch": "ns"})
        r.raise_for_status()
        results = r.json().get("results", [])
        for res in results:
            if "error" in res:
                raise RuntimeError(f"InfluxDB refused {q!r}: {res['error']}")
        return [s for res in results for s in res.get("series", [])]

    def series(self) -> list[Series]:
        out = []
        for measurement in (self.store.measurement, WAVEFORM):
            keys = [v[0] for s in self._query(f'SHOW SERIES FROM "{measurement}"') for v in s["values"]]
            fields = [v[0] for s in self._query(f'SHOW FIELD KEYS FROM "{measurement}"') for v in s["values"]]
            for key in keys:
                tags = dict(part.split("=", 1) for part in key.split(",")[1:] if "=" in part)
                if "asset" in tags and "sensor" in tags:
                    for field in fields if measurement == WAVEFORM else ["value"]:
                        out.append(_series(tags.get("site"), tags["asset"], tags["sensor"], measurement, field))
        return sorted(set(out), key=lambda s: (s.asset, s.sensor))

    def query(self, series: Series, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
        def quote(v: str) -> str:
            return v.replace("\\", "\\\\").replace("'", "\\'")

        q = (
            f'SELECT "{series.field}" FROM "{series.measurement}" WHERE "asset" = \'{quote(series.asset)}\' '
            f"AND \"sensor\" = '{quote(series.stored_sensor)}' AND time >= {int(start_ns)} AND time < {int(end_ns)}"
        )
        values = [v for s in self._query(q) for v in s["values"] if v[1] is not None]
        ts = np.array([v[0] for v in values], dtype=np.int64)
        val = np.array([v[1] for v in values], dtype=np.float64)
        order = np.argsort(ts, kind="stable")
        return ts[order], val[order]

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code < 300
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        self._http.close()


def reader_for(store: StoreSettings) -> ReadingsReader:
    """The reader for the ``store`` section."""
    if store.kind == "sqlite":
        return SqliteReader(store.path, store.measurement)
    return InfluxReader(store)


__all__ = ["InfluxReader", "ReadingsReader", "Series", "SqliteReader", "reader_for"]
