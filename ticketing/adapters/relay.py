"""`EventRelay`: delivers the audit log to an adapter, so no event is lost to a crash.

Calling adapters right after a change (`ticketing.lifecycle.Notifier`) loses the event if the process
dies between the commit and the call. The audit log is written in the same transaction as every
change, so it doubles as a transactional outbox: the relay reads the entries after the adapter's
cursor, turns each into the same `OrderEvent` (same ``id``, so the receiver's idempotency key
de-duplicates a redelivery), hands it over and moves the cursor on. Delivery is at least once: an
adapter that raises stops the run with its cursor unmoved, and the next run starts there again.
"""

from __future__ import annotations

import logging

from faultline.ticketing.adapters.base import Adapter
from faultline.ticketing.store import WorkOrderStore

log = logging.getLogger(__name__)


class EventRelay:
    """Hands the audit log's events to ``adapter`` in order, remembering how far it got under ``name``.

    Call `run_once` from the service's loop (or after each batch of findings).
    """

    def __init__(self, store: WorkOrderStore, adapter: Adapter, name: str) -> None:
        self.store, self.adapter, self.name = store, adapter, name

    def run_once(self, limit: int = 100) -> int:
        """Deliver up to ``limit`` pending events; returns how many were handed over."""
        delivered = 0
        for entry, event in self.store.audit_events(after_seq=self.store.cursor(self.name), limit=limit):
            if event is not None:
                try:
                    self.adapter.on_event(event)
                except Exception:
                    log.exception("adapter %s failed on %s; will retry from there", self.name, event.id)
                    break
                delivered += 1
            self.store.advance_cursor(self.name, entry.seq)
        return delivered
