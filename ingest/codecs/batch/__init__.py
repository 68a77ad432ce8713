"""A batch as JSON: ``{"ts": [t1, t2, ...], "value": [v1, v2, ...]}`` on a reading topic.

Equal-length, non-empty arrays (at most ``DecodeLimits.max_batch_len``); each ``ts`` element follows
the one-reading rule (epoch s/ms/µs/ns by magnitude, or ISO 8601). A bad element costs that reading
alone: it is rejected on its own (as ``{"ts": .., "value": ..}``) and the rest of the batch is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from faultline.ingest.codecs.timestamps import MS, MS_RANGE
from faultline.ingest.codecs.values import array, number, numbers
from faultline.ingest.errors import PayloadError, shown

if TYPE_CHECKING:
    from faultline.ingest.codecs.decoder import Decoder, _Partial, _Rows


def decode(
    decoder: "Decoder", tags: dict[str, str], obj: dict, received: int, rows: "_Rows", partial: "_Partial"
) -> None:
    """Append the readings of the batch ``obj`` to ``rows``; bad elements go to ``partial``."""
    values, raw_ts = obj["value"], obj.get("ts")
    if type(raw_ts) is not list:
        raise PayloadError(
            f'"value" is an array but "ts" is {shown(raw_ts)}; a batch needs "ts" as an array of the same length'
        )
    array(values, '"value"', "readings", decoder.limits.max_batch_len)
    if len(values) != len(raw_ts):
        raise PayloadError(f'"ts" has {len(raw_ts)} elements but "value" has {len(values)}')
    try:
        value = numbers(values, '"value"')
        ts = timestamps(decoder, raw_ts, received, '"ts"')
    except PayloadError:
        # a bad element costs that reading alone: the slow path, taken only when one is bad
        good_ts, good_values = [], []
        for k, (t, v) in enumerate(zip(raw_ts, values)):
            try:
                checked = number(v, f'"value"[{k}]')
                good_ts.append(decoder.timestamp(t, received, f'"ts"[{k}]'))
                good_values.append(checked)
            except PayloadError as exc:
                partial.reject({"ts": t, "value": v}, exc.reason)
        if not good_ts:
            return
        value, ts = np.array(good_values, dtype=np.float64), np.array(good_ts, dtype=np.int64)
    rows.add_block(decoder.key(tags), ts, value)


def timestamps(decoder: "Decoder", raw: list, received: int, what: str) -> np.ndarray:
    """Epoch ns of every element of ``raw``; numbers all in milliseconds take a vectorised path."""
    types = set(map(type, raw))
    if types <= {int, float}:
        lo, hi = min(raw), max(raw)  # cheaper than numpy on a 100-element batch; no overflow possible
        if MS_RANGE[0] <= lo and hi < MS_RANGE[1]:
            limits = decoder.limits
            if not (limits.earliest_ns <= lo * MS and hi * MS <= received + limits.max_future_ns):
                k = next(
                    k for k, t in enumerate(raw) if not limits.earliest_ns <= t * MS <= received + limits.max_future_ns
                )
                decoder.timestamp(raw[k], received, f"{what}[{k}]")  # raises with the reason
            if types == {int}:
                return np.array(raw, dtype=np.int64) * MS
            ms = np.array(raw, dtype=np.float64)
            whole = np.floor(ms)  # whole milliseconds stay exact; ms * 1e6 would round them
            return whole.astype(np.int64) * MS + np.rint((ms - whole) * MS).astype(np.int64)
    return np.array([decoder.timestamp(t, received, f"{what}[{k}]") for k, t in enumerate(raw)], dtype=np.int64)


__all__ = ["decode", "timestamps"]
