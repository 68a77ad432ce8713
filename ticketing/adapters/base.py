"""The adapter interface: how work-order events leave Faultline.

An adapter is any object with ``on_event(event)``. Faultline calls it after each change to an order is
saved and audited (`ticketing.lifecycle.Notifier` calls every configured adapter in turn), with an
`ticketing.models.OrderEvent`:

``event.id``
    Unique and stable for this change (``WO-000042.17``: order number and audit sequence). Use it as
    the idempotency key, so a retried delivery cannot create a second ticket on the other side.
``event.action``
    What happened: ``open``, ``add_evidence``, ``acknowledge``, ``start``, ``hold``, ``resume``,
    ``assign``, ``set_priority``, ``resolve``, ``close``, ``reopen``, ``comment``.
``event.order``
    The order after the change (``event.order.snapshot()`` is its JSON form);
    ``event.previous_status`` its status before.
``event.actor``, ``event.at``
    Who did it and when (UTC).

Rules an adapter must keep:

- **Do not raise for delivery problems.** The change is already saved; an adapter that cannot deliver
  retries on its own terms and then records a dead letter (`WorkOrderStore.add_dead_letter`), so
  nothing is lost silently. `Notifier` logs anything an adapter raises anyway, and carries on.
- **Be idempotent on the far side** with ``event.id``.
- **Take time and sleeping from outside** (a clock, a ``sleep`` function), so tests never wait.

Adding a CMMS (Jira Service Management, MaintainX, Odoo Maintenance): map ``open`` to creating the
remote ticket (store the remote key in your system, keyed by ``event.order.number``), later actions
to transitions or comments on it. When the remote API takes one HTTP request per event, subclass
`ticketing.adapters.webhook.WebhookAdapter` and override ``request_for(event)``: signing, retries,
backoff and dead letters come with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from faultline.ticketing.models import OrderEvent


@runtime_checkable
class Adapter(Protocol):
    """Receives every saved change to a work order (see the module docstring for the contract)."""

    def on_event(self, event: OrderEvent) -> None: ...


class DeadLetters(Protocol):
    """Where undeliverable events go; `ticketing.store.WorkOrderStore` is one."""

    def add_dead_letter(
        self, *, adapter: str, event_id: str, at: datetime, attempts: int, reason: str, payload: str
    ) -> None: ...
