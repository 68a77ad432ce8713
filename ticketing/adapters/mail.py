"""`EmailAdapter`: escalation notices by e-mail over SMTP (``smtplib`` and ``email``).

Escalation (`ticketing.escalation.EscalationScheduler`) decides *when* someone must be told; this
decides *whom* and sends it: the assignee for ``notify_assignee``, the engineers of the step's role at
the order's site for ``reassign``, the site's managers for ``notify_manager``, using the e-mail
addresses in the ``engineers:`` configuration. A send that fails raises `NotificationFailed`, so the
scheduler keeps the step pending and tries again on its next tick instead of losing it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from faultline.ticketing.config import EngineerSettings
from faultline.ticketing.models import WorkOrder
from faultline.ticketing.roles import Role


class NotificationFailed(RuntimeError):
    """Raised when an e-mail could not be handed to the SMTP server, or had nobody to go to."""


def recipients(
    order: WorkOrder, action: str, role: Role | str | None, engineers: Sequence[EngineerSettings]
) -> list[str]:
    """E-mail addresses an escalation step ``action`` on ``order`` goes to."""
    at_site = [e for e in engineers if order.site in e.sites and e.email]
    if action == "notify_assignee":
        chosen = [e for e in at_site if e.name == order.assignee]
    elif action == "reassign":
        assert role is not None  # a reassign step names a role (EscalationStep checks it)
        chosen = [e for e in at_site if e.role == Role(role)]
    else:
        chosen = [e for e in at_site if e.role == Role.MANAGER]
    return [e.email for e in chosen if e.email]


def escalation_message(order: WorkOrder, action: str, fraction: float) -> tuple[str, str]:
    """Subject and plain-text body of an escalation notice."""
    latest = order.evidence[-1] if order.evidence else None
    subject = (
        f"[Faultline] {order.number} {order.priority} {order.asset}: {order.fault_mode} "
        f"— {fraction:.0%} of target used ({action.replace('_', ' ')})"
    )
    lines = [
        f"Work order {order.number} needs attention.",
        "",
        f"Site / asset:     {order.site} / {order.asset}",
        f"Fault mode:       {order.fault_mode}",
        f"Priority:         {order.priority} ({order.service_type.value})",
        f"Status:           {order.status.value}",
        f"Assignee:         {order.assignee or '(nobody)'}",
        f"Response due:     {order.response_due.isoformat() if order.response_due else '-'}",
        f"Resolution due:   {order.resolution_due.isoformat() if order.resolution_due else '-'}",
    ]
    if latest is not None:
        lines += [
            f"Latest evidence:  {latest.sensor} {latest.severity} score {latest.score:g} "
            f"({latest.detector} {latest.detector_version}, rule {latest.rule})"
        ]
    return subject, "\n".join(lines) + "\n"


class EmailAdapter:
    """Sends escalation notices through an SMTP server.

    Parameters
    ----------
    host, port
        The SMTP server.
    sender
        The From address.
    engineers
        Who can be told, with their roles, sites and addresses (the configuration's ``engineers``).
    starttls, username, password
        Upgrade the connection with STARTTLS and log in, when the server wants it.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        engineers: Sequence[EngineerSettings],
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ):
        self.host, self.port, self.sender, self.engineers = host, port, sender, list(engineers)
        self.starttls, self.username, self.password, self.timeout = starttls, username, password, timeout

    def notify_escalation(
        self, order: WorkOrder, action: str, role: Role | str | None = None, fraction: float = 1.0
    ) -> list[str]:
        """Send the notice for one escalation step; returns the addresses it went to."""
        to = recipients(order, action, role, self.engineers)
        if not to:
            raise NotificationFailed(f"{order.number}: nobody with an e-mail address to {action} at site {order.site}")
        subject, body = escalation_message(order, action, fraction)
        self.send(to, subject, body)
        return to

    def send(self, to: Sequence[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(to), subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationFailed(f"e-mail to {', '.join(to)} via {self.host}:{self.port} failed: {exc}") from exc
