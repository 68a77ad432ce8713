"""One error body for the whole API, documented on every operation, and bounded ids.

Every error answer is ``{"detail": ...}``: a sentence naming the bad value, or (422 from request
validation) a list of issues ``{loc, msg, type}`` or sentences. `document_errors` writes that model
into the OpenAPI document for each status an operation can answer with, so a client (and the fuzz
test in ``tests/service/test_fuzz_api.py``) can rely on the document:

- every ``/api/v1`` operation: 401 (no or unknown token; the Bearer scheme is declared), 403 (the
  token's role may not do this) and 422 (a parameter or the body does not validate);
- with a path parameter: 404 (nothing has that id); with a body: 413 (over ``service.max_request_bytes``);
- 409 where a route declares it (``CONFLICT``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi._compat import field_annotation_is_sequence
from fastapi.routing import APIRoute
from fastapi.openapi.utils import get_openapi
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

#: Ids are SQL integers: anything past a signed 64-bit integer is no id, and is refused with a 422.
MAX_ID = 2**63 - 1
#: A numeric id in a path (an order, a token, a notification, a detector version).
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a positive integer id")]
#: The same as an optional query parameter.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

#: The times a reading can carry (int64 nanoseconds since 1970); a time outside them is refused, not
#: overflowed somewhere inside.
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 4, 11, tzinfo=UTC)


def _text_time(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError(f"{value!r} is a number, not a time: write ISO 8601, e.g. 2026-11-20T08:00:00Z")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value.replace(tzinfo=value.tzinfo or UTC) <= LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.date()} .. {LATEST.date()}")
    return value


_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")
#: A time in a query or a body: ISO 8601 text within `EARLIEST` .. `LATEST`.
Time = Annotated[datetime, BeforeValidator(_text_time), AfterValidator(_in_range)]


class ValidationIssue(BaseModel):
    """One thing wrong with a request: where (``loc``), what (``msg``) and its kind (``type``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The body of every error answer."""

    detail: str | list[ValidationIssue | str] = Field(
        description="why the request failed, naming the bad value; request validation gives a list of issues"
    )


def error(description: str) -> dict[str, Any]:
    """A ``responses=`` entry documenting an error status with `ErrorOut`."""
    return {"model": ErrorOut, "description": description}


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: error("the request conflicts with the current state (the detail says which)")
}
_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _body(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _REF}}}


def _document(operation: dict[str, Any], path: str) -> None:
    responses = operation.setdefault("responses", {})
    if path.startswith("/api/v1/"):
        operation["security"] = [{"bearer": []}]
        responses.setdefault("401", _body("no token, or one that is unknown, revoked or expired"))
        responses.setdefault("403", _body("the token's role may not do this (the detail names who may)"))
        responses["422"] = _body("a parameter or the body does not validate (the detail names it)")
    if "{" in path:
        responses.setdefault("404", _body("nothing has that id or name"))
    if "requestBody" in operation:
        responses.setdefault("400", _body("the body is not valid JSON"))
        responses.setdefault("413", _body("the request body is over service.max_request_bytes"))
        responses.setdefault("422", _body("the body does not validate (the detail names the bad field)"))
    for status, response in responses.items():
        if status[0] in "45" and path.startswith("/api/v1/"):
            response["content"] = {"application/json": {"schema": _REF}}


def _query_params(dependant) -> dict[str, Any]:
    """The query parameters an operation takes, its dependencies' included, by name."""
    found = {f.alias: f for f in dependant.query_params}
    for sub in dependant.dependencies:
        found.update(_query_params(sub))
    return found


def strict_query(request: Request) -> None:
    """422 for a query parameter the operation does not take, or one given twice that takes one value:
    a mistyped filter would otherwise be ignored silently and return everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1/"):
        return
    known = _query_params(route.dependant)
    given = request.query_params
    if unknown := sorted(set(given) - set(known)):
        raise HTTPException(
            422,
            detail=f"unknown query parameter {unknown[0]!r} (this operation takes: "
            f"{', '.join(sorted(known)) or 'none'})",
        )
    for name in set(given):
        if len(given.getlist(name)) > 1 and not field_annotation_is_sequence(known[name].field_info.annotation):
            raise HTTPException(
                422, detail=f"query parameter {name!r} is given {len(given.getlist(name))} times; it takes one value"
            )


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the statuses above with `ErrorOut` (and the Bearer scheme)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = doc.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(error_schema.pop("$defs", {}), ErrorOut=error_schema)
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "faultline tokens create --role ROLE"}
            }
            for path, operations in doc["paths"].items():
                for operation in operations.values():
                    _document(operation, path)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "CONFLICT",
    "ErrorOut",
    "Id",
    "IdQuery",
    "MAX_ID",
    "ValidationIssue",
    "document_errors",
    "error",
    "strict_query",
    "Time",
    "EARLIEST",
    "LATEST",
]
