"""``/api/v1/alerts``: the alerts open right now, and acknowledging them (what lets a latched alert clear).

An alert is what an alert rule holds open for one (asset, sensor, check); its findings go to the work
order. A *latched* rule (``latch: true``) keeps its alert open, even after the readings recover, until
it is acknowledged — here, or by resolving or closing the order of that asset and fault mode; then the
rule's hysteresis (``clear``) and flap suppression (``clear_after``) decide when it closes.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from faultline.service.app.deps import DetectionDep, Reader

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class AlertOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    site: str | None = None
    asset: str
    sensor: str
    fault_mode: str
    severity: str
    rule: str
    started_at: str


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset: str
    fault_mode: str | None = None


class AcknowledgedOut(BaseModel):
    asset: str
    fault_mode: str | None
    streams: int


@router.get("", response_model=list[AlertOut])
def list_alerts(detection: DetectionDep, who: Reader, asset: str | None = None) -> list[dict]:
    """The open alerts, most severe first (each with the latest finding's fields)."""
    with detection.lock:
        active = [a for a in detection.active.values() if asset is None or a["asset"] == asset]
    order = ("critical", "high", "medium", "low")
    return sorted(active, key=lambda a: (order.index(a["severity"]) if a["severity"] in order else 9, a["asset"]))


@router.post("/acknowledge", response_model=AcknowledgedOut, responses={404: {"description": "no such asset"}})
def acknowledge(body: AcknowledgeIn, detection: DetectionDep, who: Reader) -> AcknowledgedOut:
    """Acknowledge the alerts of an asset (of one fault mode, or all): latched ones may now clear."""
    streams = detection.acknowledge(body.asset, body.fault_mode)
    if not streams:
        raise HTTPException(
            404,
            detail=f"no checks watch asset {body.asset!r}"
            + (f" for fault mode {body.fault_mode!r}" if body.fault_mode else ""),
        )
    return AcknowledgedOut(asset=body.asset, fault_mode=body.fault_mode, streams=streams)
