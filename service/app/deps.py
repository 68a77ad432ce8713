"""The app's dependencies as type aliases: a router asks for what it uses (``orders: OrdersDep``,
``detection: DetectionDep``, ``clock: ClockDep`` …) and who may call it (``who: Reader``, ``Tuner``,
``Admin``). ``RuntimeDep``, the whole runtime, is what the routers not yet narrowed still take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.app.auth import ADMINS, TUNERS, authenticate, require_role
from service.runtime import Detection, EventBus, Runtime
from service.state import ServiceDb
from service.tokens import ApiToken, TokenStore
from ticketing import Clock, TicketingConfig, WorkOrderStore


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _detection(request: Request) -> Detection:
    return request.app.state.runtime.detection


def _orders(request: Request) -> WorkOrderStore:
    return request.app.state.runtime.orders


def _findings(request: Request) -> ServiceDb:
    return request.app.state.runtime.db


def _bus(request: Request) -> EventBus:
    return request.app.state.runtime.bus


def _tokens(request: Request) -> TokenStore:
    return request.app.state.runtime.tokens


def _clock(request: Request) -> Clock:
    return request.app.state.runtime.clock


def _ticketing(request: Request) -> TicketingConfig:
    return request.app.state.runtime.ticketing


def _reader(request: Request) -> ApiToken:
    return authenticate(request)


def _stream_reader(request: Request) -> ApiToken:
    # EventSource in a browser cannot send headers: the event stream also takes ?token=
    return authenticate(request, allow_query_token=True)


def _tuner(request: Request) -> ApiToken:
    token = authenticate(request)
    require_role(token, TUNERS, "changing the detector configuration or replaying dead letters")
    return token


def _admin(request: Request) -> ApiToken:
    token = authenticate(request)
    require_role(token, ADMINS, "managing API tokens")
    return token


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
#: The live detection (engines, open alerts): what the alerts router needs, and nothing else.
DetectionDep = Annotated[Detection, Depends(_detection)]
#: The work-order store (orders, audit log, notification outbox).
OrdersDep = Annotated[WorkOrderStore, Depends(_orders)]
#: The service's state file: findings, detector versions.
FindingsDep = Annotated[ServiceDb, Depends(_findings)]
#: Live events for the server-sent event stream.
EventsDep = Annotated[EventBus, Depends(_bus)]
#: API tokens (hashed).
TokensDep = Annotated[TokenStore, Depends(_tokens)]
#: Where "now" comes from.
ClockDep = Annotated[Clock, Depends(_clock)]
#: The ticketing configuration in force (the service catalogue, roles, sites).
TicketingDep = Annotated[TicketingConfig, Depends(_ticketing)]
Reader = Annotated[ApiToken, Depends(_reader)]
StreamReader = Annotated[ApiToken, Depends(_stream_reader)]
Tuner = Annotated[ApiToken, Depends(_tuner)]
Admin = Annotated[ApiToken, Depends(_admin)]

__all__ = ["Admin", "ClockDep", "DetectionDep", "EventsDep", "FindingsDep", "OrdersDep", "Reader", "RuntimeDep",
           "StreamReader", "TicketingDep", "TokensDep", "Tuner"]
