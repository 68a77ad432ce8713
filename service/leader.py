"""Which worker runs the fleet-wide timers: escalation and the notification dispatcher.

Every worker detects on its own streams and files its own findings (the store keeps one open order
per asset and fault, whoever files it). Escalation and notification are different: run by two workers,
a step would fire twice and a mail go out twice. So one worker leads, the others wait:

- on PostgreSQL, the leader holds a session-level advisory lock (``pg_try_advisory_lock``) on its
  own connection. PostgreSQL drops it when that connection ends, so a dead leader's lock goes with
  its process (or with its network, once the server notices), and a waiting worker takes it at its
  next try;
- on SQLite (one machine), the leader holds an exclusive ``flock`` on a file beside the store; the
  kernel drops it when the process dies.

``held()`` is cheap enough to ask on every loop turn: it tries again only every ``retry_s``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: The advisory lock's key: a fixed 63-bit number derived from the name, the same for every worker.
LOCK_NAME = "faultline:leader"


def lock_key(name: str = LOCK_NAME) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, the same on every machine.

    >>> lock_key() == lock_key("faultline:leader") and -2**63 <= lock_key() < 2**63
    True
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _lock_name(dsn: str) -> str:
    """Advisory locks are per database; stores in different schemas of one database (a
    ``search_path`` in the URL's ``options``) get a lock each.

    >>> _lock_name("postgresql://db/plant?options=-csearch_path%3Dnorth")
    'faultline:leader:-csearch_path=north'
    >>> _lock_name("postgresql://worker@db:5432/plant")
    'faultline:leader'
    """
    from urllib.parse import parse_qs, urlsplit

    options = parse_qs(urlsplit(dsn).query).get("options", [])
    return ":".join([LOCK_NAME, *options])


class Leadership(Protocol):
    def held(self) -> bool:
        """True while this worker leads (tries to become leader when it does not)."""

    def close(self) -> None:
        """Give the leadership up (another worker may take it at once)."""


class FileLeadership:
    """Leader among the processes of one machine: an exclusive lock on ``path``."""

    def __init__(self, path: str | Path, retry_s: float = 2.0):
        self.path = Path(path)
        self.retry_s = retry_s
        self._fd: int | None = None
        self._tried_at = float("-inf")

    def held(self) -> bool:
        if self._fd is not None:
            return True
        if time.monotonic() - self._tried_at < self.retry_s:
            return False
        self._tried_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        log.info("this worker leads escalation and notifications (lock %s)", self.path)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


class PostgresLeadership:
    """Leader among every worker sharing one PostgreSQL store: a session advisory lock.

    ``url`` is the store's SQLAlchemy URL (``postgresql+psycopg://…``) or a libpq URL.
    """

    def __init__(self, url: str, retry_s: float = 2.0, key: int | None = None):
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.retry_s = retry_s
        self.key = lock_key(_lock_name(self.dsn)) if key is None else key
        self._conn: psycopg.Connection[Any] | None = None
        self._tried_at = float("-inf")

    def held(self) -> bool:
        if self._conn is not None:
            try:  # the lock lives as long as the session: check that the session still does
                self._conn.execute("SELECT 1")
                return True
            except Exception:  # noqa: BLE001 - any failure of the session means the lock is gone
                log.warning("lost the leader lock: its database session ended")
                self._drop()
        if time.monotonic() - self._tried_at < self.retry_s:
            return False
        self._tried_at = time.monotonic()
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            log.warning("cannot reach the store to ask for the leader lock: %s", exc)
            return False
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not (got and got[0]):
            conn.close()
            return False
        self._conn = conn
        log.info("this worker leads escalation and notifications (advisory lock %d)", self.key)
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def close(self) -> None:
        self._drop()


def leadership_for(store_url: str, state_path: str | Path) -> Leadership:
    """The leadership that fits the work-order store: PostgreSQL's advisory lock; for a SQLite store,
    a lock file beside it (``workorders.sqlite.leader``), or beside ``state_path`` (the service's own
    file) for an in-memory store.

    >>> leadership_for("sqlite:///var/workorders.sqlite", "var/service.sqlite").path.as_posix()
    'var/workorders.sqlite.leader'
    """
    if store_url.startswith(("postgresql", "postgres://")):
        return PostgresLeadership(store_url)
    if store_url.startswith("sqlite:///") and len(store_url) > len("sqlite:///"):
        store = Path(store_url[len("sqlite:///") :])
        return FileLeadership(store.with_name(store.name + ".leader"))
    return FileLeadership(Path(state_path).with_name(Path(state_path).name + ".leader"))
