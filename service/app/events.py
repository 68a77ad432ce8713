"""``/api/v1/events``: server-sent events for the web pages.

Each event is ``event: <kind>`` with one JSON ``data:`` line; kinds are ``readings`` (the newest
reading of each stream in a batch), ``finding``, ``shadow_finding`` and ``work_order`` (any change:
``action``, ``number``, ``status``, ``priority``). A comment line every 15 s keeps proxies from closing
the stream. Browsers' ``EventSource`` cannot send headers, so this endpoint also takes ``?token=``.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from faultline.service.app.deps import EventsDep, StreamReader

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def events(
    request: Request,
    bus: EventsDep,
    who: StreamReader,
    token: str | None = Query(None, description="the token, where a browser cannot send the header"),
) -> StreamingResponse:
    queue = bus.subscribe()

    async def stream():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                yield f"event: {event['kind']}\ndata: {json.dumps(event['data'], default=str)}\n\n"
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
