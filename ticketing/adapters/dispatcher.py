"""`Dispatcher`: notifications that reach people, durably, from the audit log (the transactional outbox).

Every change to an order is written to the audit log in the same transaction as the change, so the
log is an outbox no crash can lose. The dispatcher works it in two steps, each its own transaction:

1. **Queue.** It reads the entries after its cursor, decides who must hear of each (the ``webhooks:``
   receivers and the ``mail:`` rules of the ticketing configuration, per event, site and priority),
   and writes one ``notifications`` row per (event, receiver) *together with* the moved cursor. A
   crash before the commit queues the entries again; the unique (event, channel, recipient) key makes
   that harmless.
2. **Deliver.** Each pending row is sent once per due attempt: a signed webhook POST
   (``X-Faultline-Signature: sha256=<HMAC-SHA256 of the body>``, ``Idempotency-Key: <event id>``) or
   an e-mail over SMTP (STARTTLS and login when configured). A failure is retried with capped,
   jittered exponential backoff (``Retry-After`` honoured up to the cap); after ``max_attempts``, or
   at once for an answer that will never change (a 4xx other than 408/429), the row is marked
   ``dead`` with the reason, for a person to see (``GET /api/v1/notifications?status=dead``).

Rows of one receiver go out in the order of the log: while a receiver's oldest pending row waits for
its retry, the rows behind it wait too, so a receiver that was down gets the events in order when it
is back. Delivery is at least once — a crash between a receiver's answer and the recorded outcome
sends that row again with the same idempotency key — so an idempotent receiver sees each event once.

Several workers may share a store: each attempt first claims its row (the attempt count moves on in
the same statement), so no row is sent by two at once.

Time comes from a clock and no call sleeps: a service loop calls `run_once` and waits until
`next_due`; tests move the clock.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx

from faultline.ticketing.adapters.mail import escalation_message
from faultline.ticketing.adapters.webhook import SIGNATURE_HEADER, sign
from faultline.ticketing.audit import canonical_json
from faultline.vocabulary import Backoff, Clock
from faultline.ticketing.config import EngineerSettings, SmtpSettings, TicketingConfig, WebhookSettings
from faultline.ticketing.models import OrderEvent, WorkOrder
from faultline.ticketing.roles import Role
from faultline.ticketing.store import WorkOrderStore

log = logging.getLogger(__name__)

#: The cursor under which the dispatcher remembers how far it has queued the audit log.
CURSOR = "notifications"
#: How long an attempt holds its delivery: workers sharing a store never send one row at the same
#: time, and a worker that dies mid-attempt leaves the row to be tried again after this.
LEASE = timedelta(minutes=2)

# audit action -> notification event (escalate is split by the step it records)
_KIND = {
    "open": "opened",
    "set_priority": "priority_changed",
    "resolve": "resolved",
    "reopen": "reopened",
    "acknowledge": "acknowledged",
    "start": "started",
    "hold": "held",
    "resume": "resumed",
    "assign": "assigned",
    "close": "closed",
    "comment": "commented",
    "add_evidence": "evidence_added",
}
_RETRIED_STATUS = {408, 429}


def event_kind(event: OrderEvent) -> str:
    """What a saved change means to the people told about it (``opened``, ``escalation``, ``response_breached`` …)."""
    if event.action == "escalate" and event.order.escalations:
        step = event.order.escalations[-1]
        return f"{step.of}_breached" if step.action == "breach" else "escalation"
    return _KIND.get(event.action, event.action)


def webhook_body(event: OrderEvent, kind: str) -> bytes:
    """The JSON posted for an event (canonical, so the signature is over a stable text)."""
    step = event.order.escalations[-1].model_dump(mode="json") if event.action == "escalate" else None
    return canonical_json(
        {
            "id": event.id,
            "event": kind,
            "action": event.action,
            "actor": event.actor,
            "at": event.at.isoformat(),
            "previous_status": event.previous_status,
            "escalation": step,
            "order": {**event.order.snapshot(), "number": event.order.number},
        }
    ).encode()


def mail_recipients(order: WorkOrder, kind: str, who: Sequence[str], engineers: Sequence[EngineerSettings]) -> set[str]:
    """The addresses a mail rule's ``to`` list names for this order and event."""
    at_site = [e for e in engineers if order.site in e.sites and e.email]
    found: set[str] = set()
    for name in who:
        if "@" in name:
            found.add(name)
        elif name == "assignee":
            found |= {e.email for e in engineers if e.name == order.assignee and e.email}
        elif name == "managers":
            found |= {e.email for e in at_site if e.role == Role.MANAGER and e.email}
        elif name == "site":
            found |= {e.email for e in at_site if e.email}
        elif name.startswith("role:"):
            found |= {e.email for e in at_site if e.role == Role(name.removeprefix("role:")) and e.email}
        elif (
            name == "escalation"
            and order.escalations
            and kind in ("escalation", "response_breached", "resolution_breached")
        ):
            step = order.escalations[-1]
            if step.action in ("notify_assignee", "reassign"):  # a reassignment tells the new assignee
                found |= {e.email for e in engineers if e.name == order.assignee and e.email}
            if step.action == "reassign" and order.assignee is None:
                found |= {e.email for e in at_site if step.role and e.role == Role(step.role) and e.email}
            if step.action in ("notify_manager", "breach"):
                found |= {e.email for e in at_site if e.role == Role.MANAGER and e.email}
            if step.action == "breach":
                found |= {e.email for e in engineers if e.name == order.assignee and e.email}
    return found


def mail_message(event: OrderEvent, kind: str) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail about an event."""
    order = event.order
    if kind in ("escalation", "response_breached", "resolution_breached") and order.escalations:
        step = order.escalations[-1]
        subject, body = escalation_message(
            order, "target passed" if step.action == "breach" else step.action, step.fraction
        )
        if step.action == "breach":
            subject = f"[Faultline] {order.number} {order.priority} {order.asset}: {step.of} target BREACHED"
        return subject, body
    _, body = escalation_message(order, kind, 0.0)
    words = kind.replace("_", " ")
    subject = f"[Faultline] {order.number} {order.priority} {order.asset}: {order.fault_mode} — {words}"
    return subject, body.replace("needs attention.", f"was {words} by {event.actor}.", 1)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt gave: ``ok``; otherwise whether trying again can help, and why not."""

    ok: bool
    retry: bool = True
    error: str = ""
    retry_after: float | None = None


class Dispatcher:
    """Queues the audit log's events for their receivers and delivers them (see the module docstring).

    Parameters
    ----------
    store
        A `ticketing.store.WorkOrderStore` (audit log, cursor and the ``notifications`` rows).
    config
        The ticketing configuration: ``webhooks``, ``smtp``, ``mail`` and ``engineers``.
    clock
        Where "now" comes from (attempt times and retry schedule).
    backoff, rng
        The retry schedule and its jitter.
    on_outcome
        Called with ``(channel, status)`` after each attempt (metrics).
    report
        Makes the service report of a closed order, ``(file name, PDF bytes)``: the e-mail telling of
        the close carries it (made when the close is queued, so every retry sends the same file).
    """

    def __init__(
        self,
        store: WorkOrderStore,
        config: TicketingConfig,
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        http: httpx.Client | None = None,
        on_outcome: Callable[[str, str], None] = lambda channel, status: None,
        report: Callable[[WorkOrder], tuple[str, bytes]] | None = None,
    ) -> None:
        self.store, self.config, self.clock, self.backoff = store, config, clock, backoff or Backoff(2.0, 300.0)
        self.report = report
        self.rng = rng or random.Random()
        self.on_outcome = on_outcome
        self.webhooks: dict[str, WebhookSettings] = {f"webhook:{w.name}": w for w in config.webhooks if w.enabled}
        self.smtp: SmtpSettings | None = config.smtp if config.smtp is not None and config.smtp.enabled else None
        self._http = http or httpx.Client(timeout=max([w.timeout_s for w in self.webhooks.values()], default=10.0))

    @property
    def enabled(self) -> bool:
        """True when there is anyone to deliver to."""
        return bool(self.webhooks or self.smtp)

    def close(self) -> None:
        self._http.close()

    # --- queueing ------------------------------------------------------------------------------
    def deliveries_for(self, event: OrderEvent) -> list[dict[str, Any]]:
        """The ``notifications`` rows one event makes (one per receiver that takes it)."""
        kind, order, now = event_kind(event), event.order, self.clock.now()
        base = {
            "event_id": event.id,
            "kind": kind,
            "order_id": order.id,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "last_error": "",
        }
        rows = []
        for channel, hook in self.webhooks.items():
            if hook.takes(kind, order.site, order.priority):
                rows.append(
                    {**base, "channel": channel, "recipient": hook.url, "payload": webhook_body(event, kind).decode()}
                )
        if self.smtp is not None:
            to: set[str] = set()
            for rule in self.config.mail:
                if rule.takes(kind, order.site, order.priority):
                    to |= mail_recipients(order, kind, rule.to, self.config.engineers)
            if to:
                subject, body = mail_message(event, kind)
                content: dict[str, Any] = {"subject": subject, "body": body}
                if kind == "closed" and self.report is not None:
                    content["attachment"] = self._report_file(order)
                rows.append(
                    {**base, "channel": "email", "recipient": ", ".join(sorted(to)), "payload": json.dumps(content)}
                )
        return rows

    def _report_file(self, order: WorkOrder) -> dict[str, Any] | None:
        if self.report is None:
            return None
        try:
            name, pdf = self.report(order)
        except Exception:  # noqa: BLE001 - the notice still goes, without the report, and the log says why
            log.exception("service report of %s could not be made; the close e-mail goes without it", order.number)
            return None
        return {"filename": name, "content_type": "application/pdf", "base64": base64.b64encode(pdf).decode()}

    def queue(self, limit: int = 500) -> int:
        """Queue the deliveries of up to ``limit`` audit entries after the cursor; returns rows added."""
        entries = self.store.audit_events(after_seq=self.store.cursor(CURSOR), limit=limit)
        if not entries:
            return 0
        rows = []
        for _, event in entries:
            if event is not None:
                rows.extend(self.deliveries_for(event))
        return self.store.enqueue_notifications(rows, CURSOR, entries[-1][0].seq)

    # --- delivering ----------------------------------------------------------------------------
    def deliver(self, limit: int = 200) -> int:
        """Attempt every due delivery, in log order per receiver; returns how many were delivered."""
        now = self.clock.now()
        waiting: set[str] = set()  # receivers whose oldest pending row is not due (or just failed)
        delivered = 0
        for row in self.store.notifications_pending(limit):
            channel = row["channel"]
            if channel in waiting:
                continue
            if row["next_attempt_at"] > now:
                waiting.add(channel)
                continue
            attempts = row["attempts"] + 1
            if not self.store.claim_notification(row["id"], row["attempts"], now + LEASE):
                waiting.add(channel)  # another worker is sending this one
                continue
            attempt = self._attempt(row)
            if attempt.ok:
                self.store.record_attempt(row["id"], status="delivered", attempts=attempts, at=now)
                delivered += 1
                self.on_outcome(channel, "delivered")
                continue
            waiting.add(channel)
            if not attempt.retry or attempts >= self._max_attempts(channel):
                log.error(
                    "notification %s of %s to %s is dead after %d attempts: %s",
                    row["kind"],
                    row["event_id"],
                    row["recipient"],
                    attempts,
                    attempt.error,
                )
                self.store.record_attempt(row["id"], status="dead", attempts=attempts, at=now, error=attempt.error)
                self.on_outcome(channel, "dead")
                waiting.discard(channel)  # the rows behind a dead one may go on
                continue
            delay = self.backoff.delay(attempts, attempt.retry_after, rng=self.rng)
            log.warning(
                "notification %s of %s to %s failed (%s); attempt %d of %d, next in %.0f s",
                row["kind"],
                row["event_id"],
                row["recipient"],
                attempt.error,
                attempts,
                self._max_attempts(channel),
                delay,
            )
            self.store.record_attempt(
                row["id"],
                status="pending",
                attempts=attempts,
                at=now,
                error=attempt.error,
                next_attempt_at=now + timedelta(seconds=delay),
            )
            self.on_outcome(channel, "retry")
        return delivered

    def begin(self) -> int:
        """Start the outbox at the log's current end if it never ran here: orders changed before any
        receiver was configured are not announced now. Returns the entry it starts after."""
        if not self.store.has_cursor(CURSOR):
            head = self.store.last_audit_seq()
            self.store.advance_cursor(CURSOR, head)
            if head:
                log.info(
                    "notifications start after audit entry %d (earlier changes were made before any "
                    "receiver was configured)",
                    head,
                )
            return head
        return self.store.cursor(CURSOR)

    def run_once(self) -> tuple[int, int]:
        """Queue what the log holds, then deliver what is due: ``(queued, delivered)``."""
        return self.queue(), self.deliver()

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery may be tried (None: nothing pending)."""
        return self.store.next_notification_due()

    def _max_attempts(self, channel: str) -> int:
        if channel in self.webhooks:
            return self.webhooks[channel].max_attempts
        return self.smtp.max_attempts if self.smtp is not None else 1

    def _attempt(self, row: dict[str, Any]) -> Attempt:
        channel = row["channel"]
        if channel in self.webhooks:
            return self._post(self.webhooks[channel], row)
        if channel == "email" and self.smtp is not None:
            return self._mail(self.smtp, row)
        return Attempt(False, retry=False, error=f"receiver {channel} is no longer configured")

    def _post(self, hook: WebhookSettings, row: dict[str, Any]) -> Attempt:
        body = row["payload"].encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(hook.secret.encode(), body),
            "Idempotency-Key": row["event_id"],
            "X-Faultline-Event": row["kind"],
        }
        try:
            response = self._http.post(hook.url, content=body, headers=headers, timeout=hook.timeout_s)
        except httpx.HTTPError as exc:
            return Attempt(False, error=f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Attempt(True)
        error = f"HTTP {response.status_code}: {response.text[:200]}"
        retry = response.status_code >= 500 or response.status_code in _RETRIED_STATUS
        return Attempt(False, retry=retry, error=error, retry_after=_seconds(response.headers.get("Retry-After")))

    def _mail(self, smtp: SmtpSettings, row: dict[str, Any]) -> Attempt:
        content = json.loads(row["payload"])
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = smtp.sender, row["recipient"], content["subject"]
        message["Message-ID"] = f"<{row['event_id']}.{row['id']}@faultline>"  # the same on every retry
        message.set_content(content["body"])
        if attached := content.get("attachment"):
            maintype, _, subtype = attached["content_type"].partition("/")
            message.add_attachment(
                base64.b64decode(attached["base64"]), maintype=maintype, subtype=subtype, filename=attached["filename"]
            )
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
                if smtp.starttls:
                    client.starttls(context=_tls_context())
                if smtp.username:
                    client.login(smtp.username, smtp.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            return Attempt(False, retry=False, error=f"recipients refused: {exc.recipients}")
        except (OSError, smtplib.SMTPException) as exc:
            return Attempt(False, error=f"{type(exc).__name__}: {exc}")
        return Attempt(True)


def _tls_context() -> ssl.SSLContext:
    # SSL_CERT_FILE names a private CA (the test suite's, or a plant's own) as for any OpenSSL client
    return ssl.create_default_context()


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


__all__ = ["CURSOR", "Attempt", "Dispatcher", "event_kind", "mail_message", "mail_recipients", "webhook_body"]
