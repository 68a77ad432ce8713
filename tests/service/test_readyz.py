"""/readyz follows the broker: ready while connected, 503 naming the broker while it is down, ready again
after it returns (a real Mosquitto, stopped and started)."""

from __future__ import annotations

import time

import pytest

from tests.service.conftest import service_settings

pytestmark = pytest.mark.servers


def _wait(client, status: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/readyz")
        if r.status_code == status or time.monotonic() > deadline:
            assert r.status_code == status, r.json()
            return r.json()
        time.sleep(0.2)


def test_readyz_follows_the_broker(tmp_path, own_mosquitto):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path, mqtt={"url": own_mosquitto.url, "reconnect_max_s": 1.0})
    runtime = Runtime(settings).start(ingest=True)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            assert _wait(client, 200)["checks"]["broker"] is True
            own_mosquitto.stop()
            down = _wait(client, 503)
            assert down["checks"] == {
                "store": True,
                "work_orders": True,
                "intake": True,
                "broker": False,
                "writer": True,
                "ingest_stages": True,
            }
            own_mosquitto.start()
            assert _wait(client, 200)["ready"] is True
    finally:
        runtime.stop()
        runtime.close()
