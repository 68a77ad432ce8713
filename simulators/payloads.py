"""Faultline's MQTT payload formats, as a gateway would write them (no import of ``ingest``).

* one reading ``{"ts": 1763700000123, "value": 4.2}`` on ``faultline/{site}/{asset}/{sensor}``;
* a batch ``{"ts": [..], "value": [..]}`` on the same topic;
* a waveform block ``{"t0": <ts>, "rate_hz": 10240, "values": [..]}`` on ``.../accel``;
* a gateway message ``{"readings": [{"site", "asset", "sensor", "ts", "value"}, ..]}`` on
  ``faultline/{site}/_gateway/{gateway}``.

Timestamps are epoch milliseconds. Messages come out in the order they are sent (`Message.at_ns`).
"""

from __future__ import annotations

import heapq
from typing import Iterable, Iterator

import numpy as np
import orjson

from faultline.simulators.fleet import Fleet
from faultline.simulators.gateway import Message
from faultline.simulators.run import AssetTable

__all__ = ["asset_messages", "combine_gateway_messages", "reading_messages", "waveform_messages"]

MS = 1_000_000


def reading_messages(
    topic: str, asset: str, sensor: str, at_ns: np.ndarray, ts_ns: np.ndarray, values: np.ndarray, batch_size: int = 1
) -> Iterator[Message]:
    """One sensor's readings as single-reading (``batch_size`` 1) or batch messages.

    NaN values (no reading) are skipped. A batch is sent when its last reading is taken.

    Parameters
    ----------
    at_ns, ts_ns, values : ndarray, shape (n,)
        Send time since the run's start, reported timestamp (epoch ns) and value of each reading.
    """
    ok = ~np.isnan(values)
    at, ms, vals = at_ns[ok], (ts_ns[ok] // MS).tolist(), values[ok].tolist()
    sensors = (sensor,)
    if batch_size == 1:
        for i, (t, v) in enumerate(zip(ms, vals)):
            yield Message(
                int(at[i]), topic, b'{"ts":%d,"value":%s}' % (t, repr(v).encode()), 1, "single", asset, sensors
            )
        return
    for lo in range(0, len(ms), batch_size):
        hi = min(lo + batch_size, len(ms))
        payload = orjson.dumps({"ts": ms[lo:hi], "value": vals[lo:hi]})
        yield Message(int(at[hi - 1]), topic, payload, hi - lo, "batch", asset, sensors)


def _gateway_messages(fleet: Fleet, table: AssetTable, keep: np.ndarray) -> Iterator[Message]:
    asset = table.asset
    topic = fleet.gateway_topic_template.format(site=asset.site, gateway=asset.gateway)
    at, ms = table.elapsed_ns[keep], (table.ts_ns[keep] // MS).tolist()
    columns = [(s, table.columns[s][keep].tolist()) for s in asset.scalar_sensors]
    for lo in range(0, len(ms), asset.batch_size):
        hi = min(lo + asset.batch_size, len(ms))
        readings = [
            {"site": asset.site, "asset": asset.id, "sensor": sensor, "ts": ms[i], "value": values[i]}
            for i in range(lo, hi)
            for sensor, values in columns
            if values[i] == values[i]
        ]
        if readings:
            yield Message(
                int(at[hi - 1]),
                topic,
                orjson.dumps({"readings": readings}),
                len(readings),
                "gateway",
                asset.id,
                asset.scalar_sensors,
            )


def waveform_messages(
    topic: str, asset: str, at_ns: np.ndarray, t0_ns: np.ndarray, rate_hz: float, blocks: np.ndarray
) -> Iterator[Message]:
    """Waveform-block messages, shape of ``blocks`` (B, N); values to 0.1 mm/s² (4 decimals)."""
    rounded = np.round(blocks.astype(np.float64), 4)
    for i in range(len(t0_ns)):
        payload = orjson.dumps(
            {"t0": int(t0_ns[i] // MS), "rate_hz": rate_hz, "values": rounded[i]}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        yield Message(int(at_ns[i]), topic, payload, 1, "waveform", asset, ("accel",))


def asset_messages(fleet: Fleet, table: AssetTable) -> Iterator[Message]:
    """Every message an asset sends over the run, in send order, in its configured payload format.

    Readings taken while its gateway was offline are not sent (they are lost, as the labels say).
    """
    asset = table.asset
    keep = ~table.lost
    streams = []
    if asset.payload == "gateway":
        streams.append(_gateway_messages(fleet, table, keep))
    else:
        size = 1 if asset.payload == "single" else asset.batch_size
        for sensor in asset.scalar_sensors:
            topic = fleet.topic_template.format(site=asset.site, asset=asset.id, sensor=sensor)
            streams.append(
                reading_messages(
                    topic,
                    asset.id,
                    sensor,
                    table.elapsed_ns[keep],
                    table.ts_ns[keep],
                    table.columns[sensor][keep],
                    size,
                )
            )
    if len(table.waveform_t0_ns):
        w_keep = ~table.waveform_lost
        span_ns = int(table.waveform.shape[1] / table.waveform_rate_hz * 1e9)
        topic = fleet.topic_template.format(site=asset.site, asset=asset.id, sensor="accel")
        streams.append(
            waveform_messages(
                topic,
                asset.id,
                table.waveform_elapsed_ns[w_keep] + span_ns,
                table.waveform_t0_ns[w_keep],
                table.waveform_rate_hz,
                table.waveform[w_keep],
            )
        )
    return heapq.merge(*streams, key=lambda m: m.at_ns)


def combine_gateway_messages(messages: Iterable[Message]) -> Iterator[Message]:
    """Merge gateway messages sent at the same moment on the same topic into one multi-asset message.

    A real gateway sends one message for all the devices it polled; per-asset messages that fall on
    the same send time (same scalar period and ``batch_size``) become one. ``messages`` must be in
    send order; other formats pass through unchanged.
    """
    pending: dict[str, list[Message]] = {}
    pending_at = None
    for msg in messages:
        if pending and msg.at_ns != pending_at:
            yield from _merged(pending)
            pending = {}
        if msg.format == "gateway":
            pending_at = msg.at_ns
            pending.setdefault(msg.topic, []).append(msg)
        else:
            yield msg
    yield from _merged(pending)


def _merged(pending: dict[str, list[Message]]) -> Iterator[Message]:
    for topic, group in pending.items():
        if len(group) == 1:
            yield group[0]
            continue
        readings = [r for m in group for r in orjson.loads(m.payload)["readings"]]
        sensors = tuple(dict.fromkeys(s for m in group for s in m.sensors))
        yield Message(
            group[0].at_ns,
            topic,
            orjson.dumps({"readings": readings}),
            len(readings),
            "gateway",
            ",".join(m.asset for m in group),
            sensors,
        )
