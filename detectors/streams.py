"""Per-stream state in arrays, and the batch layout every streaming detector shares.

A batch is three equal-length arrays: ``stream`` (int stream id ≥ 0), ``ts_ns`` (int64) and
``value`` (float64), many streams interleaved, each stream's readings in arrival order. Detector
state is a set of arrays whose row ``i`` belongs to stream id ``i``; the arrays grow as new ids
appear.

The batch is rearranged into a grid: one row per stream present, one column per reading of that
stream in this batch (padded with NaN). A detector then works along axis 1 with cumulative sums,
filters and sliding windows, so 10,000 streams with one reading each and one stream with 100,000
readings each cost a few numpy calls. Carrying the state across batches this way gives exactly the
same scores however the data is split into batches.

The grid of a batch made of rounds (the same distinct streams, in the same order, once per round:
what a fleet polled every tick sends) is a transposed view of the batch, without sorting or
copying; its columns are then contiguous in memory. A grid may therefore share memory with the
batch: detectors must not write into the grids they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from faultline.detectors import kernels

__all__ = ["Grid", "StreamingDetector", "check_batch", "exp_smooth"]

# What ``StreamingDetector._update`` returns: the score grid, or it and more per-reading grids by name.
UpdateResult = np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]

# A grid wider than this many cells per reading means one stream dominates the batch; splitting the
# batch (which does not change the result) keeps memory in proportion to the batch.
_MAX_PADDING = 4


def check_batch(stream: Any, ts_ns: Any, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert a batch; raise ValueError naming the first bad element."""
    return _checked(stream, ts_ns, value)[:3]


def _checked(stream: Any, ts_ns: Any, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``check_batch``, and the largest stream id (-1 in an empty batch)."""
    s = np.asarray(stream)
    t = np.asarray(ts_ns)
    v = np.asarray(value, dtype=np.float64)
    if not (s.ndim == t.ndim == v.ndim == 1) or not (len(s) == len(t) == len(v)):
        raise ValueError(
            f"stream, ts_ns and value must be 1-D of equal length, got shapes {s.shape}, {t.shape}, {v.shape}"
        )
    top = -1
    if len(s):
        if s.dtype.kind in "iu":
            s = s.astype(np.int64, copy=False)
            top = int(s.view(np.uint64).max())  # one pass for both: a negative id reads as 2**63 or more
        if top < 0 or top >= 1 << 63:
            raise ValueError(f"stream ids must be integers >= 0, got dtype {s.dtype} min {s.min()}")
    if t.dtype.kind not in "iu":
        raise ValueError(f"ts_ns must be int64 nanoseconds, got dtype {t.dtype}")
    if not kernels.all_finite(v):
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"value[{i}] = {float(v[i])!r} is not finite (stream {int(s[i])})")
    return s.astype(np.int64, copy=False), t.astype(np.int64, copy=False), v, top


@dataclass(frozen=True)
class Grid:
    """A batch laid out as (rows = streams present, columns = order within the stream).

    Attributes
    ----------
    streams : ndarray of int64, shape (n_rows,)
        Stream id of each row, ascending.
    counts : ndarray of int64, shape (n_rows,)
        Readings of each row in this batch.
    order : ndarray of int64, shape (n,) or None
        The batch's readings grouped by stream (a stable sort); None when the batch already is, or
        is made of rounds.
    cell : ndarray of int64, shape (n,) or None
        Flat grid position of each reading of ``order``; None when every row is full (the common
        batches: one reading per stream, or the same number per stream), where it is the identity.
    width : int
        Columns of the grid (the most readings of one stream).
    rounds : bool
        The batch is ``width`` rounds, each listing the same distinct streams in the same order
        (``order`` and ``cell`` are then None): reading ``j * n_rows + i`` of the batch is column
        ``j`` of the stream in place ``i`` of a round, and a grid is a transposed view of the batch.
    perm : ndarray of int64, shape (n_rows,) or None
        With ``rounds``: the place in a round of each row's stream; None when a round lists the
        streams in ascending order.
    target : ndarray of float64, shape (n,) or None
        Where the scores of this batch go, one per reading in input order; ``scores`` lays a grid
        over it when the layout allows.
    """

    streams: np.ndarray
    counts: np.ndarray
    order: np.ndarray | None
    cell: np.ndarray | None
    width: int
    rounds: bool = False
    perm: np.ndarray | None = None
    target: np.ndarray | None = None

    @classmethod
    def of(cls, stream: np.ndarray, target: np.ndarray | None = None) -> "Grid":
        n = len(stream)
        if n == 0:
            e = np.empty(0, np.int64)
            return cls(e, e, None, None, 0, target=target)
        size = _round_size(stream)
        if size:
            ids, perm = stream[:size], None
            ascending = (ids[1:] > ids[:-1]).all()
            if not ascending:
                perm = np.argsort(ids, kind="stable")
                ids = ids[perm]
            if ascending or (ids[1:] > ids[:-1]).all():  # each stream once per round
                return cls(
                    ids.astype(np.int64), np.full(size, n // size, np.int64), None, None, n // size, True, perm, target
                )
        elif (stream[1:] > stream[:-1]).all():  # one reading per stream, ids ascending: a single round
            return cls(stream.astype(np.int64, copy=False), np.ones(n, np.int64), None, None, 1, True, None, target)
        order = None
        if not (stream[1:] >= stream[:-1]).all():  # not already grouped (one stream, or sorted by stream)
            # a stable radix sort when ids fit in 16 bits (O(n), cheaper than a merge sort)
            order = np.argsort(stream.astype(np.uint16) if stream.max() < 1 << 16 else stream, kind="stable")
        # ids index the state arrays, which are as long as the largest id, so counting by id is cheap
        per_id = np.bincount(stream)
        streams = np.flatnonzero(per_id)
        counts = per_id[streams]
        width = int(counts.max())
        cell = None
        if width * len(streams) != n:  # ragged rows: reading p of the sorted batch sits at p + row's padding
            starts = np.cumsum(counts) - counts
            cell = np.arange(n) + np.repeat(np.arange(len(streams)) * width - starts, counts)
        return cls(
            streams.astype(np.int64, copy=False), counts.astype(np.int64, copy=False), order, cell, width, target=target
        )

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.streams), self.width

    @property
    def full(self) -> bool:
        """Every row holds ``width`` readings (no padding)."""
        return self.cell is None

    def _grouped(self, x: np.ndarray) -> np.ndarray:
        return x if self.order is None else x[self.order]

    def spread(self, x: np.ndarray, fill: Any = np.nan) -> np.ndarray:
        """Place a per-reading array into the grid, padding with ``fill`` (may be a view of ``x``)."""
        dtype = np.result_type(x, np.asarray(fill))
        if self.rounds:
            by_round = x.astype(dtype, copy=False).reshape(self.width, -1)
            return (by_round if self.perm is None else by_round[:, self.perm]).T
        if self.cell is None:
            return self._grouped(x).astype(dtype, copy=False).reshape(self.shape)
        out = np.full(self.shape, fill, dtype=dtype)
        out.reshape(-1)[self.cell] = self._grouped(x)
        return out

    def empty(self, dtype: Any = np.float64) -> np.ndarray:
        """An uninitialised grid laid out as ``spread`` lays one out, so ``gather`` reads it cheaply."""
        if self.rounds:
            return np.empty(self.shape[::-1], dtype).T
        return np.empty(self.shape, dtype)

    def scores(self) -> np.ndarray:
        """An uninitialised float grid for the scores a detector returns.

        A view of ``target`` when the readings sit in it in grid order (rounds listing the streams
        in ascending order, or a batch grouped by stream with full rows): ``gather`` then reads it
        back without a copy. Call it once per batch, for the grid that is returned.
        """
        flat = self.target
        if flat is None or self.order is not None or self.cell is not None or self.perm is not None:
            return self.empty()
        return flat.reshape(self.width, -1).T if self.rounds else flat.reshape(self.shape)

    def loop_scores(self) -> np.ndarray:
        """`scores`, or an `empty` grid when that view is neither row- nor column-contiguous: the
        compiled loops (`kernels.flat`) write through one flat view of the grid."""
        out = self.scores()
        return out if out.flags.c_contiguous or out.flags.f_contiguous else self.empty()

    def gather(self, g: np.ndarray) -> np.ndarray:
        """Read a grid back into one value per reading, in input order."""
        if self.rounds:
            if self.perm is None:
                return g.T.reshape(-1)  # no copy when g is laid out as spread lays one out
            out = np.empty((self.width, len(self.perm)), dtype=g.dtype)
            out[:, self.perm] = g.T
            return out.reshape(-1)
        flat = g.reshape(-1) if self.cell is None else g.reshape(-1)[self.cell]
        if self.order is None:
            return flat
        out = np.empty(len(self.order), dtype=g.dtype)
        out[self.order] = flat
        return out

    def valid(self) -> np.ndarray:
        """Boolean grid: True where a reading sits."""
        if self.cell is None:
            return np.ones(self.shape, dtype=bool)
        return np.arange(self.width)[None, :] < self.counts[:, None]

    def last(self, g: np.ndarray) -> np.ndarray:
        """The last real element of each row."""
        if self.cell is None:
            return g[:, -1]
        return g[np.arange(len(self.counts)), self.counts - 1]


def _round_size(stream: np.ndarray) -> int:
    """Readings per round when the batch may be rounds of the same streams (at least two), else 0.

    The candidate size is where the first stream comes back; the batch must repeat with that period.
    Whether a round lists distinct streams is left to the caller.
    """
    half = len(stream) // 2
    if not half:
        return 0
    back = stream[1 : min(half, 4096) + 1] == stream[0]  # most rounds are short: look near the start first
    if not back.any() and half > 4096:
        back = stream[1 : half + 1] == stream[0]
    size = int(back.argmax()) + 1
    if not back[size - 1] or len(stream) % size:
        return 0
    return size if kernels.periodic(stream, size) else 0


def trailing(history: np.ndarray, new: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Keep the last ``history.shape[1]`` real elements of ``[history | new]`` per row.

    ``history`` holds each row's previous elements oldest first (NaN or a fill where there are
    fewer); ``new`` holds ``counts`` real elements per row, then padding.
    """
    width = history.shape[1]
    joined = np.concatenate([history, new], axis=1)
    idx = counts[:, None] + np.arange(width)[None, :]
    return np.take_along_axis(joined, idx, axis=1)


def exp_smooth(x: np.ndarray, alpha: float, start: np.ndarray) -> np.ndarray:
    """``y_j = alpha x_j + (1 - alpha) y_{j-1}`` along each row of ``x`` from ``y_{-1} = start``.

    scipy's lfilter along the rows, or on many rows the same arithmetic (``(1 - alpha) y_{j-1}`` and
    ``alpha x_j`` rounded, then added) one column at a time: the same bits either way, and however a
    row is split into batches (the last column carried as the next ``start``).
    """
    from scipy import signal

    rows, cols = x.shape
    if not cols:
        return np.empty_like(x, dtype=np.float64)
    if rows < 256:
        return signal.lfilter([alpha], [1.0, alpha - 1.0], x, axis=1, zi=((1.0 - alpha) * start)[:, None])[0]
    y = np.multiply(x, alpha)
    prev, carried = np.asarray(start, dtype=np.float64), np.empty(rows)
    for j in range(cols):
        step = y[:, j]
        prev = np.add(np.multiply(prev, 1.0 - alpha, out=carried), step, out=step)
    return y


def windows(history: np.ndarray, new: np.ndarray, size: int) -> np.ndarray:
    """Sliding windows ending at each new element: shape (rows, new cols, size).

    Window ``[r, j]`` holds the ``size`` elements up to and including ``new[r, j]``; ``history``
    must hold at least ``size - 1`` previous elements per row.
    """
    joined = np.concatenate([history[:, history.shape[1] - (size - 1) :], new], axis=1)
    return sliding_window_view(joined, size, axis=1)


class StreamingDetector:
    """Base of the streaming detectors: state arrays per stream, batch-split invariant updates.

    Subclasses declare ``state_fields`` (name → (dtype, fill, extra shape)) and implement
    ``_update(grid, ts, value, valid, state)`` over grids of shape (n_rows, n_cols), where ``state``
    holds the rows of each state array for the streams present; they write the new state into it
    and return the score grid (``grid.scores()`` gives one that costs no copy to return; what sits in
    padding cells is never read), or (score grid, {name: grid}) to publish more per-reading values
    in ``last_extras_`` (each shape (n,)) after ``update``.
    """

    kind: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    # what a finding of this detector is about: the machine ("anomaly") or the data ("data_quality":
    # stuck, silent, out of range; a sensor check, never part of the anomaly score)
    finding_kind: ClassVar[str] = "anomaly"
    # name -> (dtype, fill, extra shape); an extra dimension given as a str is the parameter that sizes it
    state_fields: ClassVar[dict[str, tuple[Any, Any, tuple[int | str, ...]]]] = {}
    state_: dict[str, np.ndarray]  # the state arrays, one row per stream id; set on the first batch
    last_extras_: dict[str, np.ndarray]

    def params(self) -> dict[str, Any]:
        """The parameters this detector was built with (as given to ``__init__``)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    # --- state -------------------------------------------------------------------------------
    def _shape_of(self, name: str) -> tuple[int, ...]:
        return tuple(self._resolve(e) for e in self.state_fields[name][2])

    def _ensure(self, n_streams: int) -> None:
        state = self.__dict__.setdefault("state_", {})
        have = len(next(iter(state.values()))) if state else 0
        if state and have >= n_streams:
            return
        size = max(n_streams, 2 * have, 16)
        for name, (dtype, fill, extra) in self.state_fields.items():
            shape = tuple(self._resolve(e) for e in extra)
            grown = np.full((size, *shape), fill, dtype=dtype)
            if name in state:
                grown[:have] = state[name]
            state[name] = grown

    def _resolve(self, e: Any) -> int:
        return int(getattr(self, e)) if isinstance(e, str) else int(e)

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume: kind, version, parameters and state arrays (as lists)."""
        state = getattr(self, "state_", {})
        return {
            "kind": self.kind,
            "version": self.version,
            "params": self.params(),
            "state": {k: v.tolist() for k, v in state.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a detector saved by ``to_dict``."""
        if d.get("kind") != cls.kind:
            raise ValueError(f"state is for detector kind {d.get('kind')!r}, not {cls.kind!r}")
        if d.get("version") != cls.version:
            raise ValueError(f"state is from {cls.kind} version {d.get('version')!r}, this is {cls.version!r}")
        det = cls(**d["params"])
        if d.get("state"):
            if set(d["state"]) != set(cls.state_fields):
                raise ValueError(
                    f"{cls.kind} state has fields {sorted(d['state'])}, expected {sorted(cls.state_fields)}"
                )
            det.state_ = {k: np.asarray(v, dtype=cls.state_fields[k][0]) for k, v in d["state"].items()}
        return det

    # --- scoring -----------------------------------------------------------------------------
    def update(self, stream: Any, ts_ns: Any, value: Any) -> np.ndarray:
        """Score a batch and advance each stream's state.

        Parameters
        ----------
        stream : ndarray of int, shape (n,)
            Stream id of each reading (≥ 0).
        ts_ns : ndarray of int64, shape (n,)
            Timestamp of each reading, nanoseconds.
        value : ndarray of float64, shape (n,)
            The readings; must be finite.

        Returns
        -------
        ndarray of float64, shape (n,)
            Score of each reading; higher is more abnormal and 1.0 is the alarm level.
        """
        s, t, v, top = _checked(stream, ts_ns, value)
        self.last_extras_ = {}
        if len(s) and not self.state_fields:  # stateless: no need to group by stream
            scores = self._update(None, t[None, :], v[None, :], np.broadcast_to(True, (1, len(s))), {})
            return np.asarray(scores, dtype=np.float64).reshape(len(s))
        out = np.empty(len(s), dtype=np.float64)  # every element is written below
        if len(s):
            self._ensure(top + 1)
            self._update_split(s, t, v, out, 0)
        return out

    def _grid_or_halves(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, out: np.ndarray, offset: int) -> Grid | None:
        """The grid of this piece of a batch; or, when one stream dominates it (the grid would be mostly
        padding), None after each half has gone through ``_update_split`` on its own."""
        grid = Grid.of(s, target=out[offset : offset + len(s)])
        rows, cols = grid.shape
        if rows * cols > _MAX_PADDING * len(s) + 1024 and len(s) > 1:
            half = len(s) // 2
            self._update_split(s[:half], t[:half], v[:half], out, offset)
            self._update_split(s[half:], t[half:], v[half:], out, offset + half)
            return None
        return grid

    def _update_split(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, out: np.ndarray, offset: int) -> None:
        grid = self._grid_or_halves(s, t, v, out, offset)
        if grid is None:
            return
        state = {k: a[grid.streams] for k, a in self.state_.items()}
        scores = self._update(grid, grid.spread(t, 0), grid.spread(v), grid.valid(), state)
        if isinstance(scores, tuple):  # (scores, {name: per-reading grid}) from detectors with more to say
            scores, extras = scores
            total = len(out)
            for name, g in extras.items():
                self.last_extras_.setdefault(name, np.full(total, np.nan))[offset : offset + len(s)] = grid.gather(g)
        for k, a in state.items():
            self.state_[k][grid.streams] = a
        out[offset : offset + len(s)] = grid.gather(scores)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> UpdateResult:  # pragma: no cover - abstract
        raise NotImplementedError
