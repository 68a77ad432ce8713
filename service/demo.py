"""``faultline demo``: a small simulated fleet in which a bearing wears out, end to end in minutes.

Four assets at one site publish readings through MQTT into the service. The fleet's history (the
last ``HISTORY`` of simulated time, ending now) is sent accelerated, so the outer-race fault on P-101
grows from its onset to an ISO 20816 zone-C vibration level within about a minute and a half; after
that the readings keep coming in real time. The demo's detector checks are few and plain (vibration
zones, bearing temperature), so the one fault makes one finding and one work order.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HISTORY = timedelta(hours=14)
LIVE = timedelta(hours=12)

_BEARINGS = {
    "P-101": {"n_balls": 9, "ball_diameter_mm": 12.7, "pitch_diameter_mm": 58.5, "contact_angle_deg": 0},
    "P-102": {"n_balls": 8, "ball_diameter_mm": 11.1, "pitch_diameter_mm": 46.0, "contact_angle_deg": 0},
    "M-101": {"n_balls": 10, "ball_diameter_mm": 15.9, "pitch_diameter_mm": 72.5, "contact_angle_deg": 0},
    "F-201": {"n_balls": 12, "ball_diameter_mm": 9.5, "pitch_diameter_mm": 55.0, "contact_angle_deg": 0},
}
_SENSORS = ["vibration_rms", "bearing_temp", "motor_current"]


def demo_fleet(broker: str) -> dict[str, Any]:
    """The fleet (simulators' format): P-101's outer race starts to fail 1 h into the history."""

    def asset(id, type, speed, group, criticality, current, **extra):
        return {
            "id": id,
            "site": "north",
            "type": type,
            "running_speed_hz": speed,
            "iso_group": group,
            "criticality": criticality,
            "bearing": _BEARINGS[id],
            "rated_current_a": current,
            "sensors": _SENSORS,
            "payload": "single",
            **extra,
        }

    return {
        "seed": 7,
        "broker": broker,
        "scalar_period": "60s",
        "assets": [
            asset(
                "P-101",
                "centrifugal_pump",
                24.6,
                2,
                "A",
                62,
                foundation="rigid",
                faults=[
                    {"mode": "bearing_outer_race", "onset": "1h", "failure": "12h", "growth": "exponential", "rate": 4}
                ],
            ),
            asset("P-102", "centrifugal_pump", 49.2, 2, "B", 38),
            asset("M-101", "electric_motor", 24.6, 1, "B", 420, foundation="rigid"),
            asset("F-201", "fan", 16.2, 2, "C", 28, foundation="flexible"),
        ],
    }


def demo_detectors() -> dict[str, Any]:
    """The demo's ``detectors:`` section: ISO 20816-style vibration zones and a bearing temperature limit.

    The zone boundaries are EXAMPLE values in the shape of ISO 20816-3 groups, as in
    ``config/detectors.yaml``; severity ``high`` from zone C so that a critical asset's order is a P1
    (15 min response, 24×7) whose countdown a visitor sees move.
    """
    assets = {
        "P-101": ("pump", "2-rigid"),
        "P-102": ("pump", "2-rigid"),
        "M-101": ("motor", "1-rigid"),
        "F-201": ("fan", "2-flexible"),
    }
    return {
        "silence_after": "30m",
        "iso_20816_zones": {
            "1-rigid": {"ab": 2.3, "bc": 4.5, "cd": 7.1},
            "2-rigid": {"ab": 1.4, "bc": 2.8, "cd": 4.5},
            "2-flexible": {"ab": 2.3, "bc": 4.5, "cd": 7.1},
        },
        "classes": {
            "default": {
                "checks": {
                    "vibration_zone": {
                        "sensor": "vibration_rms",
                        "detector": "iso_zones",
                        "fault_mode": "high_vibration",
                        "rule": {
                            "alarm": 1.0,
                            "clear": 0.9,
                            "min_duration": "15m",
                            "clear_after": "1h",
                            "severity_levels": {"high": 1.0, "critical": 2.5},
                        },
                    },
                    "bearing_temp_limit": {
                        "sensor": "bearing_temp",
                        "detector": "static_limit",
                        "params": {"high": 85},
                        "fault_mode": "overheating",
                        "rule": {
                            "alarm": 1.0,
                            "clear": 0.97,
                            "min_duration": "10m",
                            "clear_after": "30m",
                            "severity_levels": {"high": 1.0, "critical": 1.1},
                        },
                    },
                }
            },
            "pump": {"extends": "default"},
            "fan": {"extends": "default"},
            "motor": {"extends": "default"},
        },
        "assets": {name: {"class": cls, "site": "north", "iso_group": group} for name, (cls, group) in assets.items()},
    }


def demo_settings(data_dir: Path, mqtt_port: int = 1883, http_port: int = 8080):
    """The whole demo configuration: embedded SQLite store and work orders under ``data_dir``."""
    from faultline.service.settings import settings_from_dict
    from faultline.ticketing import default_ticketing_config

    data_dir = Path(data_dir)
    ticketing = default_ticketing_config().model_dump(mode="json")
    ticketing.update(
        store_url=f"sqlite:///{data_dir / 'workorders.sqlite'}",
        asset_criticality={"P-101": "A", "P-102": "B", "M-101": "B", "F-201": "C"},
    )
    return settings_from_dict(
        {
            "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": f"faultline-demo-{mqtt_port}"},
            "store": {"kind": "sqlite", "path": str(data_dir / "readings.sqlite"), "batch_size": 500},
            "spool": {"path": str(data_dir / "spool"), "commit_interval_ms": 20},
            "ingest": {"dead_letter_path": str(data_dir / "dead-letter.sqlite"), "flush_timeout_s": 3},
            "metrics": {"port": 0},
            "detectors": demo_detectors(),
            "ticketing": ticketing,
            "service": {
                "host": "127.0.0.1",
                "port": http_port,
                "state_path": str(data_dir / "service.sqlite"),
                "save_state_every_s": 5,
            },
        },
        "demo configuration",
        env={},
    )


def publish_demo(
    broker: str,
    stop: threading.Event,
    history_seconds: float = 90.0,
    now: datetime | None = None,
    history: timedelta = HISTORY,
    live: timedelta = LIVE,
) -> int:
    """Publish the demo fleet: ``history`` up to ``now`` within ``history_seconds``, then in real time.

    Uses MQTT 3.1.1, which both Mosquitto and the embedded broker speak. Returns the messages sent.
    """
    import paho.mqtt.client as mqtt

    from faultline.simulators import Fleet, simulate_offline
    from faultline.simulators.publish import parse_broker, run_messages

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - history
    run = simulate_offline(Fleet.from_dict(demo_fleet(broker)), start=start, duration=history + live)
    messages, _wires = run_messages(run)
    host, port = parse_broker(broker)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="faultline-demo-fleet", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(100)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    speed = history.total_seconds() / history_seconds
    began = time.monotonic()
    history_ns = int(history.total_seconds() * 1e9)
    sent = 0
    try:
        for msg in messages:
            # fast through the history, then at the pace of the clock
            due = (
                msg.at_ns / 1e9 / speed if msg.at_ns <= history_ns else history_seconds + (msg.at_ns - history_ns) / 1e9
            )
            wait = due - (time.monotonic() - began)
            if wait > 0 and stop.wait(wait):
                break
            if stop.is_set():
                break
            info = client.publish(msg.topic, msg.payload, qos=1)
            sent += 1
            if sent % 500 == 0:
                info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


__all__ = ["HISTORY", "demo_detectors", "demo_fleet", "demo_settings", "publish_demo"]
