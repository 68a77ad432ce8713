"""``/api/v1/detectors``: the configuration in force, proposals, backtest, apply, roll back, shadow mode.

Every configuration ever proposed or applied is kept as a numbered version. A proposal changes
nothing until it is applied; it can be backtested over stored history, or run in shadow mode beside
the live configuration, recording what it would have reported without opening work orders.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException
from pydantic import ValidationError

from faultline.detectors import DetectorsConfig
from faultline.service.app.deps import ClockDep, Reader, ReadingsDep, RuntimeDep, TicketingDep, Tuner, VersionsDep
from faultline.service.app.errors import CONFLICT, Id
from faultline.service.app.schemas import BacktestIn, BacktestOut, DetectorsOut, ProposalIn, ReloadOut, VersionOut
from faultline.service.settings import describe_errors
from faultline.service.versions import DetectorVersions

router = APIRouter(prefix="/api/v1/detectors", tags=["detectors"])


def _version(versions: DetectorVersions, number: int) -> dict:
    found = versions.version(number)
    if found is None:
        raise HTTPException(404, detail=f"no detector configuration version {number}")
    return found


@router.get("", response_model=DetectorsOut)
def current(versions: VersionsDep, who: Reader) -> DetectorsOut:
    """The version in force, its checks, and the version in shadow mode (if any)."""
    return _state(versions)


def _state(versions: DetectorVersions) -> DetectorsOut:
    return DetectorsOut(
        current=VersionOut(**versions.current()), shadow=versions.shadow_version, checks=versions.check_names()
    )


@router.get("/versions", response_model=list[VersionOut])
def list_versions(versions: VersionsDep, who: Reader) -> list[VersionOut]:
    """Every version, oldest first."""
    return [VersionOut(**v) for v in versions.versions()]


@router.get("/versions/{number}", response_model=VersionOut)
def version(number: Id, versions: VersionsDep, who: Reader) -> VersionOut:
    return VersionOut(**_version(versions, number))


@router.post(
    "/proposals",
    response_model=VersionOut,
    status_code=201,
    responses={422: {"description": "the configuration does not validate; each bad key is named"}},
)
def propose(body: ProposalIn, versions: VersionsDep, who: Reader) -> VersionOut:
    """Record a proposed configuration (the whole ``detectors`` section) as a new version; nothing changes
    until it is applied. Anyone may propose; applying needs a reliability engineer or an admin."""
    try:
        config = DetectorsConfig.model_validate(body.config)
    except ValidationError as exc:
        raise HTTPException(422, detail=describe_errors(exc, body.config)) from None
    except ValueError as exc:
        raise HTTPException(422, detail=[str(exc)]) from None
    return VersionOut(**versions.propose(config, body.note, who.name))


@router.post("/proposals/{number}/backtest", response_model=BacktestOut)
def run_backtest(
    number: Id,
    versions: VersionsDep,
    store: ReadingsDep,
    ticketing: TicketingDep,
    clock: ClockDep,
    who: Reader,
    body: BacktestIn | None = None,
) -> BacktestOut:
    """Replay stored readings of ``[start, end)`` (default: the last 7 days) through the configuration in
    force and through version ``number``; compare findings, work orders and SLA hours."""
    from faultline.service.backtest import backtest

    proposal = _version(versions, number)
    now_version = versions.current()
    body = body or BacktestIn()
    end = body.end or clock.now()
    start = body.start or end - timedelta(days=7)
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, detail="start and end need a time zone (add Z or +01:00)")
    if end <= start:
        raise HTTPException(422, detail=f"end {end.isoformat()} must be after start {start.isoformat()}")
    result = backtest(
        store,
        (DetectorsConfig.model_validate(now_version["config"]), f"v{now_version['number']}"),
        (DetectorsConfig.model_validate(proposal["config"]), f"v{number}"),
        ticketing,
        start,
        end,
    )
    return BacktestOut(**result)


@router.post("/proposals/{number}/apply", response_model=VersionOut)
def apply(number: Id, versions: VersionsDep, who: Tuner) -> VersionOut:
    """Make version ``number`` live. Checks it leaves unchanged keep their state and open alerts."""
    _version(versions, number)
    return VersionOut(**versions.apply(number))


@router.post("/rollback", response_model=VersionOut, responses=CONFLICT)
def rollback(versions: VersionsDep, who: Tuner) -> VersionOut:
    """Apply again the version that was in force before the current one (itself kept as a version)."""
    current_number = versions.current()["number"]
    earlier = [v for v in versions.versions() if v["applied_at"] and v["number"] != current_number]
    if not earlier:
        raise HTTPException(409, detail="no earlier applied version to roll back to")
    previous = max(earlier, key=lambda v: v["applied_at"])
    return VersionOut(**versions.apply(previous["number"]))


@router.post("/proposals/{number}/shadow", response_model=DetectorsOut, responses=CONFLICT)
def start_shadow(number: Id, versions: VersionsDep, who: Tuner) -> DetectorsOut:
    """Run version ``number`` live beside the current one; its findings are recorded
    (``/api/v1/findings?shadow=true``, with what it would have done) and open no work orders."""
    version = _version(versions, number)
    if version["status"] == "applied":
        raise HTTPException(409, detail=f"version {number} is the live configuration already")
    versions.start_shadow(number)
    return _state(versions)


@router.delete("/shadow", response_model=DetectorsOut)
def stop_shadow(versions: VersionsDep, who: Tuner) -> DetectorsOut:
    versions.stop_shadow()
    return _state(versions)


@router.post(
    "/reload",
    response_model=ReloadOut,
    responses={
        409: {"description": "the service was started without a configuration file"},
        422: {"description": "the file does not validate; each problem is named, nothing changed"},
    },
)
def reload(rt: RuntimeDep, who: Tuner) -> ReloadOut:
    """Read the configuration file again and apply its ``detectors:`` section (as SIGHUP does): a new
    version authored by the caller; checks the change leaves alone keep their state and open alerts.
    When the file does not validate the version in force stays and the answer names every problem.
    (The whole runtime: a reload reads every section of the file and compares it with the running one.)"""
    from faultline.service.reload import ReloadRejected, log_outcome, reload_detectors

    if rt.config_path is None:
        raise HTTPException(409, detail="the service was started without a configuration file; nothing to reload")
    try:
        outcome = reload_detectors(rt, rt.config_path, who.name)
    except ReloadRejected as exc:
        rt.metrics.config_reloads.labels("rejected").inc()
        raise HTTPException(
            422,
            detail={
                "message": f"not reloaded; v{rt.versions.current()['number']} stays in force",
                "problems": exc.problems,
            },
        ) from None
    log_outcome(rt, outcome, rt.config_path, who.name)
    return ReloadOut(
        previous=outcome.previous,
        current=VersionOut(**rt.versions.current()),
        changes=outcome.changes,
        restart_needed=outcome.restart_needed,
    )
