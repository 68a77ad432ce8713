"""`Readings`: the columnar batch that travels from decode through the spool to the writers.

A decoded message becomes arrays and stays arrays: row ``i`` says that series ``series[index[i]]``
had value ``value[i]`` at ``ts[i]``. There is no Python object per reading; a Python object per
*series* (a few per message) is cheap and lets the line-protocol writer cache each series' escaped
prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np


class SeriesKey(NamedTuple):
    """One time series: InfluxDB measurement, tag set (sorted by key) and field name."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    field: str = "value"

    @classmethod
    def of(cls, measurement: str, tags: dict[str, str], field: str = "value") -> "SeriesKey":
        """Build a key with the tags sorted by key, as InfluxDB stores them."""
        return cls(measurement, tuple(sorted(tags.items())), field)

    def tag(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.tags:
            if key == name:
                return value
        return default


_EMPTY_I32 = np.empty(0, dtype=np.int32)
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_F64 = np.empty(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Readings:
    """A batch of readings in columns.

    Attributes
    ----------
    series : tuple of SeriesKey
        The distinct series in this batch.
    index : ndarray of int32, shape (n,)
        Position in ``series`` of each row.
    ts : ndarray of int64, shape (n,)
        Device timestamp of each row, nanoseconds since the Unix epoch (UTC).
    value : ndarray of float64, shape (n,)
        The reading.
    """

    series: tuple[SeriesKey, ...]
    index: np.ndarray
    ts: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ts)
        if len(self.index) != n or len(self.value) != n:
            raise ValueError(f"columns differ in length: index {len(self.index)}, ts {n}, value {len(self.value)}")

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> "Readings":
        return cls((), _EMPTY_I32, _EMPTY_I64, _EMPTY_F64)

    @classmethod
    def single_series(cls, key: SeriesKey, ts: np.ndarray, value: np.ndarray) -> "Readings":
        """A batch in which every row belongs to ``key``."""
        return cls(
            (key,),
            np.zeros(len(ts), dtype=np.int32),
            np.asarray(ts, dtype=np.int64),
            np.asarray(value, dtype=np.float64),
        )

    def slice(self, start: int, stop: int) -> Readings:
        """Rows ``start:stop`` with only the series they use (a spool record carries its series keys).

        >>> r = Readings((SeriesKey("m", ()), SeriesKey("n", ())), np.array([0, 1], dtype=np.int32),
        ...              np.array([1, 2]), np.array([1.0, 2.0]))
        >>> r.slice(1, 2).series, r.slice(1, 2).index.tolist()
        ((SeriesKey(measurement='n', tags=(), field='value'),), [0])
        """
        used, index = np.unique(self.index[start:stop], return_inverse=True)
        return Readings(
            tuple(self.series[i] for i in used.tolist()),
            index.astype(np.int32),
            self.ts[start:stop],
            self.value[start:stop],
        )

    def take(self, rows: np.ndarray) -> Readings:
        """The rows where the boolean mask ``rows`` is true (all series kept)."""
        return Readings(self.series, self.index[rows], self.ts[rows], self.value[rows])

    @classmethod
    def concat(cls, batches: Sequence["Readings"]) -> "Readings":
        """Join batches into one, merging equal series keys."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        positions: dict[SeriesKey, int] = {}
        remapped = []
        for b in batches:
            mapping = np.fromiter(
                (positions.setdefault(k, len(positions)) for k in b.series), dtype=np.int32, count=len(b.series)
            )
            remapped.append(mapping[b.index])
        return cls(
            tuple(positions),
            np.concatenate(remapped),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.value for b in batches]),
        )
