"""`WebhookAdapter`: each order event as a signed JSON POST, retried, dead-lettered after a limit.

The receiver can check the request came from us: ``X-Faultline-Signature: sha256=<hex>`` is
HMAC-SHA256 of the raw body with the shared secret (compare with `hmac.compare_digest`).
``Idempotency-Key`` carries the event id, which stays the same across retries.

Failures are sorted as the ingest writers sort them: connection errors, timeouts, 408, 429 and 5xx
are retried with capped, jittered exponential backoff (honouring ``Retry-After`` up to the cap);
other 4xx answers mean the receiver will never take this request, so it goes to the dead letters at
once; so does any event still undelivered after ``max_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable

import httpx

from faultline.ticketing.adapters.base import DeadLetters
from faultline.ticketing.audit import canonical_json
from faultline.vocabulary import Backoff, Clock, SystemClock
from faultline.ticketing.models import OrderEvent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Faultline-Signature"
_RETRIED_STATUS = {408, 429}


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=`` and the HMAC-SHA256 hex digest."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def event_body(event: OrderEvent) -> bytes:
    """The JSON posted for an event (canonical, so the signature is over a stable text)."""
    return canonical_json(
        {
            "id": event.id,
            "action": event.action,
            "actor": event.actor,
            "at": event.at.isoformat(),
            "previous_status": event.previous_status,
            "order": {**event.order.snapshot(), "number": event.order.number},
        }
    ).encode()


class WebhookAdapter:
    """POSTs every order event to ``url``.

    Parameters
    ----------
    url
        The receiver.
    secret
        Shared secret for the signature.
    dead_letters
        Where events go that cannot be delivered (a `ticketing.store.WorkOrderStore`).
    max_attempts
        Attempts per event before it is dead-lettered.
    sleep, rng, clock
        Waiting, jitter and time, passed in so tests neither wait nor depend on chance.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        dead_letters: DeadLetters,
        *,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Clock = SystemClock(),
        client: httpx.Client | None = None,
    ):
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.url, self.max_attempts, self.backoff = url, max_attempts, backoff or Backoff()
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.dead_letters, self.sleep, self.clock = dead_letters, sleep, clock
        self.rng = rng or random.Random()
        self.client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def request_for(self, event: OrderEvent) -> tuple[bytes, dict[str, str]]:
        """Body and headers of the POST for ``event`` (override to speak another system's API)."""
        body = event_body(event)
        return body, {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            "Idempotency-Key": event.id,
            "X-Faultline-Event": event.action,
        }

    def on_event(self, event: OrderEvent) -> bool:
        """Deliver ``event``; True when the receiver took it, False when it was dead-lettered."""
        body, headers = self.request_for(event)
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                response = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code not in _RETRIED_STATUS:
                    break  # the receiver refuses this request; sending it again will not help
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt < self.max_attempts:
                delay = self.backoff.delay(attempt, retry_after, rng=self.rng)
                log.warning(
                    "webhook %s for %s failed (%s); attempt %d of %d, next in %.1f s",
                    self.url,
                    event.id,
                    reason,
                    attempt,
                    self.max_attempts,
                    delay,
                )
                self.sleep(delay)
        log.error("webhook %s gave up on %s after %d attempts: %s", self.url, event.id, attempt, reason)
        self.dead_letters.add_dead_letter(
            adapter=self.name,
            event_id=event.id,
            at=self.clock.now(),
            attempts=attempt,
            reason=reason,
            payload=body.decode(),
        )
        return False


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: our own backoff is good enough
