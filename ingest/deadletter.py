"""The dead-letter store: messages and points that could not be stored, kept for a person to see.

Nothing is dropped silently: a message that does not decode, or a point the time-series store
refuses, is written here with its topic, its exact bytes, the reason and when it arrived, and only
then acknowledged. A later replay feature can read records back (`DeadLetterStore.list`,
`DeadLetterStore.get`) and remove the ones it has re-ingested (`DeadLetterStore.delete`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, NamedTuple

from faultline.ingest._sqlite import SqliteFile

log = logging.getLogger(__name__)

Stage = Literal["decode", "write"]
STAGES = ("decode", "write")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,   -- nanoseconds since the Unix epoch, UTC
    topic       TEXT NOT NULL,      -- for points refused by the store: the topic of their tags ("" if none fits)
    payload     BLOB NOT NULL,      -- the message bytes, or the refused line-protocol line
    reason      TEXT NOT NULL,
    stage       TEXT NOT NULL CHECK (stage IN ('decode', 'write'))
);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (received_at);
"""

# the bytes a record counts against max_bytes (SQLite's length() of a BLOB is bytes, of TEXT characters)
_SIZE = "length(CAST(topic AS BLOB)) + length(payload) + length(CAST(reason AS BLOB))"


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
    busy_timeout_s : float
        How long a call waits for another process's lock before it raises.
    max_bytes : int
        Retention by size: past it (payload, topic and reason bytes) the oldest records are deleted
        down to 90 % of it. SQLite reuses the freed pages, so the file stops growing near this size.
    max_age_s : float
        Retention by age: records received longer ago are deleted (checked at most once a minute);
        0 keeps them whatever their age.
    clock : callable returning epoch nanoseconds
        "Now" for the age limit.

    Attributes
    ----------
    on_expired : callable ``(why, count)``, optional
        Told how many records retention deleted and why (``"size"`` or ``"age"``), e.g. for a metric.

    Examples
    --------
    >>> store = DeadLetterStore(":memory:")
    >>> store.add_many([DeadLetter(1763700000000000000, "faultline/s/a/t", b"{oops", "not JSON")])
    [1]
    >>> store.get(1).reason
    'not JSON'
    """

    schema = _SCHEMA

    def __init__(
        self,
        path: str | Path,
        busy_timeout_s: float = 30.0,
        max_bytes: int = 1024**3,
        max_age_s: float = 0,
        clock: Callable[[], int] = time.time_ns,
    ):
        super().__init__(path, busy_timeout_s)
        self.max_bytes, self.max_age_s, self._clock = max_bytes, max_age_s, clock
        self.on_expired: Callable[[str, int], None] | None = None
        self._age_checked = 0
        with self._lock:
            self._bytes = self._conn.execute(f"SELECT coalesce(sum({_SIZE}), 0) FROM dead_letters").fetchone()[0]

    @property
    def stored_bytes(self) -> int:
        """Payload, topic and reason bytes of the records kept (what ``max_bytes`` limits)."""
        return self._bytes

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
            rows.append((int(record.received_at), record.topic, bytes(record.payload), record.reason, record.stage))
        if not rows:
            return []
        with self._transaction() as conn:
            ids: list[int] = []
            for row in rows:
                inserted = conn.execute(
                    "INSERT INTO dead_letters (received_at, topic, payload, reason, stage) VALUES (?, ?, ?, ?, ?)", row
                ).lastrowid
                assert inserted is not None  # an INSERT sets it
                ids.append(inserted)
        self._bytes += sum(len(r[1].encode()) + len(r[2]) + len(r[3].encode()) for r in rows)
        self.apply_retention()
        return ids

    def apply_retention(self) -> tuple[int, int]:
        """Delete records past ``max_age_s`` (at most once a minute) and the oldest past ``max_bytes``.

        Returns (deleted for age, deleted for size). Called after each `add_many`.
        """
        now = self._clock()
        aged = sized = 0
        if self.max_age_s and now - self._age_checked >= 60 * 1_000_000_000:
            self._age_checked = now
            cutoff = now - int(self.max_age_s * 1e9)
            with self._transaction() as conn:
                freed = conn.execute(
                    f"SELECT coalesce(sum({_SIZE}), 0), count(*) FROM dead_letters WHERE received_at < ?", (cutoff,)
                ).fetchone()
                if freed[1]:
                    aged = conn.execute("DELETE FROM dead_letters WHERE received_at < ?", (cutoff,)).rowcount
                    self._bytes -= freed[0]
        if self._bytes > self.max_bytes:
            target = self.max_bytes * 9 // 10  # some room, so the next records do not each trigger a delete
            with self._transaction() as conn:
                last, freed = None, 0
                for row_id, size in conn.execute(f"SELECT id, {_SIZE} FROM dead_letters ORDER BY id"):
                    last, freed = row_id, freed + size
                    if self._bytes - freed <= target:
                        break
                if last is not None:
                    sized = conn.execute("DELETE FROM dead_letters WHERE id <= ?", (last,)).rowcount
                    self._bytes -= freed
        for why, count in (("age", aged), ("size", sized)):
            if count:
                log.warning(
                    "dead letters: deleted %d records over the %s limit (%s)",
                    count,
                    why,
                    f"{self.max_bytes} bytes" if why == "size" else f"{self.max_age_s:g} s",
                )
                if self.on_expired is not None:
                    self.on_expired(why, count)
        return aged, sized

    def count(self, stage: Stage | None = None) -> int:
        """How many records are stored (of one stage, when given)."""
        with self._lock:
            if stage is None:
                return self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            return self._conn.execute("SELECT count(*) FROM dead_letters WHERE stage = ?", (stage,)).fetchone()[0]

    def list(
        self, limit: int = 100, offset: int = 0, since: int | None = None, stage: Stage | None = None
    ) -> list[DeadLetterRecord]:
        """Records oldest first (by id), optionally only those received at or after ``since`` (epoch ns)."""
        where: list[str] = []
        params: list[object] = []
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
            row = self._conn.execute(
                "SELECT id, received_at, topic, payload, reason, stage FROM dead_letters WHERE id = ?", (int(id),)
            ).fetchone()
        return DeadLetterRecord(*row) if row else None

    def delete_before(self, received_at: int) -> int:
        """Remove records received before ``received_at`` (epoch ns), to bound the file; returns how many."""
        with self._transaction() as conn:
            self._bytes -= conn.execute(
                f"SELECT coalesce(sum({_SIZE}), 0) FROM dead_letters WHERE received_at < ?", (int(received_at),)
            ).fetchone()[0]
            return conn.execute("DELETE FROM dead_letters WHERE received_at < ?", (int(received_at),)).rowcount

    def delete(self, ids: Iterable[int]) -> int:
        """Remove records (e.g. after a successful replay); returns how many existed."""
        keys = [(int(i),) for i in ids]
        with self._transaction() as conn:
            for (i,) in keys:
                row = conn.execute(f"SELECT {_SIZE} FROM dead_letters WHERE id = ?", (i,)).fetchone()
                self._bytes -= row[0] if row else 0
            return conn.executemany("DELETE FROM dead_letters WHERE id = ?", keys).rowcount
