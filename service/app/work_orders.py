"""``/api/v1/work-orders``: list and filter, get, lifecycle actions and the audit trail of one order.

Actions are ``POST /api/v1/work-orders/{id}/{action}``; ticketing's permission matrix decides who
may take which step on an order of which priority (403 names the roles allowed), and its lifecycle
which step may follow which (409 says why not).
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, HTTPException

from faultline.service.app.deps import ClockDep, DeskDep, OrdersDep, Reader, TicketingDep
from faultline.service.app.errors import CONFLICT, Id
from faultline.service.app.schemas import ActionIn, AuditEntryOut, WorkOrderOut
from faultline.vocabulary import Clock
from faultline.ticketing import (
    Actor,
    InvalidTransition,
    OrderNotFound,
    PermissionDenied,
    Status,
    StoreError,
    TicketingConfig,
    WorkOrderStore,
)
from faultline.ticketing.models import WorkOrder

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])

Step = Literal[
    "acknowledge",
    "start",
    "assign",
    "hold",
    "resume",
    "resolve",
    "close",
    "reopen",
    "comment",
    "set_priority",
    "set_type",
    "feedback",
    "add_part",
    "use_part",
]
# which body fields each step takes, and which it needs
_ARGUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "acknowledge": ((), ()),
    "start": ((), ()),
    "resume": ((), ()),
    "close": ((), ()),
    "assign": (("engineer",), ("engineer",)),
    "hold": (("reason", "parts"), ("reason",)),
    "resolve": (("outcome", "notes"), ("outcome",)),
    "reopen": (("reason",), ()),
    "comment": (("text",), ("text",)),
    "set_priority": (("priority",), ("priority",)),
    "set_type": (("service_type",), ("service_type",)),
    "feedback": (("fixed", "rating", "comment"), ("fixed", "rating")),
    "add_part": (("number", "quantity", "description", "used"), ("number",)),
    "use_part": (("number", "quantity"), ("number",)),
}


def sla_status(order: WorkOrder, ticketing: TicketingConfig, clock: Clock) -> dict | None:
    """The order's response and resolution targets now (time left, met, breached); none once closed."""
    if order.status is Status.CLOSED:
        return None
    policy = ticketing.policy_for(order.priority, order.service_type, order.site)
    return ticketing.sla_clock(order.site, policy).status(order, clock.now()).as_json()


def order_out(order: WorkOrder, ticketing: TicketingConfig, clock: Clock) -> WorkOrderOut:
    return WorkOrderOut(**order.model_dump(), number=order.number, sla=sla_status(order, ticketing, clock))


def _sla_left(order: WorkOrderOut) -> float:
    """Seconds left on the nearest unmet target (orders without one sort last)."""
    sla = order.sla or {}
    left = [t["left_s"] for t in (sla.get("response"), sla.get("resolution")) if t and not t.get("met_at")]
    return min(left) if left else float("inf")


@router.get("", response_model=list[WorkOrderOut])
def list_orders(
    orders: OrdersDep,
    ticketing: TicketingDep,
    clock: ClockDep,
    who: Reader,
    status: Status | None = None,
    priority: Literal["P1", "P2", "P3", "P4"] | None = None,
    site: str | None = None,
    asset: str | None = None,
    open_only: bool = False,
) -> list[WorkOrderOut]:
    """Orders ordered by SLA time left (most urgent first); filter by status, priority, site, asset;
    ``open_only`` leaves out resolved and closed ones."""
    found = [
        o
        for o in orders.orders(status=status)
        if (priority is None or o.priority == priority)
        and (site is None or o.site == site)
        and (asset is None or o.asset == asset)
        and not (open_only and o.status in (Status.RESOLVED, Status.CLOSED))
    ]
    return sorted((order_out(o, ticketing, clock) for o in found), key=lambda o: (_sla_left(o), o.id))


def _get(orders: WorkOrderStore, order_id: int) -> WorkOrder:
    try:
        return orders.get(order_id)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None


@router.get("/{order_id}", response_model=WorkOrderOut, responses={404: {"description": "no such order"}})
def get_order(order_id: Id, orders: OrdersDep, ticketing: TicketingDep, clock: ClockDep, who: Reader) -> WorkOrderOut:
    return order_out(_get(orders, order_id), ticketing, clock)


@router.get("/{order_id}/audit", response_model=list[AuditEntryOut])
def audit(order_id: Id, orders: OrdersDep, who: Reader) -> list[AuditEntryOut]:
    """Every change to the order, oldest first, with what it changed (hash-chained)."""
    _get(orders, order_id)
    return [audit_out(e) for e in orders.audit_entries(order_id=order_id)]


def audit_out(entry) -> AuditEntryOut:
    """An `ticketing.audit.AuditEntry` as the API shows it (its JSON texts parsed)."""
    parsed = {
        name: json.loads(text) if text else None
        for name, text in (("change", entry.change), ("before", entry.before), ("after", entry.after))
    }
    return AuditEntryOut(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        order_id=entry.order_id,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
        **parsed,
    )


@router.post(
    "/{order_id}/{action}",
    response_model=WorkOrderOut,
    responses={**CONFLICT, 422: {"description": "a required argument is missing or unknown"}},
)
def act(
    order_id: Id,
    action: Step,
    desk: DeskDep,
    ticketing: TicketingDep,
    clock: ClockDep,
    who: Reader,
    body: ActionIn | None = None,
) -> WorkOrderOut:
    """Take a lifecycle step as the token's holder (name and role).

    Arguments: ``assign`` {engineer}; ``hold`` {reason: awaiting_parts | awaiting_customer, parts};
    ``add_part`` {number, quantity, description, used}; ``use_part`` {number, quantity};
    ``resolve`` {outcome: fault_confirmed | false_alarm | no_fault_found | no_access, notes};
    ``reopen`` {reason}; ``comment`` {text}; ``set_priority`` {priority}; ``set_type`` {service_type};
    ``feedback`` {fixed, rating 1-5, comment} after the close ("not fixed" reopens the order);
    the rest take none. Who may take which step is the ``permissions:`` matrix of the configuration.
    """
    given = {k: v for k, v in (body or ActionIn()).model_dump().items() if v is not None}
    takes, needs = _ARGUMENTS[action]
    if extra := sorted(set(given) - set(takes)):
        raise HTTPException(422, detail=f"{action} takes {', '.join(takes) or 'no arguments'}; got {', '.join(extra)}")
    if missing := [n for n in needs if n not in given]:
        raise HTTPException(422, detail=f"{action} needs {', '.join(missing)}")
    try:
        order = desk.act(order_id, Actor(who.name, who.role.value), action, **given)
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
    return order_out(order, ticketing, clock)
