"""``/api/v1/audit``: the whole hash-chained audit log, for an admin to keep elsewhere.

The export is JSON lines: first ``{"head": {"seq", "hash"}}`` (the newest entry, to anchor the chain
outside this database), then one entry per line, oldest first, each with ``change`` (what it changed)
and the hashes that chain it. Any copy can be checked with `ticketing.audit.verify`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from faultline.service.app.auth import ADMINS, require_role
from faultline.service.app.deps import OrdersDep, Reader
from faultline.service.app.work_orders import audit_out

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "the head, then every entry"}},
)
def export(orders: OrdersDep, who: Reader) -> StreamingResponse:
    """Every audit entry as JSON lines, after the head (admin only)."""
    require_role(who, ADMINS, "exporting the audit log")
    head = orders.audit_head()

    def lines() -> Iterator[bytes]:
        yield json.dumps({"head": {"seq": head[0], "hash": head[1]}}).encode() + b"\n"
        after = 0
        while batch := orders.audit_entries(after_seq=after, limit=500):  # a page at a time
            for entry in batch:
                yield audit_out(entry).model_dump_json().encode() + b"\n"
            after = batch[-1].seq

    return StreamingResponse(lines(), media_type="application/x-ndjson")
