"""What an escalation step does to a stored order: remind, reassign to a senior role, tell the manager.

`ticketing.escalation.EscalationScheduler` decides when a step is due; `EscalationResponder` is its
callback. A ``reassign`` step hands the order to the least-loaded engineer of the step's role at the
site (through `ServiceDesk`, so it is audited and adapters hear of it); every step then sends its
e-mail and leaves a comment ``escalation <step key>: …`` on the order. That comment is how a restarted
service knows which steps already fired (`fired_steps`), so no one is reminded twice.
"""

from __future__ import annotations

from faultline.ticketing.adapters.mail import EmailAdapter
from faultline.ticketing.assignment import Assigner
from faultline.ticketing.config import TicketingConfig
from faultline.ticketing.escalation import EscalationAction, EscalationScheduler
from faultline.ticketing.lifecycle import SYSTEM, ServiceDesk
from faultline.ticketing.models import OrderEvent, Status, WorkOrder
from faultline.ticketing.roles import Role

_PREFIX = "escalation "


def fired_steps(order: WorkOrder) -> set[str]:
    """Keys of the escalation steps already done for ``order`` (its escalation records, and the
    comments orders escalated by earlier versions carry)."""
    # the comment reads "escalation <key>: <what happened>"; keys contain ':' but never ': '
    since = order.sla_started_at  # a reopened order escalates afresh: earlier visits' steps do not count
    return {e.key for e in order.escalations} | {
        c.text[len(_PREFIX) :].split(": ", 1)[0]
        for c in order.comments
        if c.author == SYSTEM.name and c.text.startswith(_PREFIX) and (since is None or c.at >= since)
    }


class EscalationResponder:
    """The scheduler's ``on_escalation(order_id, action)``: acts on the stored order and records the step.

    The step is its own audited change (``escalate``), so the notification dispatcher, which reads the
    audit log, mails and posts it durably. With a ``mailer`` the notice is also sent at once (the
    older, direct path); then a failure (SMTP down) raises and the scheduler tries the step again.
    """

    def __init__(self, desk: ServiceDesk, config: TicketingConfig, mailer: EmailAdapter | None = None):
        self.desk, self.config, self.mailer = desk, config, mailer

    def __call__(self, order_id: int, action: EscalationAction) -> None:
        order = self.desk.store.get(order_id)
        if action.action == "reassign":
            senior = self._senior(order, action.role)
            if senior is not None and senior != order.assignee:
                order = self.desk.act(order_id, SYSTEM, "assign", engineer=senior)
        sent = self.mailer.notify_escalation(order, action.action, action.role, action.fraction) if self.mailer else []
        what = "target passed" if action.action == "breach" else action.action.replace("_", " ")
        self.desk.act(
            order_id,
            SYSTEM,
            "escalate",
            key=action.key,
            of=action.step.of,
            step=action.action,
            fraction=action.fraction,
            role=action.role.value if action.role else None,
            text=f"{_PREFIX}{action.key}: {action.fraction:.0%} of the {action.step.of} target used; "
            f"{what}" + (f", mailed {', '.join(sent)}" if sent else ""),
        )

    def _senior(self, order: WorkOrder, role: Role | None) -> str | None:
        rules = self.config.assignment.model_copy(update={"roles": [role], "max_open_per_engineer": None})
        return Assigner(
            rules, self.config.engineers, self.desk.store.open_orders_per_assignee, self.config.permissions
        ).choose(order)

    def watch(self, scheduler: EscalationScheduler) -> int:
        """Track every unfinished order of the store in ``scheduler`` (after a restart, say); returns how many."""
        tracker = EscalationTracker(scheduler, self.config)
        return sum(tracker.follow(order) for order in self.desk.store.orders())


class EscalationTracker:
    """An adapter that keeps a scheduler's view of each order current.

    The scheduler judges the copy of an order it was given; after an acknowledgement, a hold or a
    priority change that copy is stale, and response steps would still fire. Put this among the
    adapters (``Notifier([tracker, …])``) so every change re-tracks the order, and a resolved or
    closed one is dropped.
    """

    def __init__(self, scheduler: EscalationScheduler, config: TicketingConfig):
        self.scheduler, self.config = scheduler, config

    def follow(self, order: WorkOrder) -> bool:
        """Track ``order`` as it now stands; False (and forgotten) once it is resolved or closed."""
        if order.status in (Status.RESOLVED, Status.CLOSED):
            self.scheduler.forget(order.id)
            return False
        policy = self.config.policy_for(order.priority, order.service_type, order.site)
        self.scheduler.track(order.id, order, self.config.sla_clock(order.site, policy), fired=fired_steps(order))
        return True

    def on_event(self, event: OrderEvent) -> None:
        self.follow(event.order)
