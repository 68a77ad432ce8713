"""``/api/v1/engineers``: whom an order can be assigned to, for the work-order page's assign list.

The web pages needed it and the API had no such resource; it lives here, beside the pages, so the
API's own routers stay as they are. Names, roles, sites, skills and current workload — no e-mail
addresses.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from faultline.service.app.deps import Reader, RuntimeDep

router = APIRouter(prefix="/api/v1/engineers", tags=["engineers"])


class EngineerOut(BaseModel):
    name: str
    role: str
    sites: list[str]
    skills: list[str]
    open_orders: int  # orders assigned to them that are not yet resolved or closed


@router.get("", response_model=list[EngineerOut])
def engineers(rt: RuntimeDep, who: Reader, site: str | None = None) -> list[EngineerOut]:
    """The engineers of the ``ticketing:`` configuration (those working at ``site``, if given), with
    how many unresolved orders each holds."""
    load = rt.orders.open_orders_per_assignee()
    return [
        EngineerOut(name=e.name, role=e.role.value, sites=e.sites, skills=e.skills, open_orders=load.get(e.name, 0))
        for e in rt.ticketing.engineers
        if site is None or site in e.sites
    ]
