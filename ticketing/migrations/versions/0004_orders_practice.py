"""Work orders as service practice asks: audit entries record what changed (``change``), not whole
orders, and are found per order by an index (replaying one order's history, checking the live table).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.add_column(sa.Column("change", sa.Text))
    op.create_index("ix_audit_log_order_id", "audit_log", ["order_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_order_id", "audit_log")
    with op.batch_alter_table("audit_log") as table:
        table.drop_column("change")
