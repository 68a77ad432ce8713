"""One reading as JSON: ``{"ts": 1763700000123, "value": 61.5}`` on a reading topic.

``ts`` is an epoch number (seconds, milliseconds, microseconds or nanoseconds, by magnitude; see
`ingest.codecs.timestamps`) or ISO 8601 text with a UTC offset. Without ``ts`` the receive time is
used and the point carries the tag ``ts_source=receive``. Other keys (``unit``, ``seq``) are ignored.
The common case — an integer millisecond ``ts`` on a topic already seen in the same call — is
decoded inline by `ingest.codecs.decoder.Decoder.decode_many`; this is the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultline.ingest.codecs.values import number
from faultline.ingest.errors import PayloadError

if TYPE_CHECKING:
    from faultline.ingest.codecs.decoder import Decoder, _Rows


def decode(decoder: "Decoder", topic: str, tags: dict[str, str], obj: dict, received: int, rows: "_Rows") -> None:
    """Append the one reading of ``obj`` (on ``topic``, whose tags are ``tags``) to ``rows``."""
    value = number(obj["value"], '"value"')
    raw_ts = obj.get("ts")
    if raw_ts is None:
        if "ts" in obj:
            raise PayloadError('"ts" is null; leave it out to use the receive time')
        key = rows.topic_recv_pos.get(topic)
        if key is None:
            key = rows.topic_recv_pos[topic] = rows.position(decoder.key(tags, receive=True))
        rows.idx.append(key)
        rows.ts.append(received)
        rows.val.append(value)
        return
    if type(raw_ts) is list:
        raise PayloadError('"ts" is an array but "value" is not; a batch needs both as arrays')
    ts_ns = decoder.timestamp(raw_ts, received, '"ts"')
    pos = rows.topic_pos.get(topic)
    if pos is None:
        pos = rows.topic_pos[topic] = rows.position(decoder.key(tags))
    rows.idx.append(pos)
    rows.ts.append(ts_ns)
    rows.val.append(value)


__all__ = ["decode"]
