"""Drift detectors, EWMA and CUSUM, against a baseline learned from each stream's first readings.

Both learn the stream's healthy mean and standard deviation from its first ``warmup`` readings
(scores are 0 until then), then freeze that baseline: a slow fault must not teach the detector that
it is normal. Reset a stream (``reset``) after maintenance to learn a new baseline.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from detectors.streams import StreamingDetector

__all__ = ["Cusum", "Ewma"]

# From this many rows a recurrence over a grid steps through its columns, one vector operation per
# column of the batch, rather than along each row (numpy's accumulate and scipy's lfilter take a few
# ns per element; a column step costs about a microsecond plus about one ns per row).
_WIDE = 256


def _by_column(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised float grid whose columns are contiguous."""
    return np.empty(shape[::-1]).T


def running(op: np.ufunc, start: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start[r] op x[r, 0] op … op x[r, j]`` for every j, applied strictly left to right.

    ``op`` is ``np.add`` or ``np.minimum``. Sequential addition (``np.add.accumulate``, unlike
    ``sum``'s pairwise) makes the result bit-for-bit the same however a stream's readings are split
    into batches, and the same as the column-by-column loops below, which add in the same order.
    """
    return op.accumulate(np.concatenate([start[:, None], x], axis=1), axis=1)[:, 1:]


def _sum_rows(start: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start[r] + x[r, 0] + … + x[r, -1]``, added left to right as ``running`` adds."""
    if len(x) < _WIDE:
        return running(np.add, start, x)[:, -1]
    total = start.copy()
    for j in range(x.shape[1]):
        np.add(total, x[:, j], out=total)
    return total


def _mean_std(total, total_sq, n, warmup, min_std):
    k = np.minimum(n, warmup)
    mean = total / np.maximum(k, 1)
    var = (total_sq - k * mean * mean) / np.maximum(k - 1, 1)
    return mean, np.maximum(np.sqrt(np.maximum(var, 0.0)), min_std)


def _zero_head(g: np.ndarray, head: np.ndarray) -> None:
    """Set the first ``head[r]`` elements of each row ``r`` of ``g`` to 0, in place."""
    rows = np.flatnonzero(head)
    if len(rows) == len(head) and head.min() == head.max():  # a batch of new streams, all in warm-up
        g[:, :head[0]] = 0.0
    elif len(rows):
        cut = int(head[rows].max())
        g[rows, :cut] = np.where(np.arange(cut)[None, :] < head[rows, None], 0.0, g[rows, :cut])


class _BaselineDetector(StreamingDetector):
    """Shared warm-up: state ``n`` (readings seen), ``sum``/``sumsq`` of the first ``warmup``."""

    state_fields = {"n": (np.int64, 0, ()), "sum": (np.float64, 0.0, ()), "sumsq": (np.float64, 0.0, ())}

    def __init__(self, warmup: int, min_std: float):
        if warmup < 2:
            raise ValueError(f"warmup must be >= 2 readings, got {warmup}")
        if min_std <= 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        self.warmup, self.min_std = int(warmup), float(min_std)

    def reset(self, streams: np.ndarray) -> None:
        """Forget the baseline (and drift state) of these streams, e.g. after a repair."""
        streams = np.asarray(streams, dtype=np.int64)
        self._ensure(int(streams.max()) + 1 if len(streams) else 0)
        for name, (_, fill, _) in self.state_fields.items():
            self.state_[name][streams] = fill

    def baseline(self, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std, learnt) of the healthy baseline per stream; ``learnt`` is False during warm-up."""
        st = self.state_
        n = st["n"][streams]
        mean, std = _mean_std(st["sum"][streams], st["sumsq"][streams], n, self.warmup, self.min_std)
        return mean, std, n >= self.warmup

    def _baseline(self, grid, value, valid, state):
        """Per-row mean and std of the warm-up readings, and how many leading columns of each row
        are warm-up readings (not scored); adds this batch's warm-up readings to the sums."""
        head = np.minimum(np.maximum(self.warmup - state["n"], 0), value.shape[1])
        learning = np.flatnonzero(head)
        if len(learning):  # the others' sums are frozen (adding their zeros would change nothing)
            every = len(learning) == len(head)
            cut = int(head[learning].max())
            x = value[:, :cut] if every else value[learning, :cut]
            if not grid.full or head[learning].min() < cut:
                keep = np.arange(cut)[None, :] < head[learning, None]
                if not grid.full:
                    keep &= valid[:, :cut] if every else valid[learning, :cut]
                x = np.where(keep, x, 0.0)
            sums = _sum_rows(np.concatenate([state["sum"][learning], state["sumsq"][learning]]),
                             np.concatenate([x, x * x]))
            state["sum"][learning], state["sumsq"][learning] = sums[:len(learning)], sums[len(learning):]
        state["n"] = state["n"] + grid.counts
        mean, std = _mean_std(state["sum"], state["sumsq"], state["n"], self.warmup, self.min_std)
        return mean, std, head


class Ewma(_BaselineDetector):
    """EWMA control chart: ``z_t = λ x_t + (1 − λ) z_{t−1}`` against ``μ ± L σ √(λ / (2 − λ))``.

    Score ``|z − μ| / (L σ √(λ / (2 − λ)))`` (Roberts 1959; the asymptotic control limit).

    Parameters
    ----------
    alpha : float
        Smoothing weight λ in (0, 1].
    limit_sigmas : float
        L, the control limit in standard deviations of the EWMA.
    warmup : int
        Readings used to learn μ and σ.
    min_std : float
        Floor on σ in reading units.

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> x = 50 + rng.normal(0, 1, 300)
    >>> x[200:] += np.linspace(0, 4, 100)      # slow drift
    >>> s = Ewma(alpha=0.05, limit_sigmas=3.5, warmup=100).update(np.zeros(300, int), np.arange(300) * 10**9, x)
    >>> bool((s[:200] < 1).all()), bool((s[-20:] >= 1).all())
    (True, True)
    """

    kind = "ewma"
    state_fields = {**_BaselineDetector.state_fields, "z": (np.float64, np.nan, ())}

    def __init__(self, alpha: float = 0.05, limit_sigmas: float = 3.0, warmup: int = 100, min_std: float = 1e-6):
        super().__init__(warmup, min_std)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha, self.limit_sigmas = float(alpha), float(limit_sigmas)

    def _update(self, grid, ts, value, valid, state):
        mean, std, head = self._baseline(grid, value, valid, state)
        a = self.alpha
        prev = np.where(np.isnan(state["z"]), value[:, 0], state["z"])  # a new stream starts at its first reading
        z = self._smooth(value, prev, grid)
        state["z"] = grid.last(z).copy()
        width = self.limit_sigmas * std * np.sqrt(a / (2.0 - a))
        score = np.abs(np.subtract(z, mean[:, None], out=z), out=z)
        score /= width[:, None]
        _zero_head(score, head)
        return score

    def _smooth(self, x: np.ndarray, prev: np.ndarray, grid) -> np.ndarray:
        """``z_j = λ x_j + (1 − λ) z_{j−1}`` along each row from ``z_{−1} = prev``.

        scipy's lfilter along the rows, or on a grid of many rows the same arithmetic (the same
        bits: ``(1 − λ) z_{j−1}`` and ``λ x_j`` rounded, then added) one column at a time, in the
        grid ``grid.scores()``.
        """
        a = self.alpha
        rows, cols = x.shape
        if rows < _WIDE:
            return signal.lfilter([a], [1.0, a - 1.0], x, axis=1, zi=((1.0 - a) * prev)[:, None])[0]
        z = np.multiply(x, a, out=grid.scores())
        carried = np.empty(rows)
        for j in range(cols):
            step = z[:, j]
            prev = np.add(np.multiply(prev, 1.0 - a, out=carried), step, out=step)
        return z


class Cusum(_BaselineDetector):
    """Tabular CUSUM (Page 1954) on standardised readings ``y = (x − μ) / σ``.

    ``S⁺ = max(0, S⁺ + y − k)``, ``S⁻ = max(0, S⁻ − y − k)``; score ``max(S⁺, S⁻) / h``. Computed
    by the Lindley form ``S_t = C_t − min(0, min_{j≤t} C_j)`` with ``C`` the cumulative sum of the
    increments: cumulative sums and minima along the rows, or on a grid of many streams a few vector
    operations per column rather than a step per reading.

    Parameters
    ----------
    k : float
        Allowance (slack) in σ; about half the shift to detect.
    h : float
        Decision interval in σ: the score reaches 1.0 at ``S = h``.
    direction : {"both", "up", "down"}
        Which shifts count.
    clip : float, optional
        Standardised readings are clipped to ``±clip`` first, so one wild spike (a sensor glitch)
        cannot push the sum over ``h`` on its own; a real shift still accumulates reading by reading.
    warmup, min_std :
        As for :class:`Ewma`.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> x = 2.0 + rng.normal(0, 0.2, 400)
    >>> x[300:] += 0.3                          # a 1.5 σ step
    >>> s = Cusum(k=0.5, h=8, warmup=200).update(np.zeros(400, int), np.arange(400) * 10**9, x)
    >>> bool((s[:300] < 1).all()), bool((s[-50:] >= 1).all())
    (True, True)
    """

    kind = "cusum"
    state_fields = {**_BaselineDetector.state_fields, "up_c": (np.float64, 0.0, ()), "up_m": (np.float64, 0.0, ()),
                    "down_c": (np.float64, 0.0, ()), "down_m": (np.float64, 0.0, ())}

    def __init__(self, k: float = 0.5, h: float = 8.0, direction: str = "both", warmup: int = 100,
                 min_std: float = 1e-6, clip: float | None = None):
        super().__init__(warmup, min_std)
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        if k < 0 or h <= 0:
            raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
        if clip is not None and clip <= k:
            raise ValueError(f"clip must be > k, got clip={clip}, k={k}")
        self.k, self.h, self.direction = float(k), float(h), direction
        self.clip = None if clip is None else float(clip)

    def _update(self, grid, ts, value, valid, state):
        mean, std, head = self._baseline(grid, value, valid, state)
        # both sides' increments in one grid, up rows over down rows, so each step below covers both
        rows = len(value)
        c = _by_column((2 * rows, value.shape[1]))
        start = np.concatenate([state["up_c"], state["down_c"]])
        floor = np.concatenate([state["up_m"], state["down_m"]])
        # the first columns in which every row is still learning add nothing: S stays where it was
        lead = int(head.min())
        if lead:
            floor = np.minimum(floor, start)
            c[:, :lead] = (start - floor)[:, None]
        x, c_new = value[:, lead:], c[:, lead:]
        y = np.divide(np.subtract(x, mean[:, None], out=c_new[:rows]), std[:, None], out=c_new[:rows])
        if self.clip is not None:
            np.clip(y, -self.clip, self.clip, out=y)
        np.subtract(np.negative(y, out=c_new[rows:]), self.k, out=c_new[rows:])
        np.subtract(y, self.k, out=c_new[:rows])
        _zero_head(c_new, np.concatenate([head, head]) - lead)
        if not grid.full:  # padding adds nothing, so each row's last column holds its state
            c_new[:rows][~valid[:, lead:]] = 0.0
            c_new[rows:][~valid[:, lead:]] = 0.0
        total, low = _lindley(c_new, start, floor)
        state["up_c"], state["down_c"] = total[:rows], total[rows:]
        state["up_m"], state["down_m"] = low[:rows], low[rows:]
        out = grid.scores()
        if self.direction == "both":
            np.maximum(c[:rows], c[rows:], out=out)
            return np.divide(out, self.h, out=out)
        return np.divide(c[:rows] if self.direction == "up" else c[rows:], self.h, out=out)


def _lindley(c: np.ndarray, start: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn the increments ``c`` into the CUSUM, in place; return (C, M) after the last column.

    Lindley form: ``S_t = C_t - min(M, min_{j<=t} C_j)``, with ``C`` the stream's cumulative sum of
    increments since its start (from ``start``) and ``M`` the running minimum before this batch
    (``floor``): carrying (C, M) rather than S keeps every addition in the same order whatever the
    batch split. ``|C|`` grows by about k per reading, so after 10^9 readings S still has some
    1e-7 absolute precision.
    """
    rows, cols = c.shape
    if not cols:
        return start.copy(), floor.copy()
    if rows < _WIDE:
        total = running(np.add, start, c)
        low = np.minimum(np.minimum.accumulate(total, axis=1), floor[:, None])
        np.subtract(total, low, out=c)
        return total[:, -1], low[:, -1]
    total, low = start.copy(), floor.copy()
    for j in range(cols):  # one column at a time, with nothing but c as large as the grid
        step = c[:, j]
        np.add(total, step, out=total)
        np.minimum(low, total, out=low)
        np.subtract(total, low, out=step)
    return total, low
