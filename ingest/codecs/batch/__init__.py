"""A batch as JSON: ``{"ts": [t1, t2, ...], "value": [v1, v2, ...]}`` on a reading topic.

Equal-length, non-empty arrays (at most ``DecodeLimits.max_batch_len``); each ``ts`` element follows
the one-reading rule (epoch s/ms/µs/ns by magnitude, or ISO 8601). A bad element costs that reading
alone: it is rejected on its own (as ``{"ts": .., "value": ..}``) and the rest of the batch is kept.

Speed: the batches of one `Decoder.decode_many` call are checked and converted together
(`decode_together`) when their elements are plain -- integer millisecond timestamps inside the
window and finite numbers, the usual gateway batch -- with one numpy conversion per call instead of
several per message. A batch that is not plain goes through `decode` alone, which names what is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Sequence

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


class Pending(NamedTuple):
    """A batch message waiting for `decode_together`: its position in the call, tags, parsed payload
    and receive time."""

    message: int
    tags: dict[str, str]
    obj: dict
    received: int


def decode_together(decoder: "Decoder", pending: Sequence[Pending], rows: "_Rows") -> list[Pending]:
    """Add the readings of every plain batch of ``pending`` to ``rows`` in one vector pass; returns the
    others, for `decode` one by one.

    Plain: ``ts`` and ``value`` lists of the same length (1 to ``max_batch_len``), every ``ts`` an
    integer in milliseconds inside the window, every value a finite JSON number. A batch with one
    element that is not costs that batch the vector pass, not its neighbours; a value or timestamp of
    another type anywhere sends every batch of the call through `decode` (it names the culprit).
    """
    limit = decoder.limits.max_batch_len
    slow: list[Pending] = []
    plain: list[Pending] = []
    values: list = []
    stamps: list = []
    lengths: list[int] = []
    for item in pending:
        value, ts = item.obj["value"], item.obj.get("ts")
        if type(ts) is not list or not 0 < len(value) == len(ts) <= limit:
            slow.append(item)
            continue
        plain.append(item)
        values += value
        stamps += ts
        lengths.append(len(value))
    # not isinstance: a bool is not a number here, and a float timestamp takes the exact path of `decode`
    if not plain or not set(map(type, values)) <= {int, float} or set(map(type, stamps)) != {int}:
        return slow + plain
    try:
        value_array = np.array(values, dtype=np.float64)
        ts_ms = np.array(stamps, dtype=np.int64)
    except OverflowError:  # an integer beyond float64 or int64
        return slow + plain
    lo, hi = MS_RANGE
    counts = np.array(lengths)
    good = np.isfinite(value_array) & (ts_ms >= lo) & (ts_ms < hi)
    ts_ns = ts_ms * MS  # in range (< 1e14 ms), so no overflow
    received = np.repeat(np.array([item.received for item in plain], dtype=np.int64), counts)
    good &= (ts_ns >= decoder.limits.earliest_ns) & (ts_ns <= received + decoder.limits.max_future_ns)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    whole = np.logical_and.reduceat(good, starts)
    if not whole.all():
        slow += [item for item, ok in zip(plain, whole.tolist()) if not ok]
        keep = np.repeat(whole, counts)
        ts_ns, value_array, counts = ts_ns[keep], value_array[keep], counts[whole]
    # series are registered only for batches kept here, as `decode` registers one only for readings it keeps
    positions = [rows.position(decoder.key(item.tags)) for item, ok in zip(plain, whole.tolist()) if ok]
    if positions:
        rows.add_rows(np.repeat(np.array(positions, dtype=np.int32), counts), ts_ns, value_array)
    return slow


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


__all__ = ["Pending", "decode", "decode_together", "timestamps"]
