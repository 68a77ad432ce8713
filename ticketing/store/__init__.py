"""The work-order store: SQLite by default, PostgreSQL for several workers."""

from faultline.ticketing.store.repository import DuplicateOpenOrder, OrderNotFound, StoreError, WorkOrderStore

__all__ = ["DuplicateOpenOrder", "OrderNotFound", "StoreError", "WorkOrderStore"]
