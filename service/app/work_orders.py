"""``/api/v1/work-orders``: list and filter, get, lifecycle actions and the audit trail of one order.

Actions are ``POST /api/v1/work-orders/{id}/{action}``; ticketing's permission matrix decides who
may take which step on an order of which priority (403 names the roles allowed), and its lifecycle
which step may follow which (409 says why not).
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, HTTPException

from service.app.deps import Reader, RuntimeDep
from service.app.schemas import ActionIn, AuditEntryOut, WorkOrderOut
from ticketing import Actor, InvalidTransition, OrderNotFound, PermissionDenied, Status, StoreError
from ticketing.models import PRIORITIES, WorkOrder

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])

Step = Literal["acknowledge", "start", "assign", "hold", "resume", "resolve", "close", "reopen", "comment",
               "set_priority", "add_part", "use_part"]
# which body fields each step takes, and which it needs
_ARGUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "acknowledge": ((), ()), "start": ((), ()), "resume": ((), ()), "close": ((), ()),
    "assign": (("engineer",), ("engineer",)), "hold": (("reason", "parts"), ("reason",)),
    "resolve": (("outcome", "notes"), ("outcome",)), "reopen": (("reason",), ()),
    "comment": (("text",), ("text",)), "set_priority": (("priority",), ("priority",)),
    "add_part": (("number", "quantity", "description", "used"), ("number",)),
    "use_part": (("number", "quantity"), ("number",)),
}


def order_out(rt, order: WorkOrder) -> WorkOrderOut:
    return WorkOrderOut(**order.model_dump(), number=order.number, sla=rt.sla_status(order))


def _sla_left(order: WorkOrderOut) -> float:
    """Seconds left on the nearest unmet target (orders without one sort last)."""
    sla = order.sla or {}
    left = [t["left_s"] for t in (sla.get("response"), sla.get("resolution")) if t and not t.get("met_at")]
    return min(left) if left else float("inf")


@router.get("", response_model=list[WorkOrderOut])
def list_orders(rt: RuntimeDep, who: Reader, status: Status | None = None, priority: str | None = None,
                site: str | None = None, asset: str | None = None, open_only: bool = False) -> list[WorkOrderOut]:
    """Orders ordered by SLA time left (most urgent first); filter by status, priority, site, asset;
    ``open_only`` leaves out resolved and closed ones."""
    if priority is not None and priority not in PRIORITIES:
        raise HTTPException(422, detail=f"unknown priority {priority!r} (known: {', '.join(PRIORITIES)})")
    orders = [o for o in rt.orders.orders(status=status)
              if (priority is None or o.priority == priority) and (site is None or o.site == site)
              and (asset is None or o.asset == asset)
              and not (open_only and o.status in (Status.RESOLVED, Status.CLOSED))]
    return sorted((order_out(rt, o) for o in orders), key=lambda o: (_sla_left(o), o.id))


def _get(rt, order_id: int) -> WorkOrder:
    try:
        return rt.orders.get(order_id)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.get("/{order_id}", response_model=WorkOrderOut, responses={404: {"description": "no such order"}})
def get_order(order_id: int, rt: RuntimeDep, who: Reader) -> WorkOrderOut:
    return order_out(rt, _get(rt, order_id))


@router.get("/{order_id}/audit", response_model=list[AuditEntryOut])
def audit(order_id: int, rt: RuntimeDep, who: Reader) -> list[AuditEntryOut]:
    """Every change to the order, oldest first, with the order before and after (hash-chained)."""
    _get(rt, order_id)
    return [AuditEntryOut(seq=e.seq, at=e.at, actor=e.actor, action=e.action,
                          before=json.loads(e.before) if e.before else None, after=json.loads(e.after), hash=e.hash)
            for e in rt.orders.audit_entries() if e.order_id == order_id]


@router.post("/{order_id}/{action}", response_model=WorkOrderOut,
             responses={403: {"description": "the token's role may not take this step on this order"},
                        404: {"description": "no such order"},
                        409: {"description": "the step does not follow from the order's status"},
                        422: {"description": "a required argument is missing or unknown"}})
def act(order_id: int, action: Step, rt: RuntimeDep, who: Reader, body: ActionIn | None = None) -> WorkOrderOut:
    """Take a lifecycle step as the token's holder (name and role).

    Arguments: ``assign`` {engineer}; ``hold`` {reason: awaiting_parts | awaiting_customer, parts};
    ``add_part`` {number, quantity, description, used}; ``use_part`` {number, quantity};
    ``resolve`` {outcome: fault_confirmed | false_alarm | no_fault_found | no_access, notes};
    ``reopen`` {reason}; ``comment`` {text}; ``set_priority`` {priority}; the rest take none.
    """
    given = {k: v for k, v in (body or ActionIn()).model_dump().items() if v is not None}
    takes, needs = _ARGUMENTS[action]
    if extra := sorted(set(given) - set(takes)):
        raise HTTPException(422, detail=f"{action} takes {', '.join(takes) or 'no arguments'}; got {', '.join(extra)}")
    if missing := [n for n in needs if n not in given]:
        raise HTTPException(422, detail=f"{action} needs {', '.join(missing)}")
    try:
        order = rt.act(order_id, Actor(who.name, who.role.value), action, **given)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except PermissionDenied as exc:
        raise HTTPException(403, detail=exc.reason) from None
    except InvalidTransition as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except StoreError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return order_out(rt, order)
