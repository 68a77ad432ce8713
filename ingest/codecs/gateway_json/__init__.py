"""Faultline's gateway message: several assets' readings in one JSON message on a gateway topic.

``{"readings": [{"asset": "pump7", "sensor": "bearing_temp", "ts": 1763700000123, "value": 61.5}, ...]}``
on ``faultline/{site}/_gateway/{gateway}``. Each reading names every placeholder of the reading
template (so its series is the one it would have on its own topic); those the gateway topic has
(``site``) default to the topic's. ``ts`` follows the one-reading rule. A bad reading is rejected
alone, as ``{"readings": [that reading]}``, and the message's good readings are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultline.ingest.codecs.values import array, number
from faultline.ingest.errors import PayloadError, shown
from faultline.ingest.topics import check_tag_value

if TYPE_CHECKING:
    from faultline.ingest.codecs.decoder import Decoder, _Partial, _Rows


def decode(decoder: "Decoder", topic: str, obj: dict, received: int, rows: "_Rows", partial: "_Partial") -> None:
    """Append the readings of the gateway message ``obj`` to ``rows``; bad ones go to ``partial``."""
    is_gateway, topic_tags = decoder.route(topic)
    if not is_gateway:
        raise PayloadError(
            f'"readings" payloads belong on gateway topics ({decoder.gateway_template.template}), not on {shown(topic)}'
        )
    readings = array(obj["readings"], '"readings"', "readings", decoder.limits.max_batch_len)
    names = decoder.template.names
    max_chars = decoder.limits.max_tag_chars
    idx, ts, val = [], [], []
    for n, reading in enumerate(readings):
        where = f'"readings"[{n}]'
        try:
            if type(reading) is not dict:
                raise PayloadError(f"{where} is {shown(reading)}, expected an object")
            tags = {}
            for name in names:
                text = reading.get(name, topic_tags.get(name))
                if type(text) is not str:
                    missing = name not in reading
                    raise PayloadError(
                        f'{where} {"has no" if missing else "has a non-text"} "{name}"'
                        + ("" if missing else f": {shown(text)}")
                    )
                check_tag_value(f"{where}.{name}", text)
                if len(text) > max_chars:
                    raise PayloadError(f"{where}.{name} is {len(text)} characters, over the limit of {max_chars}")
                tags[name] = text
            value = number(reading.get("value"), f"{where}.value")
            raw_ts = reading.get("ts")
            if raw_ts is None:
                if "ts" in reading:
                    raise PayloadError(f"{where}.ts is null; leave it out to use the receive time")
                key, stamp = decoder.key(tags, receive=True), received
            else:
                stamp = decoder.timestamp(raw_ts, received, f"{where}.ts")
                key = decoder.key(tags)
        except PayloadError as exc:
            partial.reject(reading, exc.reason)
            continue
        idx.append(rows.position(key))
        ts.append(stamp)
        val.append(value)
    rows.idx.extend(idx)
    rows.ts.extend(ts)
    rows.val.extend(val)


__all__ = ["decode"]
