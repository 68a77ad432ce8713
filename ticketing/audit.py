"""The append-only audit log of work-order changes, hash-chained so that tampering shows.

Each entry's ``hash`` is SHA-256 over the previous entry's hash followed by the canonical JSON of the
entry itself (sequence number, time, actor, action, order id, the order before and after). Changing,
deleting or reordering any stored entry breaks the chain from that entry on, and `verify` names the
first broken link. The store also keeps the newest hash in a one-row head table, so dropping the
newest entries is caught too. An attacker who can rewrite the whole table *and* the head can forge a
consistent chain; export the head hash elsewhere (a log, a ticket) if that matters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

#: The hash the first entry chains from.
GENESIS = "0" * 64


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: one text per value, so its hash is stable."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: who did what to which order, when, and the order before and after.

    ``before`` and ``after`` are canonical JSON texts (``before`` is None for a new order); they are
    kept as text so that the database cannot reformat what was hashed.
    """

    seq: int
    at: datetime
    actor: str
    action: str
    order_id: int | None
    before: str | None
    after: str | None
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The fields the hash covers."""
        return {"seq": self.seq, "at": _utc_iso(self.at), "actor": self.actor, "action": self.action,
                "order_id": self.order_id, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class AuditBreak:
    """The first entry whose hash does not follow from the chain, and why."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit chain broken at entry {self.seq}: {self.reason}"


def _utc_iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 hex of the previous hash followed by the canonical JSON of an entry's body."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def new_entry(prev_seq: int, prev_hash: str, *, at: datetime, actor: str, action: str,
              order_id: int | None, before: Any, after: Any) -> AuditEntry:
    """The entry that follows ``prev_seq``/``prev_hash``; ``before``/``after`` are JSON-ready data."""
    if at.tzinfo is None:
        raise ValueError(f"audit time {at!r} is naive: pass a timezone-aware time")
    draft = AuditEntry(prev_seq + 1, at, actor, action, order_id,
                       None if before is None else canonical_json(before),
                       None if after is None else canonical_json(after), prev_hash, "")
    return AuditEntry(**{**_fields(draft), "hash": chain_hash(prev_hash, draft.body())})


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AuditEntry.__slots__}


def verify(entries: Iterable[AuditEntry], head: tuple[int, str] | None = None) -> AuditBreak | None:
    """Walk the chain in sequence order; return the first broken link, or None when it is intact.

    Parameters
    ----------
    entries
        All entries, oldest first.
    head
        The ``(seq, hash)`` the store recorded as newest; when given, a chain that ends earlier
        (newest entries deleted) or elsewhere is reported as broken.
    """
    prev_seq, prev_hash = 0, GENESIS
    for entry in entries:
        if entry.seq != prev_seq + 1:
            return AuditBreak(entry.seq, f"expected entry {prev_seq + 1} next (entries missing or reordered)")
        if entry.prev_hash != prev_hash:
            return AuditBreak(entry.seq, "prev_hash does not match the previous entry's hash")
        if chain_hash(prev_hash, entry.body()) != entry.hash:
            return AuditBreak(entry.seq, "content does not match its hash (entry was altered)")
        prev_seq, prev_hash = entry.seq, entry.hash
    if head is not None and head != (prev_seq, prev_hash):
        return AuditBreak(prev_seq + 1, f"log ends at entry {prev_seq} but the head records entry {head[0]}"
                                        " (newest entries deleted or head altered)")
    return None
