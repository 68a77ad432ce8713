"""The append-only audit log of work-order changes, hash-chained so that tampering shows.

Each entry records what changed, not the whole order: ``change`` is ``{"set": {field: new value},
"append": {list field: [items added at its end]}}`` (the first entry of an order sets every field),
so six 500 kB comments add about 3 MB to the log, not a snapshot of the whole order per comment.
`replay` rebuilds every order from its entries, and the store checks that the live table agrees
(`ticketing.store.WorkOrderStore.verify_audit`). Entries written before this format carry the whole
order ``before`` and ``after`` instead; replay reads both.

Each entry's ``hash`` is SHA-256 over the previous entry's hash followed by the canonical JSON of the
entry itself (sequence number, time, actor, action, order id, and the change). Changing,
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
    """One change: who did what to which order, when, and what changed.

    ``change`` is the canonical JSON text of the change (see the module docstring); ``before`` and
    ``after`` are the whole order of entries written before changes were recorded (None since). All
    are kept as text so that the database cannot reformat what was hashed.
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
    change: str | None = None

    def body(self) -> dict[str, Any]:
        """The fields the hash covers (``change`` only where there is one, so old entries still verify)."""
        body = {
            "seq": self.seq,
            "at": _utc_iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "order_id": self.order_id,
            "before": self.before,
            "after": self.after,
        }
        if self.change is not None:
            body["change"] = self.change
        return body

    def apply(self, doc: dict[str, Any] | None) -> dict[str, Any] | None:
        """The order as this entry leaves it, from the order as it was (None before its first entry)."""
        if self.change is None:
            return None if self.after is None else json.loads(self.after)
        return apply_change(doc, json.loads(self.change))


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


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """What turns ``before`` into ``after``: fields set to new values, and items appended to lists.

    >>> diff({"status": "open", "comments": [1]}, {"status": "acknowledged", "comments": [1, 2]})
    {'set': {'status': 'acknowledged'}, 'append': {'comments': [2]}}
    """
    if before is None:
        return {"set": dict(after)}
    change: dict[str, dict[str, Any]] = {}
    for key, new in after.items():
        old = before.get(key, _MISSING)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list) and len(new) > len(old) and new[: len(old)] == old:
            change.setdefault("append", {})[key] = new[len(old) :]
        else:
            change.setdefault("set", {})[key] = new
    if gone := sorted(set(before) - set(after)):
        change["unset"] = gone  # type: ignore[assignment]
    return change


_MISSING = object()


def apply_change(doc: dict[str, Any] | None, change: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``change`` (from `diff`) applied; the inverse of `diff`.

    >>> apply_change({"status": "open", "comments": [1]}, {"set": {"status": "closed"}, "append": {"comments": [2]}})
    {'status': 'closed', 'comments': [1, 2]}
    """
    doc = dict(doc or {})
    doc.update(change.get("set", {}))
    for key, items in change.get("append", {}).items():
        doc[key] = [*doc.get(key, []), *items]
    for key in change.get("unset", []):
        doc.pop(key, None)
    return doc


def new_entry(
    prev_seq: int,
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    order_id: int | None,
    before: Any = None,
    after: Any = None,
    change: Any = None,
) -> AuditEntry:
    """The entry that follows ``prev_seq``/``prev_hash``, recording the `diff` from ``before`` to ``after``
    (JSON-ready order data), or ``change`` as given (a change to something other than an order)."""
    if at.tzinfo is None:
        raise ValueError(f"audit time {at!r} is naive: pass a timezone-aware time")
    if after is not None:
        change = diff(before, after)
    draft = AuditEntry(
        prev_seq + 1,
        at,
        actor,
        action,
        order_id,
        None,
        None,
        prev_hash,
        "",
        None if change is None else canonical_json(change),
    )
    return AuditEntry(**{**_fields(draft), "hash": chain_hash(prev_hash, draft.body())})


def replay(entries: Iterable[AuditEntry]) -> dict[int, tuple[int, dict[str, Any]]]:
    """Every order as its entries leave it: order id -> (seq of its last entry, the order as JSON data)."""
    orders: dict[int, tuple[int, dict[str, Any]]] = {}
    for entry in entries:
        if entry.order_id is None:
            continue
        doc = entry.apply(orders.get(entry.order_id, (0, None))[1])
        if doc is not None:
            orders[entry.order_id] = (entry.seq, doc)
    return orders


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
        return AuditBreak(
            prev_seq + 1,
            f"log ends at entry {prev_seq} but the head records entry {head[0]}"
            " (newest entries deleted or head altered)",
        )
    return None
