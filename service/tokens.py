"""API tokens: a random secret per person or system, with one of the ticketing roles.

A token is ``flt_`` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored; a
secret that long needs no slow hash, since it cannot be guessed from a dictionary. The token is shown
once, when it is created or rotated.

A token may expire (``expires_at``); an expired or revoked token is refused like an unknown one.
Rotating gives a token a new secret (same id, name and role; the old secret stops working at once).
The last admin token that works cannot be revoked or given another role, so an installation can
never lock its admins out of its own API (`LastAdmin`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from faultline.service.state import ServiceDb
from faultline.vocabulary import Clock, SystemClock
from faultline.ticketing.roles import Role, parse_role

PREFIX = "flt_"


class LastAdmin(ValueError):
    """Raised when a change would leave no admin token that works."""


class NoSuchToken(LookupError):
    """Raised when no token that is not revoked has the given id."""


@dataclass(frozen=True)
class ApiToken:
    """A stored token (without its secret)."""

    id: int
    name: str
    role: Role
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None

    def works(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or datetime.fromisoformat(self.expires_at) > now)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(row) -> ApiToken:
    return ApiToken(row["id"], row["name"], Role(row["role"]), row["created_at"], row["expires_at"], row["revoked_at"])


_COLUMNS = "id, name, role, created_at, expires_at, revoked_at"


class TokenStore:
    """Creates, checks, lists, rotates and revokes tokens in the service state file."""

    def __init__(self, db: ServiceDb, clock: Clock | None = None):
        self.db = db
        self.clock = clock or SystemClock()

    def create(
        self, role: Role | str, name: str, at: datetime, expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """A new token for ``role``; returns the record and the token text (shown only now)."""
        role = parse_role(role)
        if not name.strip():
            raise ValueError("a token needs a name (who or what uses it)")
        expires = _expiry(expires_at, at)
        token = PREFIX + secrets.token_urlsafe(32)
        cur = self.db.execute(
            "INSERT INTO api_tokens (name, role, hash, created_at, expires_at) VALUES (?,?,?,?,?)",
            (name, role.value, _digest(token), at.isoformat(), expires),
        )
        assert cur.lastrowid is not None  # an INSERT sets it
        return ApiToken(cur.lastrowid, name, role, at.isoformat(), expires), token

    def verify(self, token: str) -> ApiToken | None:
        """The token's record, or None when it is unknown, revoked or expired."""
        found = self.db.rows(f"SELECT {_COLUMNS} FROM api_tokens WHERE hash = ?", (_digest(token),))
        if not found:
            return None
        record = _record(found[0])
        return record if record.works(self.clock.now()) else None

    def get(self, token_id: int) -> ApiToken:
        found = self.db.rows(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ? AND revoked_at IS NULL", (token_id,))
        if not found:
            raise NoSuchToken(f"no token with id {token_id} (or it was revoked)")
        return _record(found[0])

    def list(self, include_revoked: bool = False) -> list[ApiToken]:
        """Tokens by id; revoked ones only when asked (expired ones are listed: they can be rotated)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [_record(r) for r in self.db.rows(f"SELECT {_COLUMNS} FROM api_tokens{where} ORDER BY id")]

    def revoke(self, token_id: int, at: datetime) -> ApiToken:
        """Revoke a token; `LastAdmin` when it is the last admin token that works."""
        with self.db.lock:
            record = self.get(token_id)
            self._keep_an_admin(record, "revoke")
            self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (at.isoformat(), token_id))
        return self.get_any(token_id)

    def set_role(self, token_id: int, role: Role | str) -> ApiToken:
        """Give a token another role; `LastAdmin` when that demotes the last admin token that works."""
        role = parse_role(role)
        with self.db.lock:
            record = self.get(token_id)
            if role is not Role.ADMIN:
                self._keep_an_admin(record, f"make {role.value}")
            self.db.execute("UPDATE api_tokens SET role = ? WHERE id = ?", (role.value, token_id))
        return self.get(token_id)

    def rotate(self, token_id: int, at: datetime, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
        """A new secret for the token (the old one stops working now), and a new expiry if given."""
        token = PREFIX + secrets.token_urlsafe(32)
        with self.db.lock:
            record = self.get(token_id)
            expires = _expiry(expires_at, at) if expires_at is not None else record.expires_at
            self.db.execute(
                "UPDATE api_tokens SET hash = ?, expires_at = ? WHERE id = ?", (_digest(token), expires, token_id)
            )
        return self.get(token_id), token

    def get_any(self, token_id: int) -> ApiToken:
        found = self.db.rows(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,))
        if not found:
            raise NoSuchToken(f"no token with id {token_id}")
        return _record(found[0])

    def _keep_an_admin(self, record: ApiToken, what: str) -> None:
        now = self.clock.now()
        if record.role is not Role.ADMIN or not record.works(now):
            return
        others = [t for t in self.list() if t.role is Role.ADMIN and t.id != record.id and t.works(now)]
        if not others:
            raise LastAdmin(
                f"cannot {what} token {record.id} ({record.name}): it is the last admin token that "
                "works; create another admin token first"
            )


def _expiry(expires_at: datetime | None, now: datetime) -> str | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ValueError(f"expiry {expires_at.isoformat()} has no time zone")
    if expires_at <= now:
        raise ValueError(f"expiry {expires_at.isoformat()} is not in the future")
    return expires_at.astimezone(UTC).isoformat()


__all__ = ["ApiToken", "LastAdmin", "NoSuchToken", "PREFIX", "TokenStore"]
