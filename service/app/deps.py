"""The app's dependencies as type aliases: ``rt: RuntimeDep``, ``who: Reader``, ``who: Tuner``, ``who: Admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.app.auth import ADMINS, TUNERS, authenticate, require_role
from service.runtime import Detection, Runtime
from service.tokens import ApiToken
from ticketing import WorkOrderStore


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _detection(request: Request) -> Detection:
    return request.app.state.runtime.detection


def _orders(request: Request) -> WorkOrderStore:
    return request.app.state.runtime.orders


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
Reader = Annotated[ApiToken, Depends(_reader)]
StreamReader = Annotated[ApiToken, Depends(_stream_reader)]
Tuner = Annotated[ApiToken, Depends(_tuner)]
Admin = Annotated[ApiToken, Depends(_admin)]

__all__ = ["Admin", "DetectionDep", "OrdersDep", "Reader", "RuntimeDep", "StreamReader", "Tuner"]
