"""`faultline demo` in a subprocess on free ports, with its own in-process broker: a work order for the
failing bearing appears within the time, and SIGINT stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.servers import free_port


def test_demo_opens_a_work_order_and_stops_on_sigint(tmp_path):
    port, mqtt_port = free_port(), free_port()
    faultline = Path(sys.executable).with_name("faultline")
    proc = subprocess.Popen(
        [
            str(faultline),
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--fast",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        token = None
        while time.monotonic() < deadline and token is None:
            token = next((line.split()[-1] for line in list(lines) if line.startswith("admin token:")), None)
            time.sleep(0.2)
        assert token, "".join(lines)
        assert any(f"http://127.0.0.1:{port}/" in line for line in lines)
        orders = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}) as api:
            assets = api.get("/api/v1/assets").json()
            while time.monotonic() < deadline and not orders:
                orders = api.get("/api/v1/work-orders").json()
                time.sleep(0.5)
            assert [(o["asset"], o["priority"], o["status"]) for o in orders] == [("P-101", "P1", "open")], "".join(
                lines
            )
            assert orders[0]["sla"]["response"]["left_s"] > 0
            assets = api.get("/api/v1/assets").json()
            assert {a["asset"] for a in assets} == {"P-101", "P-102", "M-101", "F-201"}
            assert all(a["latest"] for a in assets)
            assert api.get("/api/v1/findings").json()[0]["asset"] == "P-101"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
