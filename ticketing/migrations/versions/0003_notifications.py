"""Notifications: one row per (event, receiver), so each delivery has its own attempts and status.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from faultline.ticketing.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(60), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("order_id", sa.Integer),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("payload", sa.Text, nullable=False),
        sa.UniqueConstraint("event_id", "channel", "recipient", name="uq_notifications_once"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_due", "notifications")
    op.drop_table("notifications")
