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


def running_sum(start: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start[r] + x[r, 0] + … + x[r, j]`` for every j, added strictly left to right.

    Sequential addition (``np.add.accumulate``, unlike ``sum``'s pairwise) makes the result
    bit-for-bit the same however a stream's readings are split into batches.
    """
    return np.cumsum(np.concatenate([start[:, None], x], axis=1), axis=1)[:, 1:]


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
        k = np.minimum(n, self.warmup)
        mean = st["sum"][streams] / np.maximum(k, 1)
        var = (st["sumsq"][streams] - k * mean * mean) / np.maximum(k - 1, 1)
        return mean, np.maximum(np.sqrt(np.maximum(var, 0.0)), self.min_std), n >= self.warmup

    def _baseline(self, grid, value, valid, state):
        """Per-row mean and std of the warm-up readings, and the mask of readings after warm-up."""
        rank = state["n"][:, None] + np.arange(value.shape[1])[None, :]
        learning = np.flatnonzero(state["n"] < self.warmup)
        if len(learning):  # the others' sums are frozen (adding their zeros would change nothing)
            cut = min(value.shape[1], self.warmup - int(state["n"][learning].min()))
            x = np.where(valid[learning, :cut] & (rank[learning, :cut] < self.warmup), value[learning, :cut], 0.0)
            state["sum"][learning] = running_sum(state["sum"][learning], x)[:, -1]
            state["sumsq"][learning] = running_sum(state["sumsq"][learning], x * x)[:, -1]
        state["n"] = state["n"] + grid.counts
        k = np.minimum(state["n"], self.warmup)
        mean = state["sum"] / np.maximum(k, 1)
        var = (state["sumsq"] - k * mean * mean) / np.maximum(k - 1, 1)
        std = np.maximum(np.sqrt(np.maximum(var, 0.0)), self.min_std)
        return mean, std, valid & (rank >= self.warmup)


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
        mean, std, scored = self._baseline(grid, value, valid, state)
        a = self.alpha
        prev = np.where(np.isnan(state["z"]), value[:, 0], state["z"])  # a new stream starts at its first reading
        z, _ = signal.lfilter([a], [1.0, a - 1.0], value, axis=1, zi=((1.0 - a) * prev)[:, None])
        state["z"] = grid.last(z)
        width = self.limit_sigmas * std * np.sqrt(a / (2.0 - a))
        return np.where(scored, np.abs(z - mean[:, None]) / width[:, None], 0.0)


class Cusum(_BaselineDetector):
    """Tabular CUSUM (Page 1954) on standardised readings ``y = (x − μ) / σ``.

    ``S⁺ = max(0, S⁺ + y − k)``, ``S⁻ = max(0, S⁻ − y − k)``; score ``max(S⁺, S⁻) / h``. Computed
    without a Python loop by the Lindley form ``S_t = C_t − min(0, min_{j≤t} C_j)`` with ``C`` the
    cumulative sum of the increments.

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

    @staticmethod
    def _lindley(increments: np.ndarray, state: dict[str, np.ndarray], side: str, grid) -> np.ndarray:
        # S_t = C_t - min(M, min_{j<=t} C_j), with C the stream's cumulative sum of increments since
        # its start and M the running minimum before this batch: carrying (C, M) rather than S keeps
        # every addition in the same order whatever the batch split. |C| grows by about k per
        # reading, so after 10^9 readings S still has some 1e-7 absolute precision.
        c = running_sum(state[f"{side}_c"], increments)
        low = np.minimum(np.minimum.accumulate(c, axis=1), state[f"{side}_m"][:, None])
        state[f"{side}_c"], state[f"{side}_m"] = grid.last(c), grid.last(low)
        return c - low

    def _update(self, grid, ts, value, valid, state):
        mean, std, scored = self._baseline(grid, value, valid, state)
        y = (value - mean[:, None]) / std[:, None]
        if self.clip is not None:
            y = np.clip(y, -self.clip, self.clip)
        up = self._lindley(np.where(scored, y - self.k, 0.0), state, "up", grid)
        down = self._lindley(np.where(scored, -y - self.k, 0.0), state, "down", grid)
        s = {"both": np.maximum(up, down), "up": up, "down": down}[self.direction]
        return s / self.h
