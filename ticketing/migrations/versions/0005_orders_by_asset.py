"""Work orders by asset: an index on (site, asset) for the lookups of one asset's orders.

The preventive schedules ask, per asset they cover, for all its orders (their own and the
condition-based ones); the one-open-order index is partial (open orders only) and cannot serve that.
Attachments, parts and holds naming parts live in the order's JSON document and need no column.

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_work_orders_site_asset", "work_orders", ["site", "asset"])


def downgrade() -> None:
    op.drop_index("ix_work_orders_site_asset", "work_orders")
