"""The HTTP API (``/api/v1``, OpenAPI at ``/openapi.json``) and the web pages, as one FastAPI app.

``create_app(settings, runtime)`` builds it; routers are per resource (assets, readings, findings,
work orders, detectors, KPIs, dead letters, events, tokens, health). Every ``/api/v1`` endpoint
needs ``Authorization: Bearer <token>``; ``/healthz``, ``/readyz`` and ``/metrics`` do not (bind
the service to an address only your monitoring reaches).
"""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI

from faultline.service.settings import Settings

log = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``, declared or streamed.

    A streamed body that grows past the limit gets the 413 at once; the app then sees the client as
    gone, and whatever it tries to send is dropped.
    """

    def __init__(self, app, max_bytes: int, larger: dict[str, int] | None = None):
        self.app, self.max_bytes = app, max_bytes
        # routes that take large bodies (attachments): path pattern -> their own limit
        self.larger = [(re.compile(pattern), limit) for pattern, limit in (larger or {}).items()]

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return await self._refuse(send, int(declared), max_bytes)
        seen = 0
        started = refused = False

        async def limited_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes and not started:
                    refused = True
                    await self._refuse(send, seen, max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send, size: int, max_bytes: int) -> None:
        setting = "service.max_request_bytes" if max_bytes == self.max_bytes else "attachments.max_bytes"
        body = json.dumps(
            {"detail": f"request body of {size} bytes is over the limit of {max_bytes} bytes ({setting})"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings, runtime) -> FastAPI:
    """The app over ``runtime`` (a `service.runtime.Runtime`), with the web pages when present."""
    from fastapi import Depends

    from faultline.service.app.errors import document_errors, strict_query
    from faultline.service.app import (
        alerts,
        assets,
        attachments,
        audit,
        catalogue,
        dead_letters,
        detectors,
        events,
        findings,
        health,
        kpis,
        notifications,
        order_steps,
        readings,
        reports,
        tokens,
        work_orders,
    )

    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN, and nothing here may
    # strict_query: every /api/v1 operation refuses query parameters it does not take
    app = FastAPI(
        title="Faultline",
        version="1",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(strict_query)],
        description=(
            "Predictive maintenance: readings, findings, work orders with SLA deadlines, detector tuning. "
            "Send `Authorization: Bearer <token>` (`faultline tokens create --role ROLE`)."
        ),
    )
    app.state.runtime = runtime
    app.state.settings = settings
    # the order pages' routers first: POST /{id}/attachments would otherwise match POST /{id}/{action}
    for module in (
        attachments,
        order_steps,
        reports,
        health,
        assets,
        readings,
        findings,
        alerts,
        work_orders,
        notifications,
        detectors,
        kpis,
        dead_letters,
        events,
        tokens,
        audit,
        catalogue,
    ):
        app.include_router(module.router)
    try:
        from faultline.service.web import router as pages, static_dir
    except ImportError:  # the web pages are optional: the API works without them
        log.info("no web pages (service.web) found; serving the API only")
    else:
        from fastapi.staticfiles import StaticFiles

        app.include_router(pages)
        app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.service.max_request_bytes,
        larger={attachments.UPLOAD_PATH: settings.attachments.largest},
    )
    document_errors(app)
    return app


__all__ = ["BodyLimit", "create_app"]
