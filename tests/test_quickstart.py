"""The README's quick start, as written, with the shipped config files against real servers.

The `faultline` commands are read from the README's quick-start block, so the two cannot drift. The
suite starts Mosquitto and InfluxDB on free ports, a webhook receiver and an SMTP server (aiosmtpd),
and points the shipped files at them through the documented FAULTLINE_* variables (addresses in the
commands are replaced by the test servers'). ``run`` is built in this process by the composition root
it uses (`service.compose.build_service`) with a manual clock, so the escalation is reached by moving
time, not by waiting; from the first order on, the fleet keeps reporting (every stream in each message)
so that moving the clock never reads as silence. Checked: exactly one work order for the one injected fault, with evidence and SLA
deadlines, none for the healthy assets; a signed webhook and an e-mail; escalation and the breach
notice when the clock passes the response target; resolving clears the alert once readings recover.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from tests.servers import free_port
from tests.ticketing.test_dispatcher import SECRET, IdempotentReceiver, Inbox

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[list[str]]:
    """The `faultline …` commands of the README's quick-start block, as argument lists."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quick-start:.*?-->\n```sh\n(.*?)```", readme, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip().rstrip("&").strip()
        if line.startswith("faultline "):
            commands.append(shlex.split(line)[1:])
    return commands


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_quick_start_as_written(tmp_path, monkeypatch, own_mosquitto, own_influxdb):
    from fastapi.testclient import TestClient

    from faultline.service.cli import app
    from faultline.service.compose import build_service
    from faultline.service.settings import load_settings
    from faultline.vocabulary import ManualClock
    from faultline.ticketing.sla import SlaTimeline

    commands = quickstart_commands()
    assert [c[0] for c in commands] == ["check-config", "run", "tokens", "simulate"]
    receiver = IdempotentReceiver()
    receiver.up()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    for name, value in {
        "FAULTLINE_MQTT_URL": own_mosquitto.url,
        "FAULTLINE_INFLUX_URL": own_influxdb.url,
        "FAULTLINE_HTTP_PORT": str(free_port()),
        "FAULTLINE_METRICS_PORT": "0",
        "FAULTLINE_WEBHOOK_URL": receiver.url,
        "FAULTLINE_WEBHOOK_SECRET": SECRET,
        "FAULTLINE_SMTP_HOST": "127.0.0.1",
        "FAULTLINE_SMTP_PORT": str(smtp.port),
        "FAULTLINE_SMTP_STARTTLS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # ./var of the shipped file lands here

    def here(args: list[str]) -> list[str]:
        """Repository paths made absolute, the README's broker address replaced by the test broker's."""
        return [
            str(ROOT / a) if a.startswith("config/") else a.replace("mqtt://127.0.0.1:1883", own_mosquitto.url)
            for a in args
        ]

    cli = CliRunner()
    check, run, tokens, simulate = (here(c) for c in commands)
    checked = cli.invoke(app, check)
    assert checked.exit_code == 0, checked.output

    assert run[:2] == ["run", "--config"] and len(run) == 3
    clock = ManualClock(datetime.now(UTC))
    service = build_service(load_settings(run[2]), clock=clock)
    runtime = service.runtime.start(ingest=True)
    try:
        made = cli.invoke(app, tokens)
        assert made.exit_code == 0, made.output
        token = next(line for line in made.output.splitlines() if line.startswith("flt_"))
        h = {"Authorization": f"Bearer {token}"}
        wait_for(lambda: runtime.source.connected.is_set(), 30, "the broker connection")

        published = cli.invoke(app, simulate)
        assert published.exit_code == 0, published.output
        readings = int(re.search(r"\((\d+) readings\)", published.output).group(1))
        detected = runtime.metrics.detector_readings
        wait_for(lambda: detected._value.get() >= readings, 60, "every reading through the detectors")

        with TestClient(service.app) as client:
            # exactly one work order, for the one injected fault, with evidence and deadlines
            fleet = yaml.safe_load((ROOT / "config/fleet-quickstart.yaml").read_text())
            faults = [(a["id"], f["mode"]) for a in fleet["assets"] for f in a.get("faults", [])]
            assert faults == [("P-101", "bearing_outer_race")]
            orders = client.get("/api/v1/work-orders", headers=h).json()
            assert [(o["site"], o["asset"], o["fault_mode"], o["priority"]) for o in orders] == [
                ("north", "P-101", "high_vibration", "P2")
            ]
            order = runtime.orders.get(orders[0]["id"])
            evidence = order.evidence[0]
            assert (evidence.rule, evidence.readings["zone"]) == ("vibration_zone", "C")
            assert evidence.readings["n"] > 0 and evidence.thresholds["rule"]["alarm"] == 1.0
            policy = runtime.ticketing.policy_for(order.priority, order.service_type)
            due = runtime.ticketing.sla_clock(order.site, policy).deadlines(SlaTimeline(order.opened_at))
            assert (order.response_due, order.resolution_due) == (due.response_due, due.resolution_due)
            assert client.get("/readyz").json()["ready"] is True

            # a signed webhook and an e-mail
            def events():
                return [json.loads(body)["event"] for *_, body in receiver.got]

            wait_for(lambda: "opened" in events() and inbox.messages, 30, "the opened webhook and e-mail")
            [(to, message, _)] = inbox.messages
            assert order.number in message["Subject"] and "marta.nowak@plant.example" in to

            # from here on the fleet keeps reporting, as a live one does while the test moves the clock:
            # every stream in each message, so no stream is ever silent at the moved clock
            with runtime.detection.lock:
                latest = {key: (x.site, x.ts_ns, x.value) for key, x in runtime.detection.latest.items()}
            heartbeat = FleetHeartbeat(own_mosquitto.url, latest)
            heartbeat.start()
            wait_for(lambda: heartbeat.minutes >= 2, 30, "the fleet heartbeat")

            # the response target passes, unacknowledged: escalation and the breach notice
            clock.set(order.response_due + timedelta(minutes=1))
            runtime.nudge()
            wait_for(lambda: "response_breached" in events(), 30, "the breach webhook")
            assert events().count("escalation") == 2  # the reminder and the hand-over to a senior
            wait_for(lambda: any("BREACHED" in m["Subject"] for _, m, _ in inbox.messages), 30, "the breach e-mail")

            # resolve; the repaired pump's readings are healthy again: the alert clears, no new order
            for step, body in (("acknowledge", None), ("start", None), ("resolve", {"outcome": "fault_confirmed"})):
                answer = client.post(f"/api/v1/work-orders/{order.id}/{step}", json=body, headers=h)
                assert answer.status_code == 200, answer.text
            wait_for(lambda: "resolved" in events(), 30, "the resolved webhook")
            heartbeat.repaired_at = heartbeat.minutes
            wait_for(lambda: heartbeat.minutes >= heartbeat.repaired_at + 90, 60, "90 healthy minutes")
            sent = heartbeat.readings
            wait_for(lambda: detected._value.get() >= readings + sent, 60, "the healthy readings through the detectors")

            def p101_alerts():
                return [
                    (a["sensor"], a["rule"])
                    for a in client.get("/api/v1/alerts", headers=h).json()
                    if a["asset"] == "P-101"
                ]

            try:
                wait_for(lambda: not p101_alerts(), 30, "the P-101 alert to clear")
            except AssertionError:
                raise AssertionError(f"P-101 alerts still open: {p101_alerts()}") from None
            assert client.get("/api/v1/assets/P-101", headers=h).json()["status"] == "ok"
            assert [o["status"] for o in client.get("/api/v1/work-orders", headers=h).json()] == ["resolved"]
            assert {n["status"] for n in client.get("/api/v1/notifications", headers=h).json()} == {"delivered"}
            assert len(receiver.applied) == len(receiver.got)  # nothing delivered twice
            print(
                f"quick start: {len(orders)} work order(s) for {len(faults)} injected fault(s); webhooks "
                f"{events()}; e-mails {[m['Subject'] for _, m, _ in inbox.messages]}"
            )
    finally:
        if "heartbeat" in locals():
            heartbeat.stop()
        runtime.stop()
        runtime.close()
        smtp.stop()
        receiver.down()


class FleetHeartbeat:
    """The fleet reporting once a (simulated) minute, a minute every 0.2 s of wall time: one gateway
    message per site carrying every stream, near its last value with a little noise, as a live sensor
    has. Before ``repaired_at`` P-101's vibration stays where the fault left it; from then on it is
    back in zone A (1.2 mm/s)."""

    def __init__(self, broker: str, latest: dict) -> None:
        import paho.mqtt.client as mqtt

        from faultline.simulators.publish import parse_broker

        self.latest = latest
        self.start_ms = max(ts for _, ts, _ in latest.values()) // 1_000_000
        self.minutes = 0
        self.readings = 0
        self.repaired_at: int | None = None
        self._stop = threading.Event()
        host, port = parse_broker(broker)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="quickstart-fleet", protocol=mqtt.MQTTv311
        )
        self.client.connect(host, port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, name="fleet-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        import math

        while not self._stop.is_set():
            i = self.minutes + 1
            repaired = self.repaired_at is not None and i > self.repaired_at
            by_site: dict[str, list[dict]] = {}
            for n, ((asset, sensor), (site, _, value)) in enumerate(sorted(self.latest.items())):
                if repaired and (asset, sensor) == ("P-101", "vibration_rms"):
                    value = 1.2
                noisy = value * (1 + 0.01 * math.sin(i * 0.7 + n))
                by_site.setdefault(site, []).append(
                    {"asset": asset, "sensor": sensor, "ts": self.start_ms + i * 60_000, "value": round(noisy, 4)}
                )
            for site, rows in by_site.items():
                info = self.client.publish(
                    f"faultline/{site}/_gateway/quickstart", json.dumps({"readings": rows}), qos=1
                )
                info.wait_for_publish(10)
            self.readings += sum(len(rows) for rows in by_site.values())
            self.minutes = i
            self._stop.wait(0.2)
