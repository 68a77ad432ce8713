"""``/api/v1/work-orders/{id}/report.html`` and ``report.pdf``: the service report of a resolved order.

409 before the order is resolved. The HTML is one self-contained page (photos inline); the PDF is
the same content on A4 (``ticketing.report``), the file the close e-mail carries.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from faultline.service.app.deps import OrdersDep, Reader, RuntimeDep
from faultline.service.app.errors import Id
from faultline.ticketing import OrderNotFound
from faultline.ticketing.report import ReportNotReady, report_html, report_pdf

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])
_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such order"},
    409: {"description": "the order is not resolved yet"},
}


def _made(orders, order_id: int, make, thumbnail_of):
    try:
        order = orders.get(order_id)
        return order, make(order, thumbnail_of)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ReportNotReady as exc:
        raise HTTPException(409, detail=str(exc)) from None


@router.get("/{order_id}/report.html", response_class=HTMLResponse, responses=_ANSWERS)
def report_page(order_id: Id, orders: OrdersDep, rt: RuntimeDep, who: Reader) -> HTMLResponse:
    """The service report as HTML."""
    _, html = _made(orders, order_id, report_html, rt.attachments.thumbnail_of)
    return HTMLResponse(html)


@router.get("/{order_id}/report.pdf", response_class=Response, responses=_ANSWERS)
def report_file(order_id: Id, orders: OrdersDep, rt: RuntimeDep, who: Reader) -> Response:
    """The service report as a PDF download."""
    order, pdf = _made(orders, order_id, report_pdf, rt.attachments.thumbnail_of)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{order.number}-service-report.pdf"'},
    )
