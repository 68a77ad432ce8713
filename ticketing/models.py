"""The work order and its parts: what an engineer receives, acts on and closes out.

A `WorkOrder` is a pydantic model so that it round-trips through JSON unchanged: the store keeps it
as one document (plus indexed columns for queries), the audit log records it before and after every
change, and adapters post it to other systems.

All times are timezone-aware UTC `datetime`s; a site's own offset is applied only when a time is
shown to a person.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field


class ServiceType(StrEnum):
    """The class of job in the service catalogue; each has its own SLA policy."""

    EMERGENCY_REPAIR = "emergency_repair"
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"
    INSPECTION = "inspection"
    SENSOR_CHECK = "sensor_check"  # the data is in doubt (a stuck or silent sensor), not the machine


class Status(StrEnum):
    """Where an order stands in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class HoldReason(StrEnum):
    """Why work stopped; the SLA clock does not run while an order waits for either."""

    AWAITING_PARTS = "awaiting_parts"
    AWAITING_CUSTOMER = "awaiting_customer"


class Outcome(StrEnum):
    """What the engineer found on site: the feedback that measures each detector rule's precision."""

    FAULT_CONFIRMED = "fault_confirmed"
    FALSE_ALARM = "false_alarm"
    NO_FAULT_FOUND = "no_fault_found"
    NO_ACCESS = "no_access"


#: Priorities from most to least urgent; the risk matrix in the configuration maps to these.
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")


def more_urgent(a: str, b: str) -> bool:
    """True when priority ``a`` is more urgent than ``b`` (``P1`` beats ``P2``)."""
    return PRIORITIES.index(a) < PRIORITIES.index(b)


class Evidence(BaseModel):
    """One finding attached to an order: what was seen, by which detector, rule and configuration."""

    sensor: str
    severity: str
    score: float
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    detector: str
    detector_version: str
    rule: str
    config_version: str
    thresholds: dict[str, Any] = Field(default_factory=dict)
    readings: dict[str, Any] = Field(default_factory=dict, description="summary of the readings window")
    received_at: AwareDatetime


#: Most findings an order keeps as evidence: the first few (how it started) and the latest.
EVIDENCE_LIMIT = 50
EVIDENCE_KEPT_FIRST = 10


class ChecklistItem(BaseModel):
    """A step the engineer should do; ``done`` stays None until the close-out says yes or no."""

    text: str
    done: bool | None = None
    note: str = ""


class Comment(BaseModel):
    author: str
    at: AwareDatetime
    text: str


class Attachment(BaseModel):
    """A photo, video or document on an order (``comment``: the 1-based comment it belongs to, if any).

    The bytes live outside the database (``ticketing.attachments``) under ``key``; ``sha256`` is
    their digest, recorded in the audit entry that added the attachment.
    """

    id: str
    name: str
    kind: str  # photo, video or document
    content_type: str
    size: int  # bytes
    sha256: str
    key: str
    thumbnail_key: str | None = None
    comment: int | None = None
    uploaded_by: str
    at: AwareDatetime


class Part(BaseModel):
    """A spare part on an order: ``needed`` while it is wanted, ``used`` once fitted."""

    number: str
    quantity: float = Field(gt=0)
    description: str = ""
    state: str = "needed"  # needed or used


class EscalationRecord(BaseModel):
    """An escalation step that fired on the order: which (``key``), on which target, and what it did."""

    key: str
    of: str
    action: str
    role: str | None = None
    fraction: float
    at: AwareDatetime


class HoldPeriod(BaseModel):
    """A stretch of time on hold; ``end`` is None while the order still waits."""

    reason: HoldReason
    start: AwareDatetime
    end: AwareDatetime | None = None
    parts: list[str] = Field(default_factory=list, description="awaiting parts: the part numbers waited for")


class Feedback(BaseModel):
    """The requester's word after a close: was it fixed, how well (1-5), and why (closed-loop service)."""

    visit: int = Field(ge=1, description="the visit it judges")
    by: str
    at: AwareDatetime
    fixed: bool
    rating: int = Field(ge=1, le=5)
    comment: str = ""


class Visit(BaseModel):
    """One visit of an order: from its opening (or a reopening) to its resolution, with its own SLA clock.

    A reopened order keeps its earlier visits in ``WorkOrder.visits``; the current one is the order's
    own times (`WorkOrder.current_visit`). KPIs judge every visit against its own deadlines, and a
    second visit counts against first-time fix.
    """

    number: int = Field(ge=1, description="1 for the first visit")
    service_type: ServiceType | None = Field(None, description="the class of job during the visit")
    started_at: AwareDatetime = Field(description="when the visit's SLA clock started (opened or reopened)")
    acknowledged_at: AwareDatetime | None = None
    work_started_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    outcome: Outcome | None = None
    response_due: AwareDatetime | None = None
    resolution_due: AwareDatetime | None = None
    holds: list[HoldPeriod] = Field(default_factory=list)
    escalations: list[EscalationRecord] = Field(default_factory=list)
    reopen_reason: str = Field("", description="why the visit after this one was needed")


class WorkOrder(BaseModel):
    """A job for an engineer: one per (site, asset, fault mode) while it is not closed.

    ``id`` is None until the store has saved the order; ``number`` is the id people quote.
    ``response_due`` and ``resolution_due`` are the SLA deadlines as of the last change (pushed back
    by time spent on hold, recomputed when the priority changes).
    """

    id: int | None = None
    site: str
    asset: str
    fault_mode: str
    service_type: ServiceType
    priority: str
    status: Status = Status.OPEN
    assignee: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    findings_received: int = 0
    checklist: list[ChecklistItem] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)
    escalations: list[EscalationRecord] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    parts: list[Part] = Field(default_factory=list)
    outcome: Outcome | None = None
    outcome_notes: str = ""
    opened_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    holds: list[HoldPeriod] = Field(default_factory=list)
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    reopened_at: list[AwareDatetime] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list, description="earlier visits, when the order was reopened")
    feedback: list[Feedback] = Field(default_factory=list, description="the requester's word after each close")
    response_due: AwareDatetime | None = None
    resolution_due: AwareDatetime | None = None
    version: int = 0

    @property
    def number(self) -> str:
        """The order number people quote, e.g. ``WO-000042``."""
        return f"WO-{self.id:06d}" if self.id is not None else "WO-(unsaved)"

    def add_evidence(self, evidence: Evidence) -> None:
        """Attach a finding, keeping the first `EVIDENCE_KEPT_FIRST` and the latest ones up to
        `EVIDENCE_LIMIT` in all. A condition that re-fires for weeks would otherwise grow the order
        (and every audit snapshot of it) without bound; each dropped finding stays in the audit entry
        that added it, and ``findings_received`` counts them all."""
        self.evidence.append(evidence)
        self.findings_received += 1
        if len(self.evidence) > EVIDENCE_LIMIT:
            del self.evidence[EVIDENCE_KEPT_FIRST]

    def event_id(self, audit_seq: int) -> str:
        """The id of the change recorded as audit entry ``audit_seq``: ``WO-000042.17``."""
        return f"{self.number}.{audit_seq}"

    @property
    def sla_started_at(self) -> AwareDatetime | None:
        """Where the SLA clock counts from when not the opening: the last reopening, if any."""
        return self.reopened_at[-1] if self.reopened_at else None

    def current_visit(self) -> Visit:
        """The visit in progress (or the last one), from the order's own times."""
        return Visit(
            number=len(self.visits) + 1,
            service_type=self.service_type,
            started_at=self.sla_started_at or self.opened_at,
            acknowledged_at=self.acknowledged_at,
            work_started_at=self.started_at,
            resolved_at=self.resolved_at,
            closed_at=self.closed_at,
            outcome=self.outcome,
            response_due=self.response_due,
            resolution_due=self.resolution_due,
            holds=[h.model_copy() for h in self.holds],
            escalations=[e.model_copy() for e in self.escalations],
        )

    def all_visits(self) -> list[Visit]:
        """Every visit, the first first; the last one is the current visit."""
        return [*self.visits, self.current_visit()]

    @property
    def hold_reason(self) -> HoldReason | None:
        """Why the order waits right now, or None when it is not on hold."""
        if self.status is Status.ON_HOLD and self.holds and self.holds[-1].end is None:
            return self.holds[-1].reason
        return None

    @property
    def detector(self) -> str | None:
        """The detector whose finding opened the order (None for an order made by hand)."""
        return self.evidence[0].detector if self.evidence else None

    @property
    def rule(self) -> str | None:
        """The alert rule whose finding opened the order."""
        return self.evidence[0].rule if self.evidence else None

    def snapshot(self) -> dict[str, Any]:
        """The order as plain JSON-ready data (what the store, the audit log and webhooks keep)."""
        return self.model_dump(mode="json")


class OrderEvent(BaseModel):
    """A change to an order as adapters see it; ``id`` is unique and stable (the idempotency key)."""

    id: str
    action: str
    actor: str
    at: AwareDatetime
    order: WorkOrder
    previous_status: Status | None = None
