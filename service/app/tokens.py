"""``/api/v1/tokens``: create, list, rotate, change the role of and revoke API tokens (admin only).

Revoking the last admin token that works, or giving it another role, is refused with a 409: an
installation can never lock its admins out.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from faultline.service.app.deps import Admin, ClockDep, TokensDep
from faultline.service.app.errors import CONFLICT, Id
from faultline.service.app.schemas import TokenIn, TokenOut, TokenRoleIn, TokenRotateIn
from faultline.service.tokens import ApiToken, LastAdmin, NoSuchToken

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


def _out(record: ApiToken, token: str | None = None) -> TokenOut:
    return TokenOut(
        id=record.id,
        name=record.name,
        role=record.role.value,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        token=token,
    )


@router.get("", response_model=list[TokenOut])
def list_tokens(tokens: TokensDep, who: Admin, include_revoked: bool = False) -> list[TokenOut]:
    """Every token (its secret is never shown again), with its expiry; revoked ones when asked."""
    return [_out(t) for t in tokens.list(include_revoked)]


@router.post("", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, tokens: TokensDep, clock: ClockDep, who: Admin) -> TokenOut:
    """A new token; the response carries the token text, which is never shown again."""
    try:
        record, token = tokens.create(body.role, body.name, clock.now(), body.expiry(clock.now()))
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return _out(record, token)


@router.post("/{token_id}/rotate", response_model=TokenOut)
def rotate_token(
    token_id: Id, tokens: TokensDep, clock: ClockDep, who: Admin, body: TokenRotateIn | None = None
) -> TokenOut:
    """A new secret for the token (the old one stops working now); the response carries it, once."""
    try:
        record, token = tokens.rotate(token_id, clock.now(), body.expiry(clock.now()) if body else None)
    except NoSuchToken as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return _out(record, token)


@router.patch("/{token_id}", response_model=TokenOut, responses=CONFLICT)
def set_token_role(token_id: Id, body: TokenRoleIn, tokens: TokensDep, who: Admin) -> TokenOut:
    """Give the token another role (409 when that would demote the last admin)."""
    try:
        return _out(tokens.set_role(token_id, body.role))
    except NoSuchToken as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except LastAdmin as exc:
        raise HTTPException(409, detail=str(exc)) from None


@router.delete("/{token_id}", status_code=204, responses=CONFLICT)
def revoke_token(token_id: Id, tokens: TokensDep, clock: ClockDep, who: Admin) -> None:
    """Revoke the token (409 when it is the last admin token that works)."""
    try:
        tokens.revoke(token_id, clock.now())
    except NoSuchToken as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except LastAdmin as exc:
        raise HTTPException(409, detail=str(exc)) from None
