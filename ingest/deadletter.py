"""The dead-letter store: messages and points that could not be stored, kept for a person to see.

Nothing is dropped silently: a message that does not decode, or a point the time-series store
refuses, is written here with its topic, its exact bytes, the reason and when it arrived, and only
then acknowledged. A later replay feature can read records back (`DeadLetterStore.list`,
`DeadLetterStore.get`) and remove the ones it has re-ingested (`DeadLetterStore.delete`).
"""

from __future__ import annotations

from typing import Iterable, Literal, NamedTuple

from ingest._sqlite import SqliteFile

Stage = Literal["decode", "write"]
STAGES = ("decode", "write")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,   -- nanoseconds since the Unix epoch, UTC
    topic       TEXT NOT NULL,      -- empty for points refused by the store (no topic survives encoding)
    payload     BLOB NOT NULL,      -- the message bytes, or the refused line-protocol line
    reason      TEXT NOT NULL,
    stage       TEXT NOT NULL CHECK (stage IN ('decode', 'write'))
);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (received_at);
"""


class DeadLetter(NamedTuple):
    """One record to add: when it arrived (epoch ns), topic, bytes, reason and stage."""

    received_at: int
    topic: str
    payload: bytes
    reason: str
    stage: Stage = "decode"


class DeadLetterRecord(NamedTuple):
    """One stored record, with the ``id`` used by `DeadLetterStore.get` and `DeadLetterStore.delete`."""

    id: int
    received_at: int
    topic: str
    payload: bytes
    reason: str
    stage: Stage


class DeadLetterStore(SqliteFile):
    """Dead letters in a SQLite file (WAL, full sync: a record is on disk when `add_many` returns).

    Safe to use from several threads (calls are serialised); meant for one writing thread.

    Parameters
    ----------
    path : str or Path
        The database file (created with its directory when missing), or ``":memory:"``.

    Examples
    --------
    >>> store = DeadLetterStore(":memory:")
    >>> store.add_many([DeadLetter(1763700000000000000, "faultline/s/a/t", b"{oops", "not JSON")])
    [1]
    >>> store.get(1).reason
    'not JSON'
    """

    schema = _SCHEMA

    def add_many(self, records: Iterable[DeadLetter | tuple]) -> list[int]:
        """Store records in one transaction; returns their ids in order.

        Each record is a `DeadLetter` or a tuple ``(received_at, topic, payload, reason[, stage])``.

        Raises
        ------
        ValueError
            When a record's stage is not ``decode`` or ``write`` (nothing is stored then).
        """
        rows = []
        for record in records:
            record = DeadLetter(*record)
            if record.stage not in STAGES:
                raise ValueError(f"dead-letter stage {record.stage!r} is not one of {', '.join(STAGES)}")
            rows.append((int(record.received_at), record.topic, bytes(record.payload), record.reason,
                         record.stage))
        if not rows:
            return []
        with self._transaction() as conn:
            return [conn.execute("INSERT INTO dead_letters (received_at, topic, payload, reason, stage) "
                                 "VALUES (?, ?, ?, ?, ?)", row).lastrowid for row in rows]

    def count(self, stage: Stage | None = None) -> int:
        """How many records are stored (of one stage, when given)."""
        with self._lock:
            if stage is None:
                return self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            return self._conn.execute("SELECT count(*) FROM dead_letters WHERE stage = ?", (stage,)).fetchone()[0]

    def list(self, limit: int = 100, offset: int = 0, since: int | None = None,
             stage: Stage | None = None) -> list[DeadLetterRecord]:
        """Records oldest first (by id), optionally only those received at or after ``since`` (epoch ns)."""
        where, params = [], []
        if since is not None:
            where.append("received_at >= ?")
            params.append(int(since))
        if stage is not None:
            where.append("stage = ?")
            params.append(stage)
        sql = "SELECT id, received_at, topic, payload, reason, stage FROM dead_letters"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, int(limit), int(offset))).fetchall()
        return [DeadLetterRecord(*row) for row in rows]

    def get(self, id: int) -> DeadLetterRecord | None:
        """The record with this id, or None."""
        with self._lock:
            row = self._conn.execute("SELECT id, received_at, topic, payload, reason, stage FROM dead_letters "
                                     "WHERE id = ?", (int(id),)).fetchone()
        return DeadLetterRecord(*row) if row else None

    def delete_before(self, received_at: int) -> int:
        """Remove records received before ``received_at`` (epoch ns), to bound the file; returns how many."""
        with self._transaction() as conn:
            return conn.execute("DELETE FROM dead_letters WHERE received_at < ?", (int(received_at),)).rowcount

    def delete(self, ids: Iterable[int]) -> int:
        """Remove records (e.g. after a successful replay); returns how many existed."""
        ids = [(int(i),) for i in ids]
        with self._transaction() as conn:
            return conn.executemany("DELETE FROM dead_letters WHERE id = ?", ids).rowcount
