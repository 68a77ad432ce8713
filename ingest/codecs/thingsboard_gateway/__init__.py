"""ThingsBoard's gateway telemetry format: many devices' readings in one JSON message.

On ``v1/gateway/telemetry`` (the topic ThingsBoard IoT Gateway and gateways written for ThingsBoard
publish to), the payload maps each device name to a list of entries; an entry is either
``{"ts": <epoch>, "values": {"<key>": <value>, ...}}`` or, without a timestamp, the values alone::

    {"Pump 7": [{"ts": 1763700000123, "values": {"bearing_temp": 61.5, "vibration_rms": 2.1}}],
     "Fan 2":  [{"bearing_temp": 40.2}]}

Each value becomes one reading: ``asset`` = the device name, ``sensor`` = the key, and the tags of
the ``tags`` option (default ``site: thingsboard``; give the template's other tags there too). ``ts`` is read by magnitude (s, ms,
µs or ns); without it the receive time is used (tag ``ts_source=receive``). A value that is not a
number (text, a JSON object) is rejected alone — as ``{"<device>": [{"ts": .., "values": {key: value}}]}``,
a message of this format, so a fixed one can be replayed — and the rest of the message is kept.
"""

from __future__ import annotations

from typing import Any

import orjson

from faultline.ingest.codecs.values import json_type, number
from faultline.ingest.errors import PayloadError, shown

TOPIC = "v1/gateway/telemetry"


class ThingsboardGateway:
    """Decodes ThingsBoard gateway telemetry; ``tags`` gives the template's tags other than asset and sensor."""

    def __init__(self, tags: dict[str, str]):
        self.fixed = dict(tags)

    @classmethod
    def from_options(cls, options: dict[str, Any], template_names: tuple[str, ...]) -> "ThingsboardGateway":
        unknown = sorted(set(options) - {"tags"})
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r} (known: tags)")
        tags = options.get("tags", {"site": "thingsboard"})
        if not isinstance(tags, dict) or not all(isinstance(v, str) and v for v in tags.values()):
            raise ValueError(f"tags is {tags!r}, expected a mapping of tag names to non-empty text")
        return cls({k: v for k, v in tags.items() if k not in ("asset", "sensor")})

    def decode(self, topic: str, payload: bytes, out) -> None:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(f"not JSON: {exc}") from None
        if type(obj) is not dict:
            raise PayloadError(f"payload is a JSON {json_type(obj)}, expected an object of device name -> entries")
        for device, entries in obj.items():
            if type(entries) is not list:
                out.reject({device: entries}, f'"{device}" is {shown(entries)}, expected an array of entries')
                continue
            for n, entry in enumerate(entries):
                self._entry(out, device, n, entry)

    def _entry(self, out, device: str, n: int, entry: object) -> None:
        where = f'"{device}"[{n}]'
        if type(entry) is not dict:
            out.reject({device: [entry]}, f"{where} is {shown(entry)}, expected an object")
            return
        raw_ts, values = (entry.get("ts"), entry["values"]) if "values" in entry else (None, entry)
        try:
            if type(values) is not dict or not values:
                raise PayloadError(f"{where}.values is {shown(values)}, expected an object of key -> number")
            ts = out.timestamp(raw_ts, f"{where}.ts") if raw_ts is not None else None
        except PayloadError as exc:
            out.reject({device: [entry]}, exc.reason)
            return
        for key, value in values.items():
            try:
                reading = number(value, f"{where}.values.{key}")
                tags = out.tags({**self.fixed, "asset": device, "sensor": key}, where)
            except PayloadError as exc:
                kept = {"ts": raw_ts, "values": {key: value}} if raw_ts is not None else {key: value}
                out.reject({device: [kept]}, exc.reason)
                continue
            if ts is None:
                out.reading(tags, out.received, reading, receive=True)
            else:
                out.reading(tags, ts, reading)


__all__ = ["TOPIC", "ThingsboardGateway"]
