"""Replay a recorded CSV (a timestamp column and one column per sensor) as gateway messages.

Timestamps may be ISO 8601 (``2026-01-05T08:00:00Z``, naive = UTC) or epoch numbers in seconds,
milliseconds or nanoseconds (told apart by size). Each row becomes one single-reading message per
mapped, non-empty column, sent with the recording's own spacing divided by ``speed``.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator

import numpy as np

from faultline.simulators.gateway import Message
from faultline.simulators.payloads import reading_messages
from faultline.simulators.run import to_ns

__all__ = ["Recording", "ReplayError", "read_recording", "recording_messages"]


class ReplayError(ValueError):
    """Raised when a recorded CSV cannot be replayed; the message names the file, row and value."""


@dataclass
class Recording:
    """A recorded CSV in columns: ts int64 ns shape (n,), and values float64 (n,) per sensor (NaN = empty)."""

    ts_ns: np.ndarray
    columns: dict[str, np.ndarray]


def _timestamp(text: str) -> int:
    """Epoch ns from ISO 8601 or an epoch number (s, ms or ns by magnitude), without float rounding."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return to_ns(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
    if not number.is_finite():
        raise ValueError(f"not a time: {text!r}")
    if abs(number) > Decimal(10) ** 17:
        return int(number)
    if abs(number) > Decimal(10) ** 11:
        return int(number * 10**6)
    return int(number * 10**9)


def read_recording(path: str | Path, mapping: dict[str, str] | None = None, ts_column: str | None = None) -> Recording:
    """Read a recorded CSV.

    Parameters
    ----------
    mapping : dict of str to str, optional
        CSV column → sensor name; only mapped columns are replayed. Without it every column but
        the timestamp is replayed under its own name.
    ts_column : str, optional
        The timestamp column; defaults to ``ts``, ``timestamp`` or ``time`` if present, else the first.
    """
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc}") from exc
    if len(rows) < 2:
        raise ReplayError(f"{path}: no data rows")
    header = [h.strip() for h in rows[0]]
    if ts_column is None:
        ts_column = next((c for c in ("ts", "timestamp", "time") if c in header), header[0])
    if ts_column not in header:
        raise ReplayError(f"{path}: no timestamp column {ts_column!r} (columns: {header})")
    mapping = mapping or {c: c for c in header if c != ts_column}
    missing = sorted(set(mapping) - set(header))
    if missing:
        raise ReplayError(f"{path}: --map names column(s) {missing} that the file lacks (columns: {header})")
    t_index = header.index(ts_column)
    ts = np.empty(len(rows) - 1, dtype=np.int64)
    values = {sensor: np.full(len(rows) - 1, np.nan) for sensor in mapping.values()}
    positions = [(header.index(col), values[sensor]) for col, sensor in mapping.items()]
    for i, row in enumerate(rows[1:]):
        line = i + 2
        try:
            ts[i] = _timestamp(row[t_index].strip())
        except (ValueError, IndexError) as exc:
            raise ReplayError(f"{path}:{line}: bad timestamp {row[t_index] if t_index < len(row) else ''!r}") from exc
        for col, out in positions:
            cell = row[col].strip() if col < len(row) else ""
            if cell:
                try:
                    out[i] = float(cell)
                except ValueError as exc:
                    raise ReplayError(f"{path}:{line}: column {header[col]!r} value {cell!r} is not a number") from exc
    order = np.argsort(ts, kind="stable")
    return Recording(ts[order], {s: v[order] for s, v in values.items()})


def recording_messages(
    recording: Recording, site: str, asset: str, topic_template: str = "faultline/{site}/{asset}/{sensor}"
) -> Iterator[Message]:
    """Single-reading messages in recorded order; ``at_ns`` keeps the recording's own spacing."""
    at = recording.ts_ns - recording.ts_ns[0] if len(recording.ts_ns) else recording.ts_ns
    streams = [
        reading_messages(
            topic_template.format(site=site, asset=asset, sensor=sensor), asset, sensor, at, recording.ts_ns, values
        )
        for sensor, values in recording.columns.items()
    ]
    return heapq.merge(*streams, key=lambda m: m.at_ns)
