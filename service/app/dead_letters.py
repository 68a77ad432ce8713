"""``/api/v1/dead-letters``: what ingest could not decode or store; replay decodes a payload again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from faultline.service.app.deps import Reader, RuntimeDep, Tuner
from faultline.service.app.errors import MAX_ID, Id
from faultline.service.app.schemas import DeadLetterOut, ReplayOut

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


def _out(record) -> DeadLetterOut:
    payload = bytes(record.payload)
    return DeadLetterOut(
        id=record.id,
        received_at=datetime.fromtimestamp(record.received_at / 1e9, tz=UTC),
        topic=record.topic,
        payload=payload[:4096].decode("utf-8", "replace"),
        payload_bytes=len(payload),
        reason=record.reason,
        stage=record.stage,
    )


@router.get("", response_model=list[DeadLetterOut])
def list_dead_letters(
    rt: RuntimeDep,
    who: Reader,
    stage: Literal["decode", "write"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[DeadLetterOut]:
    """Records oldest first; payloads shown as text, cut at 4 KiB."""
    return [_out(r) for r in rt.dead_letters.list(limit=limit, offset=offset, stage=stage)]


@router.post(
    "/{record_id}/replay",
    response_model=ReplayOut,
    responses={
        403: {"description": "needs a reliability engineer or an admin"},
        404: {"description": "no such record"},
    },
)
def replay(record_id: Id, rt: RuntimeDep, who: Tuner) -> ReplayOut:
    """Decode the stored payload again (after a fix of the decoder or the topic template). On success
    its readings go through the spool to the store and the detectors, and the record is deleted;
    otherwise it stays, and ``detail`` says why it still fails."""
    record = rt.dead_letters.get(record_id)
    if record is None:
        raise HTTPException(404, detail=f"no dead letter with id {record_id}")
    ok, detail = rt.replay_dead_letter(record)
    return ReplayOut(id=record_id, replayed=ok, detail=detail)
