"""``/api/v1/tokens``: create, list and revoke API tokens (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.app.deps import Admin, ClockDep, TokensDep
from service.app.errors import Id
from service.app.schemas import TokenIn, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenOut])
def list_tokens(tokens: TokensDep, who: Admin) -> list[TokenOut]:
    return [TokenOut(id=t.id, name=t.name, role=t.role.value, created_at=t.created_at) for t in tokens.list()]


@router.post("", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, tokens: TokensDep, clock: ClockDep, who: Admin) -> TokenOut:
    """A new token; the response carries the token text, which is never shown again."""
    try:
        record, token = tokens.create(body.role, body.name, clock.now())
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return TokenOut(id=record.id, name=record.name, role=record.role.value, created_at=record.created_at, token=token)


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: Id, tokens: TokensDep, clock: ClockDep, who: Admin) -> None:
    if not tokens.revoke(token_id, clock.now()):
        raise HTTPException(404, detail=f"no active token with id {token_id}")
