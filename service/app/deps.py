"""The app's dependencies as type aliases: a router asks for what it uses (``orders: OrdersDep``,
``detection: DetectionDep``, ``clock: ClockDep`` …) and who may call it (``who: Reader``, ``Tuner``,
``Admin``). Each provider hands out one part the composition root built (`service.compose`), so no
router holds the whole runtime. ``RuntimeDep`` remains for the routers not yet narrowed."""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Request

from faultline.service.app.auth import ADMINS, TUNERS, authenticate, require_role
from faultline.service.readers import ReadingsReader
from faultline.service.runtime import Detection, EventBus, Runtime, ServiceMetrics
from faultline.service.state import ServiceDb
from faultline.service.tokens import ApiToken, TokenStore
from faultline.service.versions import DetectorVersions
from faultline.vocabulary import Clock
from faultline.ticketing import ServiceDesk, TicketingConfig, WorkOrderStore

#: What ``/readyz`` asks: each check's name and whether it passes.
Readiness = Callable[[], dict[str, bool]]


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _part(name: str):
    """A provider of the runtime's part ``name`` (typed by the alias that uses it)."""

    def provide(request: Request):
        return getattr(request.app.state.runtime, name)

    provide.__name__ = f"provide_{name}"
    return provide


def _reader(request: Request) -> ApiToken:
    return authenticate(request)


def _stream_reader(request: Request) -> ApiToken:
    # EventSource in a browser cannot send headers: the event stream also takes ?token=
    return authenticate(request, allow_query_token=True)


def _with_role(allowed, what: str) -> Callable[[Request], ApiToken]:
    """A provider of the caller's token that answers 403 unless its role is in ``allowed``."""

    def provide(request: Request) -> ApiToken:
        token = authenticate(request)
        require_role(token, allowed, what)
        return token

    return provide


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
#: The live detection (engines, open alerts, newest readings).
DetectionDep = Annotated[Detection, Depends(_part("detection"))]
#: Detector configuration versions: the one in force, apply, shadow mode.
VersionsDep = Annotated[DetectorVersions, Depends(_part("versions"))]
#: The work-order store (orders, audit log, notification outbox).
OrdersDep = Annotated[WorkOrderStore, Depends(_part("orders"))]
#: Lifecycle steps on stored orders, permission-checked.
DeskDep = Annotated[ServiceDesk, Depends(_part("desk"))]
#: Sites, calendars, SLA policies, criticality.
TicketingDep = Annotated[TicketingConfig, Depends(_part("ticketing"))]
#: Stored readings (InfluxDB or the embedded store).
ReadingsDep = Annotated[ReadingsReader, Depends(_part("reader"))]
#: The service state file: findings, detector versions.
FindingsDep = Annotated[ServiceDb, Depends(_part("db"))]
#: Live events for the server-sent event stream.
EventsDep = Annotated[EventBus, Depends(_part("bus"))]
#: API tokens (hashed).
TokensDep = Annotated[TokenStore, Depends(_part("tokens"))]
#: Every stage's Prometheus metrics.
MetricsDep = Annotated[ServiceMetrics, Depends(_part("metrics"))]
#: The readiness checks.
ReadinessDep = Annotated[Readiness, Depends(_part("ready"))]
#: Where "now" comes from.
ClockDep = Annotated[Clock, Depends(_part("clock"))]
Reader = Annotated[ApiToken, Depends(_reader)]
StreamReader = Annotated[ApiToken, Depends(_stream_reader)]
Tuner = Annotated[
    ApiToken, Depends(_with_role(TUNERS, "changing the detector configuration or replaying dead letters"))
]
Admin = Annotated[ApiToken, Depends(_with_role(ADMINS, "managing API tokens"))]

__all__ = [
    "Admin",
    "ClockDep",
    "DeskDep",
    "DetectionDep",
    "EventsDep",
    "FindingsDep",
    "MetricsDep",
    "OrdersDep",
    "Readiness",
    "ReadinessDep",
    "Reader",
    "ReadingsDep",
    "RuntimeDep",
    "StreamReader",
    "TicketingDep",
    "TokensDep",
    "Tuner",
    "VersionsDep",
]
