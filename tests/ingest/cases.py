"""Messages of every payload format, good and bad, with the points the good ones must become.

Used by the end-to-end tests against each store, so every store is checked against the same list.
"""

from __future__ import annotations

import math

import orjson

T = 1763700000123  # epoch ms, 2025-11-21T04:40:00.123Z
MS = 1_000_000

# (topic, payload) that must land, and the points they become: (tags, ts_ns, value)
WAVE = [math.sin(i / 5) for i in range(1024)]
GOOD = [
    ("faultline/s1/pump1/bearing_temp", orjson.dumps({"ts": T, "value": 41.5})),
    ("faultline/s1/pump1/vibration_rms", orjson.dumps({"ts": "2025-11-21T04:40:01.5Z", "value": 2.25})),
    ("faultline/s1/pump1/motor_current", orjson.dumps({"ts": [T, T + 10, T + 20], "value": [10, 10.5, 11]})),
    (
        "faultline/s1/_gateway/gw1",
        orjson.dumps(
            {
                "readings": [
                    {"asset": "pump 2", "sensor": "bearing_temp", "ts": T + 5, "value": 39.0},
                    {"site": "s2", "asset": "fan,3", "sensor": "vibration_rms", "ts": T + 6, "value": 0.5},
                ]
            }
        ),
    ),
    ("faultline/s1/pump1/accel", orjson.dumps({"t0": T, "rate_hz": 10000, "values": WAVE})),
]
EXPECTED = [
    ({"site": "s1", "asset": "pump1", "sensor": "bearing_temp"}, T * MS, 41.5),
    ({"site": "s1", "asset": "pump1", "sensor": "vibration_rms"}, 1763700001500 * MS, 2.25),
    ({"site": "s1", "asset": "pump1", "sensor": "motor_current"}, T * MS, 10.0),
    ({"site": "s1", "asset": "pump1", "sensor": "motor_current"}, (T + 10) * MS, 10.5),
    ({"site": "s1", "asset": "pump1", "sensor": "motor_current"}, (T + 20) * MS, 11.0),
    ({"site": "s1", "asset": "pump 2", "sensor": "bearing_temp"}, (T + 5) * MS, 39.0),
    ({"site": "s2", "asset": "fan,3", "sensor": "vibration_rms"}, (T + 6) * MS, 0.5),
]
WAVE_RMS = math.sqrt(sum((x - sum(WAVE) / len(WAVE)) ** 2 for x in WAVE) / len(WAVE))

# (topic, payload, a word the dead-letter reason must contain)
MAX_PAYLOAD = 32768
BAD = [
    ("faultline/s1/pump1/bearing_temp", b"{not json", "JSON"),
    ("faultline/s1/pump1/bearing_temp", b'{"ts": 1763700000123, "value": "hot"}', "value"),
    ("faultline/s1/pump1/bearing_temp", b'{"ts": 1763700000123, "value": NaN}', "JSON"),
    ("faultline/s1/pump1/bearing_temp", b'{"ts": [1763700000123, 1763700000124], "value": [1.0]}', "elements"),
    ("faultline/s1/pump1/bearing_temp", b'{"ts": 1000, "value": 1.0}', "before"),
    ("faultline/s1/pump1", b'{"value": 1.0}', "segments"),
    ("faultline/s1/pump1/bearing_temp", b'{"value": [' + b"1.0," * 9000 + b"1.0]}", "limit"),
]


def decode_settings(tmp_path, extra: dict | None = None) -> dict:
    """Settings (as a dict) that subscribe wide enough to receive the bad topic and cap payloads."""
    data = {
        "mqtt": {"subscribe": ["faultline/#"], "reconnect_min_s": 0.1, "reconnect_max_s": 1},
        "spool": {"path": str(tmp_path / "spool")},
        "ingest": {"dead_letter_path": str(tmp_path / "dead-letter.sqlite"), "max_payload_bytes": MAX_PAYLOAD},
        "metrics": {"port": 0},
    }
    for section, values in (extra or {}).items():
        data.setdefault(section, {}).update(values)
    return data


def interleaved() -> list[tuple[str, bytes]]:
    """Good and bad messages alternating, so good ones sit on both sides of every bad one."""
    out = []
    for i, good in enumerate(GOOD):
        out.append(good)
        if i < len(BAD):
            out.append(BAD[i][:2])
    out.extend(b[:2] for b in BAD[len(GOOD) :])
    out.append(GOOD[0])
    return out
