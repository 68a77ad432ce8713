"""Adapters: where work-order events and escalations go (webhooks, e-mail, a CMMS you add).

See `ticketing.adapters.base` for the interface a new adapter implements.
"""

from faultline.ticketing.adapters.base import Adapter, DeadLetters
from faultline.ticketing.adapters.dispatcher import Dispatcher, event_kind
from faultline.ticketing.adapters.mail import EmailAdapter, NotificationFailed
from faultline.ticketing.adapters.relay import EventRelay
from faultline.ticketing.adapters.setup import email_adapter, webhook_adapters
from faultline.ticketing.adapters.webhook import SIGNATURE_HEADER, WebhookAdapter, sign

__all__ = [
    "Adapter",
    "DeadLetters",
    "Dispatcher",
    "EmailAdapter",
    "event_kind",
    "EventRelay",
    "NotificationFailed",
    "SIGNATURE_HEADER",
    "WebhookAdapter",
    "email_adapter",
    "sign",
    "webhook_adapters",
]
