"""``/api/v1/assets``: every asset seen or configured, with its newest readings and status."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException

from faultline.vocabulary import SEVERITIES
from faultline.service.app.deps import DetectionDep, OrdersDep, Reader, TicketingDep
from faultline.service.app.schemas import AssetOut, LatestReading
from faultline.service.runtime import Detection
from faultline.ticketing import TicketingConfig, WorkOrderStore
from faultline.ticketing.models import Status

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])


def asset_list(det: Detection, orders: WorkOrderStore, ticketing: TicketingConfig) -> list[AssetOut]:
    with det.lock:
        latest = dict(det.latest)
        active = list(det.active.values())
        config = det.engine.config
    names = {a for a, _ in latest} | set(config.assets)
    open_orders: dict[str, int] = {}
    for order in orders.orders():
        if order.status is not Status.CLOSED:
            open_orders[order.asset] = open_orders.get(order.asset, 0) + 1
    out = []
    for name in sorted(names):
        severities = [f["severity"] for f in active if f["asset"] == name]
        worst = max(severities, key=SEVERITIES.index) if severities else None
        readings = sorted(
            (
                LatestReading(sensor=s, ts=datetime.fromtimestamp(x.ts_ns / 1e9, tz=UTC), value=x.value)
                for (a, s), x in latest.items()
                if a == name
            ),
            key=lambda r: r.sensor,
        )
        site = next((x.site for (a, _), x in latest.items() if a == name and x.site), None)
        out.append(
            AssetOut(
                asset=name,
                site=config.asset(name).site or site,
                asset_class=config.asset(name).class_,
                criticality=ticketing.criticality_of(name).value,
                status="alarm" if severities else "ok",
                worst_severity=worst,
                open_work_orders=open_orders.get(name, 0),
                latest=readings,
            )
        )
    return out


@router.get("", response_model=list[AssetOut])
def list_assets(detection: DetectionDep, orders: OrdersDep, ticketing: TicketingDep, who: Reader) -> list[AssetOut]:
    """Every asset: site, class, criticality, status, open work orders and the newest reading per sensor."""
    return asset_list(detection, orders, ticketing)


@router.get("/{asset}", response_model=AssetOut, responses={404: {"description": "no such asset"}})
def get_asset(asset: str, detection: DetectionDep, orders: OrdersDep, ticketing: TicketingDep, who: Reader) -> AssetOut:
    for found in asset_list(detection, orders, ticketing):
        if found.asset == asset:
            return found
    raise HTTPException(404, detail=f"no asset {asset!r} has sent readings or is configured")
