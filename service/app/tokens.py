"""``/api/v1/tokens``: create, list and revoke API tokens (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.app.deps import Admin, RuntimeDep
from service.app.schemas import TokenIn, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenOut])
def list_tokens(rt: RuntimeDep, who: Admin) -> list[TokenOut]:
    return [TokenOut(id=t.id, name=t.name, role=t.role.value, created_at=t.created_at) for t in rt.tokens.list()]


@router.post("", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, rt: RuntimeDep, who: Admin) -> TokenOut:
    """A new token; the response carries the token text, which is never shown again."""
    try:
        record, token = rt.tokens.create(body.role, body.name, rt.clock.now())
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return TokenOut(id=record.id, name=record.name, role=record.role.value, created_at=record.created_at, token=token)


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: int, rt: RuntimeDep, who: Admin) -> None:
    if not rt.tokens.revoke(token_id, rt.clock.now()):
        raise HTTPException(404, detail=f"no active token with id {token_id}")
