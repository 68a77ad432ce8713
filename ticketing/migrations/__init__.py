"""Alembic migrations of the work-order store, run by `WorkOrderStore` when it opens a database."""
