"""The app's dependencies as type aliases: ``rt: RuntimeDep``, ``who: Reader``, ``who: Tuner``, ``who: Admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.app.auth import ADMINS, TUNERS, authenticate, require_role
from service.runtime import Runtime
from service.tokens import ApiToken


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


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
Reader = Annotated[ApiToken, Depends(_reader)]
StreamReader = Annotated[ApiToken, Depends(_stream_reader)]
Tuner = Annotated[ApiToken, Depends(_tuner)]
Admin = Annotated[ApiToken, Depends(_admin)]

__all__ = ["Admin", "Reader", "RuntimeDep", "StreamReader", "Tuner"]
