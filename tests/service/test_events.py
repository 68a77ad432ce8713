"""The server-sent event stream on a real uvicorn server (the service's own loop): a batch that opens a
work order is seen as reading, finding and work-order events; the token may come as ?token=."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx

from tests.servers import free_port
from tests.service.conftest import T0, batch, service_settings


def test_events_stream_readings_findings_and_work_orders(tmp_path):
    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime, serve

    settings = service_settings(tmp_path)
    runtime = Runtime(settings)
    token = runtime.tokens.create("junior_engineer", "screen", runtime.clock.now())[1]
    app = create_app(settings, runtime)
    port = free_port()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    listening = threading.Event()

    def run() -> None:
        loop.run_until_complete(serve(runtime, app, "127.0.0.1", port, stop, on_listening=lambda url: listening.set()))

    server = threading.Thread(target=run, daemon=True)
    server.start()
    assert listening.wait(20)
    seen: list[tuple[str, dict]] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            assert client.get("/api/v1/events").status_code == 401
            with client.stream("GET", f"/api/v1/events?token={token}") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.iter_lines()
                assert next(lines) == ": connected"
                runtime.detection.handle(batch("P-1", "bearing_temp", T0, [70, 92, 95, 96]))
                kind = None
                for line in lines:
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        seen.append((kind, json.loads(line[6:])))
                        if kind == "readings":
                            break
    finally:
        loop.call_soon_threadsafe(stop.set)
        server.join(30)
        runtime.close()
    kinds = [k for k, _ in seen]
    assert kinds == ["work_order", "finding", "readings"]
    assert seen[0][1]["action"] == "open" and seen[0][1]["priority"] == "P1"
    assert seen[1][1]["fault_mode"] == "overheating" and seen[1][1]["order_id"] == seen[0][1]["id"]
    assert seen[2][1]["readings"] == [
        {"asset": "P-1", "sensor": "bearing_temp", "site": "north", "ts": "2026-11-20T00:03:00+00:00", "value": 96.0}
    ]
    assert not server.is_alive()
