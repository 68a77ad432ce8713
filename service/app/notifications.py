"""``/api/v1/notifications``: every webhook and e-mail delivery of the outbox, with its status
(``pending``, ``delivered``, ``dead``), attempts and last error — where a dead delivery shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from faultline.service.app.deps import ClockDep, OrdersDep, Reader, Tuner
from faultline.service.app.errors import Id, IdQuery

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    event_id: str
    kind: str
    channel: str
    recipient: str
    order_id: int | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str


@router.post(
    "/{notification_id}/retry",
    response_model=NotificationOut,
    responses={404: {"description": "no dead delivery with this id"}},
)
def retry(notification_id: Id, orders: OrdersDep, clock: ClockDep, who: Tuner) -> dict:
    """Send a dead delivery again (after the receiver was fixed): pending, with fresh attempts."""
    if not orders.retry_dead_notifications(clock.now(), notification_id):
        raise HTTPException(404, detail=f"no dead delivery with id {notification_id}")
    return next(n for n in orders.notifications(status="pending", limit=1000) if n["id"] == notification_id)


@router.get("", response_model=list[NotificationOut])
def list_notifications(
    orders: OrdersDep,
    who: Reader,
    status: Literal["pending", "delivered", "dead"] | None = None,
    order_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """Deliveries newest first; ``status=dead`` lists what could not be delivered and why."""
    return orders.notifications(status=status, order_id=order_id, limit=limit)
