"""`WorkOrderStore`: work orders, their audit log and adapter dead letters on SQLite or PostgreSQL.

Every change is one transaction that writes the order and appends its audit entry together, so the
log can never miss a change that was saved. Writers are serialised where it matters: on SQLite each write
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, others wait on the busy timeout);
on PostgreSQL the order row is locked (``SELECT … FOR UPDATE``) and the audit head row is updated
last in each transaction, so appenders queue on it and the chain never forks.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from faultline.ticketing.audit import AuditBreak, AuditEntry, new_entry, verify
from faultline.ticketing.models import OrderEvent, Status, WorkOrder
from faultline.ticketing.store.tables import (
    adapter_cursors,
    audit_head,
    audit_log,
    dead_letters,
    notifications,
    work_orders,
)

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# How long a SQLite connection waits for another process's write lock.
_SQLITE_TIMEOUT_S = 30.0
# Any fixed 64-bit number: the PostgreSQL advisory lock that lets one process migrate at a time.
_MIGRATION_LOCK = 0x6661756C746C696E


class StoreError(RuntimeError):
    """Raised when the store cannot do what was asked."""


class OrderNotFound(StoreError):
    """Raised when no work order has the given id."""

    def __init__(self, order_id: int):
        super().__init__(f"no work order with id {order_id}")
        self.order_id = order_id


class DuplicateOpenOrder(StoreError):
    """Raised when a change would make a second open order for the same (site, asset, fault mode)."""

    def __init__(self, site: str, asset: str, fault_mode: str):
        super().__init__(
            f"an open work order already exists for site={site!r} asset={asset!r} fault_mode={fault_mode!r}"
        )
        self.key = (site, asset, fault_mode)


class WorkOrderStore:
    """Work orders in a SQL database, migrated to the current schema on open.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///path/to/orders.db`` or ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str):
        self.url = url
        parsed = make_url(url)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(url, connect_args={"timeout": _SQLITE_TIMEOUT_S})
            event.listen(self._engine, "connect", _sqlite_connect)
            event.listen(self._engine, "begin", _sqlite_begin)
        else:
            self._engine = create_engine(url, pool_pre_ping=True)
        self._migrate()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "WorkOrderStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._transaction() as conn:
            migrate(conn)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock up front; reads do not)."""
        with self._engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                yield conn

    # --- reading -----------------------------------------------------------------------------

    def get(self, order_id: int) -> WorkOrder:
        with self._engine.connect() as conn:
            return self._load(conn, order_id)

    def _load(self, conn: Connection, order_id: int, lock: bool = False) -> WorkOrder:
        query = select(work_orders.c.doc).where(work_orders.c.id == order_id)
        doc = conn.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if doc is None:
            raise OrderNotFound(order_id)
        return WorkOrder.model_validate_json(doc)

    def find_open(self, site: str, asset: str, fault_mode: str) -> WorkOrder | None:
        """The order for this (site, asset, fault mode) that is not closed, if there is one."""
        return self._first(
            work_orders.c.status != Status.CLOSED.value, site, asset, fault_mode, work_orders.c.id.desc()
        )

    def last_closed(self, site: str, asset: str, fault_mode: str) -> WorkOrder | None:
        """The most recently closed order for this (site, asset, fault mode), if any."""
        return self._first(
            work_orders.c.status == Status.CLOSED.value, site, asset, fault_mode, work_orders.c.closed_at.desc()
        )

    def _first(
        self, condition: ColumnElement[bool], site: str, asset: str, fault_mode: str, order_by: ColumnElement[Any]
    ) -> WorkOrder | None:
        c = work_orders.c
        query = (
            select(c.doc)
            .where(condition, c.site == site, c.asset == asset, c.fault_mode == fault_mode)
            .order_by(order_by)
            .limit(1)
        )
        with self._engine.connect() as conn:
            doc = conn.execute(query).scalar_one_or_none()
        return None if doc is None else WorkOrder.model_validate_json(doc)

    def orders(
        self,
        *,
        opened_before: datetime | None = None,
        closed_after: datetime | None = None,
        status: Status | None = None,
    ) -> list[WorkOrder]:
        """Orders, oldest first, optionally only those opened before a time, or not closed before one."""
        c = work_orders.c
        query = select(c.doc).order_by(c.id)
        if opened_before is not None:
            query = query.where(c.opened_at < opened_before)
        if closed_after is not None:
            query = query.where((c.closed_at.is_(None)) | (c.closed_at >= closed_after))
        if status is not None:
            query = query.where(c.status == status.value)
        with self._engine.connect() as conn:
            return [WorkOrder.model_validate_json(doc) for doc in conn.execute(query).scalars()]

    def orders_of_asset(self, site: str, asset: str) -> list[WorkOrder]:
        """Every order of one asset, oldest first (index ``ix_work_orders_site_asset``)."""
        c = work_orders.c
        query = select(c.doc).where(c.site == site, c.asset == asset).order_by(c.id)
        with self._engine.connect() as conn:
            return [WorkOrder.model_validate_json(doc) for doc in conn.execute(query).scalars()]

    def open_orders_per_assignee(self) -> dict[str, int]:
        """How many orders that are not yet resolved or closed each engineer holds (their workload)."""
        c = work_orders.c
        query = (
            select(c.assignee, func.count())
            .where(c.assignee.is_not(None), c.status.not_in([Status.RESOLVED.value, Status.CLOSED.value]))
            .group_by(c.assignee)
        )
        with self._engine.connect() as conn:
            return {name: count for name, count in conn.execute(query)}

    # --- writing -----------------------------------------------------------------------------

    def insert(self, order: WorkOrder, *, actor: str, at: datetime, action: str = "open") -> OrderEvent:
        """Save a new order and audit it; `DuplicateOpenOrder` when one is already open for its key."""
        try:
            with self._transaction() as conn:
                order_id = conn.execute(
                    insert(work_orders).values(**_columns(order, doc="{}")).returning(work_orders.c.id)
                ).scalar_one()
                saved = order.model_copy(update={"id": order_id, "version": 1})
                conn.execute(
                    update(work_orders)
                    .where(work_orders.c.id == order_id)
                    .values(doc=saved.model_dump_json(), version=1)
                )
                entry = self._append_audit(
                    conn, at=at, actor=actor, action=action, order_id=order_id, before=None, after=saved.snapshot()
                )
        except IntegrityError as exc:
            raise DuplicateOpenOrder(order.site, order.asset, order.fault_mode) from exc
        return _event(entry, saved, None)

    def update(
        self, order_id: int, change: Callable[[WorkOrder], WorkOrder], *, actor: str, at: datetime, action: str
    ) -> OrderEvent:
        """Apply ``change`` to the order under a row lock and audit it, all in one transaction.

        ``change`` receives a copy of the stored order and returns the new one; whatever it raises
        (for example `ticketing.lifecycle.InvalidTransition`) aborts the transaction.
        """
        try:
            with self._transaction() as conn:
                before = self._load(conn, order_id, lock=True)
                after = change(before.model_copy(deep=True))
                after = after.model_copy(update={"id": order_id, "version": before.version + 1})
                conn.execute(
                    update(work_orders)
                    .where(work_orders.c.id == order_id)
                    .values(**_columns(after, doc=after.model_dump_json()))
                )
                entry = self._append_audit(
                    conn,
                    at=at,
                    actor=actor,
                    action=action,
                    order_id=order_id,
                    before=before.snapshot(),
                    after=after.snapshot(),
                )
        except IntegrityError as exc:
            raise DuplicateOpenOrder(before.site, before.asset, before.fault_mode) from exc
        return _event(entry, after, before.status)

    def record(self, *, actor: str, at: datetime, action: str, change: dict[str, Any]) -> AuditEntry:
        """Audit a change to something other than an order (the service catalogue, say), in the same chain."""
        with self._transaction() as conn:
            return self._append_audit(conn, at=at, actor=actor, action=action, order_id=None, change=change)

    def _append_audit(self, conn: Connection, **fields: Any) -> AuditEntry:
        head = conn.execute(
            update(audit_head)
            .where(audit_head.c.id == 1)
            .values(seq=audit_head.c.seq + 1)
            .returning(audit_head.c.seq, audit_head.c.hash)
        ).one()
        entry = new_entry(head.seq - 1, head.hash, **fields)
        conn.execute(insert(audit_log).values(**{name: getattr(entry, name) for name in AuditEntry.__slots__}))
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=entry.hash))
        return entry

    # --- audit ------------------------------------------------------------------------------

    def audit_entries(
        self, after_seq: int = 0, limit: int | None = None, order_id: int | None = None, upto_seq: int | None = None
    ) -> list[AuditEntry]:
        """The audit log after entry ``after_seq`` (up to ``upto_seq``), oldest first (at most ``limit``
        entries), of every order or of one."""
        c = audit_log.c
        query = select(audit_log).where(c.seq > after_seq).order_by(c.seq).limit(limit)
        if order_id is not None:
            query = query.where(c.order_id == order_id)
        if upto_seq is not None:
            query = query.where(c.seq <= upto_seq)
        with self._engine.connect() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]

    def audit_events(self, after_seq: int = 0, limit: int | None = None) -> list[tuple[AuditEntry, OrderEvent | None]]:
        """The entries after ``after_seq`` with the `OrderEvent` each records (the order as it left it,
        rebuilt from that order's entries; None for an entry about no order)."""
        entries = self.audit_entries(after_seq=after_seq, limit=limit)
        states: dict[
            int, tuple[dict[str, Any] | None, dict[str, Any] | None]
        ] = {}  # seq -> the order before and after it
        for order_id in sorted({e.order_id for e in entries if e.order_id is not None}):
            doc: dict[str, Any] | None = None
            for entry in self.audit_entries(order_id=order_id, upto_seq=entries[-1].seq):
                before, doc = doc, entry.apply(doc)
                states[entry.seq] = (before, doc)
        return [(e, _recorded_event(e, *states.get(e.seq, (None, None)))) for e in entries]

    def cursor(self, adapter: str) -> int:
        """The last audit entry ``adapter`` has handled (0 before the first)."""
        with self._engine.connect() as conn:
            seq = conn.execute(select(adapter_cursors.c.seq).where(adapter_cursors.c.adapter == adapter)).scalar()
        return seq or 0

    def has_cursor(self, adapter: str) -> bool:
        """Whether ``adapter`` has a position yet (a new one has none)."""
        with self._engine.connect() as conn:
            return (
                conn.execute(select(adapter_cursors.c.seq).where(adapter_cursors.c.adapter == adapter)).first()
                is not None
            )

    def last_audit_seq(self) -> int:
        """The sequence number of the newest audit entry (0 for an empty log)."""
        with self._engine.connect() as conn:
            return conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar() or 0

    def advance_cursor(self, adapter: str, seq: int) -> None:
        """Record that ``adapter`` has handled every entry up to ``seq``."""
        with self._transaction() as conn:
            done = conn.execute(
                update(adapter_cursors).where(adapter_cursors.c.adapter == adapter).values(seq=seq)
            ).rowcount
            if not done:
                conn.execute(insert(adapter_cursors).values(adapter=adapter, seq=seq))

    def audit_head(self) -> tuple[int, str]:
        """The newest entry's ``(seq, hash)`` as the head row records it."""
        with self._engine.connect() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
        return head.seq, head.hash

    def verify_audit(self) -> AuditBreak | None:
        """Check the hash chain, then replay it and check that every order in the table is what its
        entries make it (a row edited, added or deleted behind the log's back shows); the first
        problem found, or None when the log is intact and agrees with the table."""
        replayed: dict[int, tuple[int, dict[str, Any]]] = {}

        def walk() -> Iterator[AuditEntry]:
            for entry in self._paged_entries():
                yield entry
                if entry.order_id is not None:
                    doc = entry.apply(replayed.get(entry.order_id, (0, None))[1])
                    if doc is not None:
                        replayed[entry.order_id] = (entry.seq, doc)

        return verify(walk(), head=self.audit_head()) or self._agrees_with_table(replayed)

    def _agrees_with_table(self, replayed: dict[int, tuple[int, dict[str, Any]]]) -> AuditBreak | None:
        with self._engine.connect() as conn:
            rows = {row.id: row for row in conn.execute(select(work_orders))}
        for order_id in sorted(set(rows) | set(replayed)):
            number = f"WO-{order_id:06d}"
            if order_id not in replayed:
                return AuditBreak(0, f"{number} is in the table but no audit entry made it (row inserted directly)")
            seq, doc = replayed[order_id]
            row = rows.get(order_id)
            if row is None:
                return AuditBreak(seq, f"{number} is in the audit log but not in the table (row deleted)")
            order = WorkOrder.model_validate(doc)
            if WorkOrder.model_validate_json(row.doc) != order:
                return AuditBreak(
                    seq,
                    f"{number}: the stored order differs from its audit log replayed (row edited outside the service)",
                )
            expected = _columns(order, doc=row.doc)
            for name in (
                "site",
                "asset",
                "fault_mode",
                "status",
                "priority",
                "service_type",
                "assignee",
                "opened_at",
                "closed_at",
                "version",
            ):
                if getattr(row, name) != expected[name]:
                    return AuditBreak(
                        seq,
                        f"{number}: column {name} is {getattr(row, name)!r} in the table but "
                        f"{expected[name]!r} by its audit log (row edited outside the service)",
                    )
        return None

    def _paged_entries(self, page: int = 1000) -> Iterator[AuditEntry]:
        # a page at a time, so verifying a years-long log does not hold it all in memory
        after = 0
        while batch := self.audit_entries(after_seq=after, limit=page):
            yield from batch
            after = batch[-1].seq

    # --- adapters' dead letters ------------------------------------------------------------------

    def add_dead_letter(
        self, *, adapter: str, event_id: str, at: datetime, attempts: int, reason: str, payload: str
    ) -> None:
        """Keep an event an adapter could not deliver, with why, so it can be sent again by hand."""
        with self._transaction() as conn:
            conn.execute(
                insert(dead_letters).values(
                    adapter=adapter, event_id=event_id, at=at, attempts=attempts, reason=reason, payload=payload
                )
            )

    def dead_letters(self, adapter: str | None = None) -> list[dict[str, Any]]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        if adapter is not None:
            query = query.where(dead_letters.c.adapter == adapter)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # --- notifications (the dispatcher's deliveries) -------------------------------------------------

    def enqueue_notifications(self, rows: list[dict[str, Any]], cursor: str, seq: int) -> int:
        """Add deliveries and move ``cursor`` to ``seq`` in one transaction; a row already queued
        (same event, channel and recipient) is skipped. Returns how many were added."""
        added = 0
        with self._transaction() as conn:
            for row in rows:
                c = notifications.c
                exists = conn.execute(
                    select(c.id).where(
                        c.event_id == row["event_id"], c.channel == row["channel"], c.recipient == row["recipient"]
                    )
                ).first()
                if exists is None:
                    conn.execute(insert(notifications).values(**row))
                    added += 1
            done = conn.execute(
                update(adapter_cursors).where(adapter_cursors.c.adapter == cursor).values(seq=seq)
            ).rowcount
            if not done:
                conn.execute(insert(adapter_cursors).values(adapter=cursor, seq=seq))
        return added

    def notifications_pending(self, limit: int = 200) -> list[dict[str, Any]]:
        """Pending deliveries, oldest first (due or not: a receiver's order is the log's)."""
        c = notifications.c
        query = select(notifications).where(c.status == "pending").order_by(c.id).limit(limit)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def next_notification_due(self) -> datetime | None:
        c = notifications.c
        with self._engine.connect() as conn:
            return conn.execute(select(func.min(c.next_attempt_at)).where(c.status == "pending")).scalar()

    def claim_notification(self, notification_id: int, attempts: int, until: datetime) -> bool:
        """Take a pending delivery for one attempt: its next attempt moves to ``until`` (a lease, so a
        worker that dies mid-attempt leaves it to be tried again then). False when another worker
        took it first (its attempt count or status changed)."""
        c = notifications.c
        with self._transaction() as conn:
            taken = conn.execute(
                update(notifications)
                .where(c.id == notification_id, c.status == "pending", c.attempts == attempts)
                .values(next_attempt_at=until, attempts=attempts + 1)
            ).rowcount
        return taken == 1

    def record_attempt(
        self,
        notification_id: int,
        *,
        status: str,
        attempts: int,
        at: datetime,
        next_attempt_at: datetime | None = None,
        error: str = "",
    ) -> None:
        """Record one delivery attempt's outcome: ``delivered``, ``pending`` (retried at ``next_attempt_at``)
        or ``dead``."""
        values: dict[str, Any] = {"status": status, "attempts": attempts, "last_error": error}
        if status == "delivered":
            values["delivered_at"] = at
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self._transaction() as conn:
            conn.execute(update(notifications).where(notifications.c.id == notification_id).values(**values))

    def notifications(
        self, status: str | None = None, order_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Deliveries newest first, optionally of one status or one order."""
        c = notifications.c
        query = select(notifications).order_by(c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(c.status == status)
        if order_id is not None:
            query = query.where(c.order_id == order_id)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def retry_dead_notifications(self, now: datetime, notification_id: int | None = None) -> int:
        """Make dead deliveries (all, or one) pending again with fresh attempts; returns how many."""
        c = notifications.c
        query = update(notifications).where(c.status == "dead")
        if notification_id is not None:
            query = query.where(c.id == notification_id)
        with self._transaction() as conn:
            return conn.execute(query.values(status="pending", attempts=0, next_attempt_at=now)).rowcount

    def notification_counts(self) -> dict[str, int]:
        """How many deliveries are pending, delivered and dead."""
        c = notifications.c
        with self._engine.connect() as conn:
            return {status: n for status, n in conn.execute(select(c.status, func.count()).group_by(c.status))}


def migrate(conn: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``conn`` to ``revision`` with the shipped Alembic scripts."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock at BEGIN, so two writers queue on the busy timeout instead of
    # one failing when both try to upgrade a read lock; readers stay deferred and never block writers.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes") else "BEGIN")


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy's "begin" listener (`_sqlite_begin`) issue BEGIN itself instead of pysqlite.
    dbapi_connection.isolation_level = None
    # Switching a database to WAL needs it to itself: while another process switches or migrates a
    # new database, SQLite answers "database is locked" at once instead of waiting on the busy
    # timeout (seen in 5 of 12 runs of two processes opening a new file together), so wait here.
    deadline = time.monotonic() + _SQLITE_TIMEOUT_S
    while True:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            cursor.close()
        time.sleep(0.05)


def _columns(order: WorkOrder, doc: str) -> dict[str, Any]:
    return {
        "site": order.site,
        "asset": order.asset,
        "fault_mode": order.fault_mode,
        "status": order.status.value,
        "priority": order.priority,
        "service_type": order.service_type.value,
        "assignee": order.assignee,
        "opened_at": order.opened_at,
        "closed_at": order.closed_at,
        "version": order.version,
        "doc": doc,
    }


def _recorded_event(
    entry: AuditEntry, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> OrderEvent | None:
    if after is None:
        return None
    return _event(entry, WorkOrder.model_validate(after), Status(before["status"]) if before else None)


def _event(entry: AuditEntry, order: WorkOrder, previous: Status | None) -> OrderEvent:
    return OrderEvent(
        id=order.event_id(entry.seq),
        action=entry.action,
        actor=entry.actor,
        at=entry.at,
        order=order,
        previous_status=previous,
    )
