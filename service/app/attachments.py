"""``/api/v1/work-orders/{id}/attachments``: photos, videos and documents on an order or a comment.

Upload with ``POST …/attachments?name=pump.jpg[&comment=2]`` and the file itself as the request body
(any ``Content-Type``: the type is read from the bytes). 413 when the file is over its kind's limit
or the order's, 415 for a type not accepted, 409 for the same file twice. Download with ``GET
…/attachments/{attachment}``, an image's thumbnail with ``…/thumbnail``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from faultline.service.app.deps import OrdersDep, Reader, RuntimeDep
from faultline.service.app.errors import Id, IdQuery
from faultline.service.app.schemas import WorkOrderOut
from faultline.service.app.work_orders import order_out
from faultline.ticketing import Actor, OrderNotFound
from faultline.ticketing.attachments import AttachmentRefused
from faultline.ticketing.models import Attachment

router = APIRouter(prefix="/api/v1/work-orders", tags=["attachments"])

#: The upload route, for the request-body limit (which is the largest kind's limit here, not the API's).
UPLOAD_PATH = r"^/api/v1/work-orders/\d+/attachments$"


@router.post(
    "/{order_id}/attachments",
    response_model=WorkOrderOut,
    status_code=201,
    responses={
        404: {"description": "no such order"},
        409: {"description": "the order has this file"},
        413: {"description": "over a size limit"},
        415: {"description": "type not accepted"},
    },
)
async def upload(
    order_id: Id, name: str, request: Request, rt: RuntimeDep, who: Reader, comment: IdQuery = None
) -> WorkOrderOut:
    """Attach the request body to the order (or to its ``comment``, numbered from 1)."""
    attachments = rt.attachments
    try:
        upload = attachments.begin(order_id)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    try:
        async for chunk in request.stream():
            upload.write(chunk)  # a local file append; the slow part (fsync, thumbnail, store) is below
        # off the event loop: fsync, the thumbnail and the object store's upload take their time
        order, _ = await run_in_threadpool(attachments.finish, upload, Actor(who.name, who.role.value), name, comment)
    except AttachmentRefused as exc:
        upload.discard()
        raise HTTPException(exc.status, detail=exc.reason) from None
    except BaseException:
        upload.discard()
        raise
    return order_out(order, rt.ticketing, rt.clock)


def _attachment(orders, order_id: int, attachment_id: str) -> Attachment:
    try:
        order = orders.get(order_id)
    except OrderNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    for attachment in order.attachments:
        if attachment.id == attachment_id:
            return attachment
    raise HTTPException(404, detail=f"{order.number} has no attachment {attachment_id!r}")


@router.get("/{order_id}/attachments/{attachment_id}", response_class=StreamingResponse)
def download(order_id: Id, attachment_id: str, orders: OrdersDep, rt: RuntimeDep, who: Reader) -> StreamingResponse:
    """The file as uploaded (shown in the browser where it can be, else downloaded under its name)."""
    a = _attachment(orders, order_id, attachment_id)
    disposition = (
        f"inline; filename=\"{a.name}\"; filename*=UTF-8''{quote(a.name)}"
        if a.name.isascii()
        else f"inline; filename*=UTF-8''{quote(a.name)}"
    )
    return StreamingResponse(
        rt.attachments.blobs.chunks(a.key),
        media_type=a.content_type,
        headers={"Content-Disposition": disposition, "Content-Length": str(a.size)},
    )


@router.get("/{order_id}/attachments/{attachment_id}/thumbnail", response_class=Response)
def thumbnail(order_id: Id, attachment_id: str, orders: OrdersDep, rt: RuntimeDep, who: Reader) -> Response:
    """An image's thumbnail (JPEG, ``attachments.thumbnail_px`` on its longest side); 404 for others."""
    a = _attachment(orders, order_id, attachment_id)
    jpeg = rt.attachments.thumbnail_of(a)
    if jpeg is None:
        raise HTTPException(404, detail=f"attachment {attachment_id} ({a.kind}) has no thumbnail")
    return Response(jpeg, media_type="image/jpeg")
