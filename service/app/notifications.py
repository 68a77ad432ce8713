"""``/api/v1/notifications``: every webhook and e-mail delivery of the outbox, with its status
(``pending``, ``delivered``, ``dead``), attempts and last error — where a dead delivery shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.app.deps import OrdersDep, Reader

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


@router.get("", response_model=list[NotificationOut])
def list_notifications(orders: OrdersDep, who: Reader,
                       status: Literal["pending", "delivered", "dead"] | None = None, order_id: int | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    """Deliveries newest first; ``status=dead`` lists what could not be delivered and why."""
    return orders.notifications(status=status, order_id=order_id, limit=limit)
