"""``/api/v1/catalogue``: the service catalogue in force, and putting a new one in force (admin).

A new catalogue is validated with the rest of the ticketing configuration before it replaces the old
one (422 naming the problem, nothing changed), and the change is recorded in the audit log. ``kill
-HUP`` on ``faultline run`` does the same from the configuration file.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from faultline.service.app.auth import ADMINS, require_role
from faultline.service.app.deps import Reader, RuntimeDep, TicketingDep

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"])


class CatalogueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: dict[str, dict[str, Any]] = Field(
        description="the policies, as under ticketing.policies in the YAML file"
    )
    escalation: list[dict[str, Any]] | None = Field(None, description="the default escalation chain (optional)")


class CatalogueOut(BaseModel):
    policies: dict[str, dict[str, Any]]
    escalation: list[dict[str, Any]]


def _out(config) -> CatalogueOut:
    data = config.model_dump(mode="json")
    return CatalogueOut(policies=data["policies"], escalation=data["escalation"])


@router.get("", response_model=CatalogueOut)
def catalogue(config: TicketingDep, who: Reader) -> CatalogueOut:
    """The services in force: targets per priority and site, calendars, on-time targets, escalation."""
    return _out(config)


@router.put("", response_model=CatalogueOut)
def replace(body: CatalogueIn, rt: RuntimeDep, who: Reader) -> CatalogueOut:
    """Validate a new catalogue and put it in force without a restart (admin only; audited)."""
    require_role(who, ADMINS, "changing the service catalogue")
    try:
        return _out(rt.reload_catalogue(body.model_dump(exclude_none=True), who.name))
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
