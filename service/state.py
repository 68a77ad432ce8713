"""The service's own SQLite file: findings, detector configuration versions and saved detector state.

Work orders live in the ticketing store and readings in the time-series store; what is left — what
the detectors said, every configuration version with its status, and the engines' state for a
restart — lives here. API tokens share the file (`service.tokens`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    id          INTEGER PRIMARY KEY,
    shadow      INTEGER NOT NULL DEFAULT 0,     -- 1: what a shadow configuration would have reported
    received_at TEXT NOT NULL,
    site        TEXT, asset TEXT NOT NULL, sensor TEXT NOT NULL, fault_mode TEXT NOT NULL,
    severity    TEXT NOT NULL, status TEXT NOT NULL, rule TEXT NOT NULL, config_version TEXT NOT NULL,
    started_at  TEXT NOT NULL, ended_at TEXT,
    order_id    INTEGER,                         -- the work order it went to (live findings only)
    record      TEXT NOT NULL,                   -- the whole finding as JSON
    intake_pending INTEGER NOT NULL DEFAULT 0    -- 1: the intake failed; retried until it takes it
);
CREATE INDEX IF NOT EXISTS findings_by_asset ON findings (asset, id);
CREATE TABLE IF NOT EXISTS detector_versions (
    number      INTEGER PRIMARY KEY,
    digest      TEXT NOT NULL,
    status      TEXT NOT NULL,                   -- proposed, applied, superseded, shadow, discarded
    note        TEXT NOT NULL DEFAULT '',
    author      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    applied_at  TEXT,
    config      TEXT NOT NULL                    -- the detectors section as JSON
);
CREATE TABLE IF NOT EXISTS engine_state (
    name        TEXT PRIMARY KEY,                -- 'live' or 'shadow'
    saved_at    TEXT NOT NULL,
    state       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,            -- sha256 of the token; the token itself is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    expires_at  TEXT                             -- NULL: never expires
);
"""


class ServiceDb:
    """The service state file, safe to use from several threads (calls are serialised)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(findings)")}
        if "intake_pending" not in columns:  # a state file from before the intake retry queue
            self._conn.execute("ALTER TABLE findings ADD COLUMN intake_pending INTEGER NOT NULL DEFAULT 0")
        self._conn.execute("CREATE INDEX IF NOT EXISTS findings_intake_pending ON findings (intake_pending, id)")
        if "expires_at" not in {row[1] for row in self._conn.execute("PRAGMA table_info(api_tokens)")}:
            self._conn.execute("ALTER TABLE api_tokens ADD COLUMN expires_at TEXT")  # tokens from before expiry
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            return self._conn.execute(sql, params)

    def rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self.lock:
            cur = self._conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    # --- findings ------------------------------------------------------------------------------
    def add_finding(
        self,
        record: dict[str, Any],
        received_at: datetime,
        shadow: bool = False,
        order_id: int | None = None,
        intake_pending: bool = False,
    ) -> int:
        cur = self.execute(
            "INSERT INTO findings (shadow, received_at, site, asset, sensor, fault_mode, severity, status, rule, "
            "config_version, started_at, ended_at, order_id, record, intake_pending) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                int(shadow),
                received_at.isoformat(),
                record.get("site"),
                record["asset"],
                record["sensor"],
                record["fault_mode"],
                record["severity"],
                record.get("status", "opened"),
                record["rule"],
                record["config_version"],
                record["started_at"],
                record.get("ended_at"),
                order_id,
                json.dumps(record, default=str),
                int(intake_pending),
            ),
        )
        assert cur.lastrowid is not None  # an INSERT sets it
        return cur.lastrowid

    # --- the intake's retry queue: findings the work-order intake could not take yet ------------
    def intake_pending_count(
        self, site: str | None = None, asset: str | None = None, fault_mode: str | None = None
    ) -> int:
        """How many findings wait (of one site, asset and fault mode when given)."""
        if site is None:
            return self.execute("SELECT count(*) FROM findings WHERE intake_pending = 1").fetchone()[0]
        return self.execute(
            "SELECT count(*) FROM findings WHERE intake_pending = 1 AND site = ? AND asset = ? AND fault_mode = ?",
            (site, asset, fault_mode),
        ).fetchone()[0]

    def intake_pending(self, limit: int = 100) -> list[dict[str, Any]]:
        """The waiting findings, oldest first, as ``{"id": …, "record": {…}}``."""
        return [
            {"id": r["id"], "record": json.loads(r["record"])}
            for r in self.rows("SELECT id, record FROM findings WHERE intake_pending = 1 ORDER BY id LIMIT ?", (limit,))
        ]

    def intake_done(self, finding_id: int, order_id: int) -> None:
        self.execute("UPDATE findings SET intake_pending = 0, order_id = ? WHERE id = ?", (order_id, finding_id))

    def findings(
        self, *, asset: str | None = None, shadow: bool = False, limit: int = 100, after_id: int = 0
    ) -> list[dict[str, Any]]:
        sql = "SELECT id, received_at, order_id, record FROM findings WHERE shadow = ? AND id > ?"
        params: list[Any] = [int(shadow), after_id]
        if asset is not None:
            sql += " AND asset = ?"
            params.append(asset)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [
            {"id": r["id"], "received_at": r["received_at"], "order_id": r["order_id"], **json.loads(r["record"])}
            for r in self.rows(sql, tuple(params))
        ]

    # --- engine state --------------------------------------------------------------------------
    def save_state(self, name: str, state: dict[str, Any], at: datetime) -> None:
        self.execute(
            "INSERT INTO engine_state (name, saved_at, state) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE "
            "SET saved_at = excluded.saved_at, state = excluded.state",
            (name, at.isoformat(), json.dumps(state)),
        )

    def load_state(self, name: str) -> dict[str, Any] | None:
        found = self.rows("SELECT state FROM engine_state WHERE name = ?", (name,))
        return json.loads(found[0]["state"]) if found else None

    def drop_state(self, name: str) -> None:
        self.execute("DELETE FROM engine_state WHERE name = ?", (name,))

    # --- detector configuration versions -------------------------------------------------------
    def add_version(
        self, config: dict[str, Any], digest: str, status: str, at: datetime, note: str = "", author: str = ""
    ) -> int:
        with self.lock:
            number = (self._conn.execute("SELECT max(number) FROM detector_versions").fetchone()[0] or 0) + 1
            self._conn.execute(
                "INSERT INTO detector_versions (number, digest, status, note, author, created_at, applied_at, config) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    number,
                    digest,
                    status,
                    note,
                    author,
                    at.isoformat(),
                    at.isoformat() if status == "applied" else None,
                    json.dumps(config),
                ),
            )
        return number

    def versions(self) -> list[dict[str, Any]]:
        return [
            {**r, "config": json.loads(r["config"])}
            for r in self.rows("SELECT * FROM detector_versions ORDER BY number")
        ]

    def version(self, number: int) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM detector_versions WHERE number = ?", (number,))
        return {**found[0], "config": json.loads(found[0]["config"])} if found else None

    def set_version_status(self, number: int, status: str, at: datetime | None = None) -> None:
        if status == "applied":
            self.execute(
                "UPDATE detector_versions SET status = ?, applied_at = ? WHERE number = ?",
                (status, (at or datetime.now()).isoformat(), number),
            )
        else:
            self.execute("UPDATE detector_versions SET status = ? WHERE number = ?", (status, number))


__all__ = ["ServiceDb"]
