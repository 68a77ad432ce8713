"""Bearer tokens and roles: 401 says the token is missing or unknown, 403 says which role is needed."""

from __future__ import annotations

from fastapi import HTTPException, Request

from faultline.service.tokens import ApiToken
from faultline.ticketing.roles import Role

#: Every role may read.
READERS = frozenset(Role)
#: Who may apply, roll back and shadow detector configurations.
TUNERS = frozenset({Role.RELIABILITY_ENGINEER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, detail=reason, headers={"WWW-Authenticate": 'Bearer realm="faultline"'})


def authenticate(request: Request, allow_query_token: bool = False) -> ApiToken:
    """The caller's token from ``Authorization: Bearer …`` (or ``?token=`` where a browser cannot set headers)."""
    header = request.headers.get("authorization")
    token = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        token = value.strip()
    elif allow_query_token:
        token = request.query_params.get("token")
    if not token:
        raise unauthorized("missing token: send 'Authorization: Bearer <token>' (faultline tokens create)")
    found = request.app.state.runtime.tokens.verify(token)
    if found is None:
        raise unauthorized("unknown token (expired, revoked, mistyped or from another installation)")
    return found


def require_role(token: ApiToken, allowed: frozenset[Role], what: str) -> None:
    """403 naming the roles that may do ``what`` when ``token``'s role is not among them."""
    if token.role not in allowed:
        who = ", ".join(r.value for r in Role if r in allowed)
        raise HTTPException(
            403, detail=f"{what} needs the role {who}; this token ({token.name}) has {token.role.value}"
        )


__all__ = ["ADMINS", "READERS", "TUNERS", "authenticate", "require_role", "unauthorized"]
