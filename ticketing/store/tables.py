"""The store's tables (SQLAlchemy Core). The migrations in ``ticketing/migrations`` create them.

An order is kept whole as JSON in ``doc`` (the source of truth) with the fields queries need copied
into indexed columns. The partial unique index ``uq_work_orders_one_open`` is what makes "one open
order per (site, asset, fault mode)" hold for any number of concurrent workers, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite has no time zones of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware times only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()

OPEN_CONDITION = "status <> 'closed'"

work_orders = Table(
    "work_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(100), nullable=False),
    Column("asset", String(100), nullable=False),
    Column("fault_mode", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("service_type", String(32), nullable=False),
    Column("assignee", String(100)),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    Index(
        "uq_work_orders_one_open",
        "site",
        "asset",
        "fault_mode",
        unique=True,
        sqlite_where=text(OPEN_CONDITION),
        postgresql_where=text(OPEN_CONDITION),
    ),
    Index("ix_work_orders_status", "status"),
    Index("ix_work_orders_opened_at", "opened_at"),
    Index("ix_work_orders_site_asset", "site", "asset"),  # one asset's orders (preventive schedules)
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("order_id", Integer),
    Column("before", Text),
    Column("after", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("change", Text),  # what changed (ticketing.audit.diff); before/after are of entries older than 0004
    Index("ix_audit_log_order_id", "order_id", "seq"),
)

# One row (id 1): the newest entry's seq and hash. Updating it first in an appending transaction
# serialises appenders, so the chain never forks.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

# How far each adapter has delivered the audit log: the log doubles as a transactional outbox.
adapter_cursors = Table(
    "adapter_cursors",
    metadata,
    Column("adapter", String(50), primary_key=True),
    Column("seq", Integer, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("adapter", String(50), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
)

# The notification outbox's deliveries: one row per (event, channel, recipient), written from the
# audit log by the dispatcher together with its cursor; ``status`` is pending, delivered or dead.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("channel", String(60), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("order_id", Integer),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("payload", Text, nullable=False),
    UniqueConstraint("event_id", "channel", "recipient", name="uq_notifications_once"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
)
