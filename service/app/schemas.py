"""The JSON the API sends and takes (these models are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from faultline.service.app.errors import Time
from faultline.ticketing.models import ServiceType, WorkOrder
from faultline.ticketing.roles import Role


class LatestReading(BaseModel):
    sensor: str
    ts: datetime
    value: float


class AssetOut(BaseModel):
    """An asset with its newest readings and status (``alarm`` while a finding is open, else ``ok``)."""

    asset: str
    site: str | None
    asset_class: str | None = None
    criticality: str
    status: Literal["ok", "alarm"]
    worst_severity: str | None = None
    open_work_orders: int
    latest: list[LatestReading]


class ReadingsOut(BaseModel):
    """Readings of one asset and sensor over ``[start, end)``; ``ts`` ISO 8601 UTC, same length as ``value``."""

    asset: str
    sensor: str
    start: datetime
    end: datetime
    ts: list[datetime]
    value: list[float]
    downsampled: bool = False
    thresholds: dict[str, Any] = Field(default_factory=dict, description="check name -> detector parameters")


class FindingOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    received_at: datetime
    order_id: int | None = None
    site: str | None
    asset: str
    sensor: str
    fault_mode: str
    severity: str
    score: float
    status: str
    started_at: datetime
    ended_at: datetime | None = None
    detector: str
    rule: str
    config_version: str
    thresholds: dict[str, Any]
    evidence: dict[str, Any]


# A work order as stored, plus its number and, unless closed, its SLA status now (time left per target);
# built field by field because WorkOrder.number is a property there.
if TYPE_CHECKING:

    class WorkOrderOut(WorkOrder):  # what create_model builds below, spelled out for the type checker
        number: str  # a field here, a property of WorkOrder
        sla: dict[str, Any] | None
else:
    WorkOrderOut = create_model(
        "WorkOrderOut",
        __doc__="A work order with its number (WO-000042) and its SLA status now (unless closed).",
        **{name: (f.annotation, f) for name, f in WorkOrder.model_fields.items()},
        number=(str, Field(description="the number people quote, e.g. WO-000042")),
        sla=(
            dict[str, Any] | None,
            Field(None, description="ticketing SlaStatus.as_json: left_s, percent, breached per target"),
        ),
    )


class ActionIn(BaseModel):
    """Arguments of a lifecycle step; each action uses its own (see the endpoint's description)."""

    model_config = ConfigDict(extra="forbid")

    engineer: str | None = Field(None, description="assign: to whom")
    reason: str | None = Field(None, description="hold: awaiting_parts or awaiting_customer; reopen: why")
    outcome: str | None = Field(None, description="resolve: fault_confirmed, false_alarm, no_fault_found, no_access")
    notes: str | None = Field(None, description="resolve: what was done")
    text: str | None = Field(None, description="comment: the text")
    priority: Literal["P1", "P2", "P3", "P4"] | None = Field(None, description="set_priority: P1..P4")
    service_type: ServiceType | None = Field(None, description="set_type: the class of job")
    fixed: bool | None = Field(None, description="feedback: did the close fix it (false reopens the order)")
    rating: int | None = Field(None, ge=1, le=5, description="feedback: 1 (poor) to 5 (excellent)")
    comment: str | None = Field(None, description="feedback: the requester's words")
    parts: list[str] | None = Field(
        None, description="hold awaiting_parts: the part numbers waited for (default: the order's parts still needed)"
    )
    number: str | None = Field(None, description="add_part, use_part: the part number")
    quantity: float | None = Field(None, gt=0, description="add_part, use_part: how many (default 1; use_part: all)")
    description: str | None = Field(None, description="add_part: what the part is")
    used: bool | None = Field(None, description="add_part: already fitted (default: needed)")


class AuditEntryOut(BaseModel):
    """One audited change: ``change`` is what it changed (``set`` fields, ``append`` list items);
    entries written before version 0004 of the store carry the whole order ``before`` and ``after``."""

    seq: int
    at: datetime
    actor: str
    action: str
    order_id: int | None = None
    change: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    prev_hash: str | None = None
    hash: str


class VersionOut(BaseModel):
    number: int
    digest: str
    status: str = Field(description="proposed, applied, superseded or shadow")
    note: str
    author: str
    created_at: datetime
    applied_at: datetime | None
    config: dict[str, Any]


class ReloadOut(BaseModel):
    previous: int = Field(description="the version in force before the reload")
    current: VersionOut = Field(description="the version in force now (the same when the file had no change)")
    changes: list[str] = Field(description="changed keys of the detectors section, each 'key: old -> new'")
    restart_needed: list[str] = Field(description="other sections that changed in the file; they apply at restart")


class DetectorsOut(BaseModel):
    current: VersionOut
    shadow: int | None = Field(None, description="the version running in shadow mode, if any")
    checks: list[str] = Field(description="check names in force")


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] = Field(description="the whole detectors section, as in the YAML file")
    note: str = ""


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Time | None = Field(None, description="default: 7 days before end")
    end: Time | None = Field(None, description="default: now")


class BacktestSide(BaseModel):
    config_version: str
    findings: int
    findings_by_fault_mode: dict[str, int]
    work_orders: list[dict[str, Any]]
    work_order_count: int
    sla_hours: float = Field(description="resolution hours the orders would have committed engineers to")
    episodes: list[dict[str, Any]]


class BacktestOut(BaseModel):
    start: datetime
    end: datetime
    readings: int
    series: int
    current: BacktestSide
    proposed: BacktestSide
    only_current: list[dict[str, Any]] = Field(description="work orders only the current configuration opens")
    only_proposed: list[dict[str, Any]] = Field(description="work orders only the proposal opens")


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    payload: str = Field(description="the bytes as text (UTF-8, undecodable bytes replaced)")
    payload_bytes: int
    reason: str
    stage: str


class ReplayOut(BaseModel):
    id: int
    replayed: bool
    detail: str


class _Expiry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_days: float | None = Field(None, gt=0, le=36_500, description="the token stops working after this")
    expires_at: Time | None = Field(None, description="or at this time (ISO 8601 with an offset)")

    def expiry(self, now: datetime) -> datetime | None:
        """When the token stops working, from whichever is given (both: an error)."""
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("give expires_in_days or expires_at, not both")
        if self.expires_in_days is not None:
            return now + timedelta(days=self.expires_in_days)
        return self.expires_at


class TokenIn(_Expiry):
    role: Role
    name: str = Field(min_length=1, max_length=100, pattern=r"\S", description="who or what uses the token")


class TokenRotateIn(_Expiry):
    """A rotation may set a new expiry; without one the token keeps its own."""


class TokenRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None = Field(None, description="none: never expires")
    revoked_at: datetime | None = None
    token: str | None = Field(None, description="shown once, when created or rotated")
