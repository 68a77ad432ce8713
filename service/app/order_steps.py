"""``GET /api/v1/work-orders/{id}/steps``: which steps the caller may take on an order now, and why not.

The order page shows the steps the token's role allows and marks the others with the reason
ticketing would give (the lifecycle's or the permission matrix's), so an engineer on a phone sees
what they can do without trying each button.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from faultline.service.app.deps import OrdersDep, Reader, RuntimeDep
from faultline.service.app.errors import Id
from faultline.ticketing import OrderNotFound
from faultline.ticketing.lifecycle import step_refusals

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])


class StepOut(BaseModel):
    allowed: bool
    refused_by: str = ""  # "status" (not a step from here) or "role" (the permission matrix), when not allowed
    reason: str = ""


class StepsOut(BaseModel):
    name: str
    role: str
    steps: dict[str, StepOut]


@router.get("/{order_id}/steps", response_model=StepsOut, responses={404: {"description": "no such order"}})
def steps(order_id: Id, orders: OrdersDep, rt: RuntimeDep, who: Reader) -> StepsOut:
    """Each step (acknowledge, start, hold, resume, resolve, close, reopen, assign, set_priority,
    comment) with whether the token's holder may take it on this order now."""
    try:
        order = orders.get(order_id)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    refusals = step_refusals(order, who.role.value, rt.ticketing.permissions)
    return StepsOut(
        name=who.name,
        role=who.role.value,
        steps={
            a: StepOut(allowed=r is None, refused_by=r.by if r else "", reason=r.reason if r else "")
            for a, r in refusals.items()
        },
    )
