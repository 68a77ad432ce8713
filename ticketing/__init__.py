"""Work orders with SLA deadlines that engineers can act on.

SLA half: business calendars, SLA policies and clocks, escalation, roles, the ``ticketing:``
configuration section. (Clocks and severities are shared vocabulary: `faultline.vocabulary`.) Work-order half: the `WorkOrder` model, its
lifecycle (`Lifecycle`, `ServiceDesk`), the intake of findings (`FindingIntake`), assignment, the
store (`WorkOrderStore`, SQLite or PostgreSQL) with its hash-chained audit log, adapters (webhook,
e-mail; ``ticketing.adapters``) and KPIs.
"""

from faultline.ticketing.calendar import AlwaysOpen, BusinessCalendar, Calendar, parse_span
from faultline.ticketing.config import Criticality, TicketingConfig, UnknownName, default_ticketing_config
from faultline.ticketing.escalation import EscalationAction, EscalationScheduler, due_escalations, next_escalation
from faultline.ticketing.roles import Action, PermissionDenied, PermissionMatrix, Role, check
from faultline.ticketing.assignment import Assigner
from faultline.ticketing.audit import AuditBreak, AuditEntry
from faultline.ticketing.findings import FindingIn, FindingIntake
from faultline.ticketing.kpis import Kpis, compute_kpis, kpis_from_store
from faultline.ticketing.lifecycle import (
    SYSTEM,
    Actor,
    InvalidTransition,
    Lifecycle,
    Notifier,
    ServiceDesk,
    config_deadlines,
)
from faultline.ticketing.models import (
    ChecklistItem,
    Comment,
    Evidence,
    HoldPeriod,
    HoldReason,
    OrderEvent,
    Outcome,
    ServiceType,
    Status,
    WorkOrder,
)
from faultline.ticketing.responders import EscalationResponder, EscalationTracker
from faultline.ticketing.store import DuplicateOpenOrder, OrderNotFound, StoreError, WorkOrderStore
from faultline.ticketing.sla import (
    Deadlines,
    EscalationStep,
    Hold,
    SlaClock,
    SlaPolicy,
    SlaStatus,
    SlaTimeline,
    TargetStatus,
)

__all__ = [
    "Action",
    "AlwaysOpen",
    "BusinessCalendar",
    "Calendar",
    "Criticality",
    "Deadlines",
    "EscalationAction",
    "EscalationScheduler",
    "EscalationStep",
    "Hold",
    "PermissionDenied",
    "PermissionMatrix",
    "Role",
    "SlaClock",
    "SlaPolicy",
    "SlaStatus",
    "SlaTimeline",
    "TargetStatus",
    "TicketingConfig",
    "UnknownName",
    "check",
    "default_ticketing_config",
    "due_escalations",
    "next_escalation",
    "parse_span",
    # work orders
    "Actor",
    "Assigner",
    "AuditBreak",
    "AuditEntry",
    "ChecklistItem",
    "Comment",
    "DuplicateOpenOrder",
    "EscalationResponder",
    "EscalationTracker",
    "Evidence",
    "FindingIn",
    "FindingIntake",
    "HoldPeriod",
    "HoldReason",
    "InvalidTransition",
    "Kpis",
    "Lifecycle",
    "Notifier",
    "OrderEvent",
    "OrderNotFound",
    "Outcome",
    "SYSTEM",
    "ServiceDesk",
    "ServiceType",
    "Status",
    "StoreError",
    "WorkOrder",
    "WorkOrderStore",
    "compute_kpis",
    "config_deadlines",
    "kpis_from_store",
]
