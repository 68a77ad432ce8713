"""Adapters as the configuration asks for them (``webhooks:`` and ``smtp:`` in ``ticketing:``)."""

from __future__ import annotations

from faultline.ticketing.adapters.mail import EmailAdapter
from faultline.ticketing.adapters.webhook import WebhookAdapter
from faultline.ticketing.config import TicketingConfig
from faultline.ticketing.store import WorkOrderStore


def webhook_adapters(config: TicketingConfig, store: WorkOrderStore) -> list[WebhookAdapter]:
    """One `WebhookAdapter` per configured receiver, dead-lettering into ``store``."""
    return [
        WebhookAdapter(w.url, w.secret, store, max_attempts=w.max_attempts, timeout=w.timeout_s)
        for w in config.webhooks
        if w.enabled
    ]


def email_adapter(config: TicketingConfig) -> EmailAdapter | None:
    """The `EmailAdapter` for escalation notices, or None when no ``smtp:`` is configured."""
    smtp = config.smtp
    if smtp is None or not smtp.enabled:
        return None
    return EmailAdapter(
        smtp.host,
        smtp.port,
        smtp.sender,
        config.engineers,
        starttls=smtp.starttls,
        username=smtp.username,
        password=smtp.password,
    )
