"""``/api/v1/findings``: what the detectors reported (newest first); ``shadow=true`` for shadow mode's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from faultline.service.app.deps import FindingsDep, Reader
from faultline.service.app.schemas import FindingOut

router = APIRouter(prefix="/api/v1/findings", tags=["findings"])


@router.get("", response_model=list[FindingOut])
def findings(
    db: FindingsDep,
    who: Reader,
    asset: str | None = None,
    shadow: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """Findings newest first, each with the work order it went to (live ones)."""
    return db.findings(asset=asset, shadow=shadow, limit=limit)
