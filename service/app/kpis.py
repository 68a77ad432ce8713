"""``/api/v1/kpis``: MTTA, MTTR, SLA compliance, first-time fix, false alarms per rule, backlog, repeats."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from faultline.service.app.deps import ClockDep, OrdersDep, Reader, TicketingDep
from faultline.service.app.errors import Time
from faultline.ticketing.kpis import kpis_from_store, on_time_targets_of

router = APIRouter(prefix="/api/v1/kpis", tags=["kpis"])


@router.get("")
def kpis(
    orders: OrdersDep,
    clock: ClockDep,
    catalogue: TicketingDep,
    who: Reader,
    since: Time | None = None,
    until: Time | None = None,
    repeat_threshold: Annotated[int, Query(ge=2, le=1_000_000)] = 3,
) -> dict[str, Any]:
    """KPIs of the orders opened in ``[since, until)`` (default: the last 30 days), as
    ``ticketing.kpis.Kpis.as_json`` gives them (hours and percentages)."""
    now = clock.now()
    end = until or now
    start = since or end - timedelta(days=30)
    for name, value in (("since", start), ("until", end)):
        if value.tzinfo is None:
            raise HTTPException(422, detail=f"{name} {value.isoformat()} has no time zone (add Z or +01:00)")
    if end <= start:
        raise HTTPException(
            422, detail=f"the period must end after it starts ({start.isoformat()} .. {end.isoformat()})"
        )
    return kpis_from_store(orders, start, end, now, repeat_threshold, on_time_targets_of(catalogue)).as_json()
