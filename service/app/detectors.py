"""``/api/v1/detectors``: the configuration in force, proposals, backtest, apply, roll back, shadow mode.

Every configuration ever proposed or applied is kept as a numbered version. A proposal changes
nothing until it is applied; it can be backtested over stored history, or run in shadow mode beside
the live configuration, recording what it would have reported without opening work orders.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException
from pydantic import ValidationError

from detectors import DetectorsConfig
from service.app.deps import Reader, RuntimeDep, Tuner
from service.app.errors import CONFLICT, Id
from service.app.schemas import BacktestIn, BacktestOut, DetectorsOut, ProposalIn, VersionOut
from service.settings import describe_errors

router = APIRouter(prefix="/api/v1/detectors", tags=["detectors"])


def _version(rt, number: int) -> dict:
    found = rt.db.version(number)
    if found is None:
        raise HTTPException(404, detail=f"no detector configuration version {number}")
    return found


@router.get("", response_model=DetectorsOut)
def current(rt: RuntimeDep, who: Reader) -> DetectorsOut:
    """The version in force, its checks, and the version in shadow mode (if any)."""
    return DetectorsOut(current=VersionOut(**rt.current_version()), shadow=rt.detection.shadow_version,
                        checks=rt.detection.engine.check_names or sorted(
                            {n for c in rt.detection.engine.config.classes.values() for n in c.checks}))


@router.get("/versions", response_model=list[VersionOut])
def versions(rt: RuntimeDep, who: Reader) -> list[VersionOut]:
    """Every version, oldest first."""
    return [VersionOut(**v) for v in rt.db.versions()]


@router.get("/versions/{number}", response_model=VersionOut)
def version(number: Id, rt: RuntimeDep, who: Reader) -> VersionOut:
    return VersionOut(**_version(rt, number))


@router.post("/proposals", response_model=VersionOut, status_code=201,
             responses={422: {"description": "the configuration does not validate; each bad key is named"}})
def propose(body: ProposalIn, rt: RuntimeDep, who: Reader) -> VersionOut:
    """Record a proposed configuration (the whole ``detectors`` section) as a new version; nothing changes
    until it is applied. Anyone may propose; applying needs a reliability engineer or an admin."""
    try:
        config = DetectorsConfig.model_validate(body.config)
    except ValidationError as exc:
        raise HTTPException(422, detail=describe_errors(exc, body.config)) from None
    except ValueError as exc:
        raise HTTPException(422, detail=[str(exc)]) from None
    number = rt.db.add_version(config.model_dump(mode="json", by_alias=True), config.digest(), "proposed",
                               rt.clock.now(), note=body.note, author=who.name)
    return VersionOut(**rt.db.version(number))


@router.post("/proposals/{number}/backtest", response_model=BacktestOut)
def run_backtest(number: Id, rt: RuntimeDep, who: Reader, body: BacktestIn | None = None) -> BacktestOut:
    """Replay stored readings of ``[start, end)`` (default: the last 7 days) through the configuration in
    force and through version ``number``; compare findings, work orders and SLA hours."""
    from service.backtest import backtest

    proposal = _version(rt, number)
    now_version = rt.current_version()
    body = body or BacktestIn()
    end = body.end or rt.clock.now()
    start = body.start or end - timedelta(days=7)
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, detail="start and end need a time zone (add Z or +01:00)")
    if end <= start:
        raise HTTPException(422, detail=f"end {end.isoformat()} must be after start {start.isoformat()}")
    result = backtest(rt.reader, (DetectorsConfig.model_validate(now_version["config"]), f"v{now_version['number']}"),
                      (DetectorsConfig.model_validate(proposal["config"]), f"v{number}"), rt.ticketing, start, end)
    return BacktestOut(**result)


@router.post("/proposals/{number}/apply", response_model=VersionOut)
def apply(number: Id, rt: RuntimeDep, who: Tuner) -> VersionOut:
    """Make version ``number`` live. Checks it leaves unchanged keep their state and open alerts."""
    _version(rt, number)
    return VersionOut(**rt.apply_version(number))


@router.post("/rollback", response_model=VersionOut, responses=CONFLICT)
def rollback(rt: RuntimeDep, who: Tuner) -> VersionOut:
    """Apply again the version that was in force before the current one (itself kept as a version)."""
    current_number = rt.current_version()["number"]
    earlier = [v for v in rt.db.versions() if v["applied_at"] and v["number"] != current_number]
    if not earlier:
        raise HTTPException(409, detail="no earlier applied version to roll back to")
    previous = max(earlier, key=lambda v: v["applied_at"])
    return VersionOut(**rt.apply_version(previous["number"]))


@router.post("/proposals/{number}/shadow", response_model=DetectorsOut, responses=CONFLICT)
def start_shadow(number: Id, rt: RuntimeDep, who: Tuner) -> DetectorsOut:
    """Run version ``number`` live beside the current one; its findings are recorded
    (``/api/v1/findings?shadow=true``, with what it would have done) and open no work orders."""
    version = _version(rt, number)
    if version["status"] == "applied":
        raise HTTPException(409, detail=f"version {number} is the live configuration already")
    rt.start_shadow(number)
    return current(rt, who)


@router.delete("/shadow", response_model=DetectorsOut)
def stop_shadow(rt: RuntimeDep, who: Tuner) -> DetectorsOut:
    rt.stop_shadow()
    return current(rt, who)
