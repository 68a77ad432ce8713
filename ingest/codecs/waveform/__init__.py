"""A waveform block as JSON: ``{"t0": 1763700000123, "rate_hz": 10240, "values": [0.12, -0.31, ...]}``.

A regularly sampled block on a reading topic (e.g. ``.../accel``), stored as per-block features
(measurement ``waveform``, one field per feature, at ``t0``) from the injected ``waveform_features``
function, and with ``keep_raw_waveform`` every sample (measurement ``waveform_raw``, field
``value``, at ``t0 + i / rate_hz``). ``t0`` follows the one-reading ``ts`` rule. Binary blocks
(`ingest.codecs.binary_waveform`) end up here too. Features are computed once per call for all
blocks of a series with the same rate and length (one vectorised call, not one per block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from faultline.ingest.codecs.timestamps import iso
from faultline.ingest.codecs.values import array, number, numbers
from faultline.ingest.errors import PayloadError, shown

if TYPE_CHECKING:
    from faultline.ingest.codecs.decoder import Block, Decoder, Rejected, _Rows

MAX_RATE_HZ = 1e9  # samples closer than 1 ns would share a timestamp and overwrite each other


def block(decoder: "Decoder", message: int, tags: dict[str, str], obj: dict, received: int) -> "Block":
    """The checked block of the JSON ``obj``."""
    from faultline.ingest.codecs.decoder import Block

    if "t0" not in obj:
        raise PayloadError('waveform block has "values" but no "t0"')
    t0 = decoder.timestamp(obj["t0"], received, '"t0"')
    rate = number(obj.get("rate_hz"), '"rate_hz"')
    values = array(obj["values"], '"values"', "samples", decoder.limits.max_waveform_len)
    check_block(decoder, t0, rate, len(values), received, shown(obj.get("rate_hz")))
    return Block(message, tags, t0, rate, numbers(values, '"values"'))


def check_block(decoder: "Decoder", t0: int, rate: float, n: int, received: int, rate_shown: str) -> None:
    """The rate is positive and at most one sample per ns, and the last sample is not too far ahead."""
    if not 0 < rate <= MAX_RATE_HZ:
        raise PayloadError(
            f'"rate_hz" is {rate_shown}, expected a positive number of at most {MAX_RATE_HZ:g} '
            "(one sample per nanosecond)"
        )
    end = t0 + (n - 1) * 1e9 / rate
    if end > received + decoder.limits.max_future_ns:
        raise PayloadError(
            f'the block\'s last sample ({n} samples at {rate:g} Hz from "t0") would be '
            f"{iso(int(min(end, 2**62)))}, more than "
            f"{decoder.limits.max_future_ns / 3.6e12:g} h ahead of the receive time"
        )


def add_blocks(
    decoder: "Decoder", blocks: list["Block"], messages: Sequence, rows: "_Rows", rejected: list["Rejected"]
) -> None:
    """Store the blocks of one call: features per series, rate and length, and raw samples if asked."""
    from faultline.ingest.codecs.decoder import Rejected

    groups: dict[tuple, list[Block]] = {}
    for b in blocks:
        groups.setdefault((len(b.values), b.rate_hz, tuple(b.tags.items())), []).append(b)
    for (length, rate_hz, _), group in groups.items():
        if decoder.waveform_features is not None:
            try:
                features = _features(decoder, np.stack([b.values for b in group]), rate_hz, group[0].tags)
            except Exception as exc:  # a failing feature function must not lose the messages
                for b in group:
                    topic, payload, _ = messages[b.message]
                    rejected.append(
                        Rejected(
                            b.message, topic, bytes(payload), f"waveform features failed: {type(exc).__name__}: {exc}"
                        )
                    )
                continue
            t0 = np.array([b.t0 for b in group], dtype=np.int64)
            for name, column in features.items():
                finite = np.isfinite(column)
                for n in np.flatnonzero(finite).tolist():
                    key = decoder.key(group[n].tags, measurement="waveform", field=name)
                    rows.idx.append(rows.position(key))
                    rows.ts.append(int(t0[n]))
                    rows.val.append(float(column[n]))
        if decoder.keep_raw_waveform:
            offsets = np.arange(length, dtype=np.float64) * 1e9
            for b in group:
                ts = b.t0 + np.rint(offsets / b.rate_hz).astype(np.int64)
                rows.add_block(decoder.key(b.tags, measurement="waveform_raw"), ts, b.values)


def _features(decoder: "Decoder", blocks: np.ndarray, rate_hz: float, tags: dict[str, str]) -> dict[str, np.ndarray]:
    assert decoder.waveform_features is not None  # called only when the decoder has one
    features = decoder.waveform_features(blocks, rate_hz, dict(tags))
    checked = {}
    for name, column in features.items():
        if decoder.waveform_fields is not None and name not in decoder.waveform_fields:
            continue
        column = np.asarray(column, dtype=np.float64)
        if column.shape != (len(blocks),):
            raise ValueError(f"feature {name!r} has shape {column.shape}, expected ({len(blocks)},)")
        checked[name] = column
    return checked


__all__ = ["MAX_RATE_HZ", "add_blocks", "block", "check_block"]
