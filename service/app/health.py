"""``/healthz`` (the process answers), ``/readyz`` (broker, store and work-order DB) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from faultline.service.app.deps import MetricsDep, ReadinessDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is not ready; the body names it"}})
def readyz(ready: ReadinessDep):
    """Ready: broker connected (when ingesting), store reachable, work-order DB open."""
    checks = ready()
    ok = all(checks.values())
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics of every stage (ingest, detectors, work orders, escalation)."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
