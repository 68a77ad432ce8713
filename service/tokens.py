"""API tokens: a random secret per person or system, with one of the ticketing roles.

A token is ``flt_`` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored; a
secret that long needs no slow hash, since it cannot be guessed from a dictionary. The token is shown
once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from service.state import ServiceDb
from ticketing.roles import Role, parse_role

PREFIX = "flt_"


@dataclass(frozen=True)
class ApiToken:
    """A stored token (without its secret)."""

    id: int
    name: str
    role: Role
    created_at: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Creates, checks and revokes tokens in the service state file."""

    def __init__(self, db: ServiceDb):
        self.db = db

    def create(self, role: Role | str, name: str, at: datetime) -> tuple[ApiToken, str]:
        """A new token for ``role``; returns the record and the token text (shown only now)."""
        role = parse_role(role)
        if not name.strip():
            raise ValueError("a token needs a name (who or what uses it)")
        token = PREFIX + secrets.token_urlsafe(32)
        cur = self.db.execute("INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?,?,?,?)",
                              (name, role.value, _digest(token), at.isoformat()))
        return ApiToken(cur.lastrowid, name, role, at.isoformat()), token

    def verify(self, token: str) -> ApiToken | None:
        """The token's record, or None when it is unknown or revoked."""
        found = self.db.rows("SELECT id, name, role, created_at FROM api_tokens WHERE hash = ? AND revoked_at IS NULL",
                             (_digest(token),))
        if not found:
            return None
        row = found[0]
        return ApiToken(row["id"], row["name"], Role(row["role"]), row["created_at"])

    def list(self) -> list[ApiToken]:
        return [ApiToken(r["id"], r["name"], Role(r["role"]), r["created_at"])
                for r in self.db.rows("SELECT id, name, role, created_at FROM api_tokens WHERE revoked_at IS NULL "
                                      "ORDER BY id")]

    def revoke(self, token_id: int, at: datetime) -> bool:
        cur = self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                              (at.isoformat(), token_id))
        return cur.rowcount > 0


__all__ = ["ApiToken", "PREFIX", "TokenStore"]
