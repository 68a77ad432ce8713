"""The SQLite files of ingest (embedded store, dead letters), opened and used the same careful way."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator


def connect(path: str | Path, busy_timeout_s: float = 30.0) -> sqlite3.Connection:
    """A connection in WAL mode with ``synchronous=FULL``: a commit is on disk when it returns.

    Callers confirm writes (to the spool, to the broker) after committing, so a commit must survive a
    power cut. The connection may be handed between threads; callers serialise use with a lock.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class SqliteFile:
    """One SQLite file with its schema, used by one thread at a time (calls hold ``_lock``)."""

    schema = ""

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0):
        self.path = path
        self._lock = threading.Lock()
        # how long a call waits for another process's lock before it raises "database is locked"
        self._conn = connect(path, busy_timeout_s)
        self._conn.executescript(self.schema)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the body in one write transaction, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
