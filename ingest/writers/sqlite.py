"""The embedded store: readings in one SQLite file, for the demo and small edge installs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import orjson

from faultline.ingest._sqlite import SqliteFile
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.writers.base import RejectedLine, WriteResult
from faultline.ingest.writers.errors import FatalWriteError, RetryableWriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags        TEXT NOT NULL,      -- JSON array of [key, value] pairs, sorted by key
    field       TEXT NOT NULL,
    site        TEXT,
    asset       TEXT,
    sensor      TEXT,
    UNIQUE (measurement, tags, field)
);
CREATE INDEX IF NOT EXISTS series_by_asset ON series (asset, sensor);
CREATE TABLE IF NOT EXISTS readings (
    series INTEGER NOT NULL REFERENCES series (id),
    ts     INTEGER NOT NULL,        -- nanoseconds since the Unix epoch, UTC
    value  REAL NOT NULL,
    PRIMARY KEY (series, ts)        -- a replayed point overwrites instead of duplicating
) WITHOUT ROWID;
"""


class SqliteStore(SqliteFile):
    """Readings in SQLite with the `Writer` interface, plus `query` to read them back.

    One row per point, keyed by (series, timestamp) so that writing the same point twice keeps one
    row, like InfluxDB. Each `write` is one transaction, durable when it returns (WAL, full sync).

    Parameters
    ----------
    path : str or Path
        The database file (created with its directory when missing), or ``":memory:"``.
    """

    schema = _SCHEMA

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._ids: dict[SeriesKey, int] = {}

    def write(self, readings: Readings) -> WriteResult:
        """Store every finite row; rows with NaN or infinity are returned as rejected.

        Raises
        ------
        RetryableWriteError
            When SQLite cannot write now (locked, disk full, I/O error).
        FatalWriteError
            When the file is not a usable database.
        """
        if not len(readings):
            return WriteResult(0, [])
        finite = np.isfinite(readings.value)
        rejected = [
            RejectedLine(
                f"{readings.series[readings.index[i]]} {float(readings.value[i])!r} {int(readings.ts[i])}".encode(),
                f"value {float(readings.value[i])!r} is not finite",
            )
            for i in np.flatnonzero(~finite).tolist()
        ]
        try:
            with self._transaction() as conn:
                try:
                    ids = np.array([self._series_id(conn, key) for key in readings.series], dtype=np.int64)
                    rows = zip(
                        ids[readings.index[finite]].tolist(),
                        readings.ts[finite].tolist(),
                        readings.value[finite].tolist(),
                    )
                    conn.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?)", rows)
                except BaseException:
                    self._ids.clear()  # ids of series inserted in this rolled-back transaction are gone
                    raise
        except sqlite3.OperationalError as exc:
            raise RetryableWriteError(f"cannot write to {self.path} now: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise FatalWriteError(f"{self.path} is not a usable readings database: {exc}") from exc
        return WriteResult(int(finite.sum()), rejected)

    def _series_id(self, conn: sqlite3.Connection, key: SeriesKey) -> int:
        sid = self._ids.get(key)
        if sid is None:
            tags = orjson.dumps(key.tags).decode()
            conn.execute(
                "INSERT OR IGNORE INTO series (measurement, tags, field, site, asset, sensor) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.measurement, tags, key.field, key.tag("site"), key.tag("asset"), key.tag("sensor")),
            )
            sid = conn.execute(
                "SELECT id FROM series WHERE measurement = ? AND tags = ? AND field = ?",
                (key.measurement, tags, key.field),
            ).fetchone()[0]
            self._ids[key] = sid
        return sid

    def query(
        self, asset: str, sensor: str, start_ns: int, end_ns: int, measurement: str = "telemetry", field: str = "value"
    ) -> Readings:
        """Readings of ``asset``/``sensor`` with ``start_ns <= ts < end_ns``, sorted by series and time.

        Every series that matches (e.g. the same asset at two sites, or points that carry
        ``ts_source=receive``) is returned as its own series of the result.
        """
        with self._lock:
            found = self._conn.execute(
                "SELECT s.measurement, s.tags, s.field, r.ts, r.value FROM series s "
                "JOIN readings r ON r.series = s.id "
                "WHERE s.asset = ? AND s.sensor = ? AND s.measurement = ? AND s.field = ? "
                "AND r.ts >= ? AND r.ts < ? ORDER BY s.id, r.ts",
                (asset, sensor, measurement, field, int(start_ns), int(end_ns)),
            ).fetchall()
        if not found:
            return Readings.empty()
        positions: dict[tuple, int] = {}
        keys: list[SeriesKey] = []
        index: list[int] = []
        for m, tags, f, _, _ in found:
            pos = positions.get((m, tags, f))
            if pos is None:
                pos = positions[(m, tags, f)] = len(keys)
                keys.append(SeriesKey(m, tuple(tuple(t) for t in orjson.loads(tags)), f))
            index.append(pos)
        return Readings(
            tuple(keys),
            np.array(index, dtype=np.int32),
            np.array([row[3] for row in found], dtype=np.int64),
            np.array([row[4] for row in found], dtype=np.float64),
        )
