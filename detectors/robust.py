"""Robust z-score against a rolling median and MAD of each stream's previous readings."""

from __future__ import annotations

import numpy as np

from detectors.streams import StreamingDetector, trailing, windows

__all__ = ["RobustZ", "median_mad_sorted", "nan_median"]

# MAD of a Gaussian sample times this estimates its standard deviation.
_MAD_TO_SIGMA = 1.4826
_CHUNK = 1 << 14  # window elements per chunk: temporaries stay in cache


def nan_median(w: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN where a window is all NaN)."""
    n = w.shape[-1]
    nan = np.isnan(w)
    if n and not nan.any():  # the steady state: full windows, a partial sort is enough
        part = np.partition(w, [(n - 1) // 2, n // 2], axis=-1)
        return 0.5 * (part[..., (n - 1) // 2] + part[..., n // 2])
    srt = np.sort(w, axis=-1)
    m = (~nan).sum(axis=-1)
    lo = np.take_along_axis(srt, np.maximum((m - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(srt, np.maximum(m // 2, 0)[..., None] - (m == 0)[..., None], axis=-1)[..., 0]
    return np.where(m > 0, 0.5 * (lo + hi), np.nan)


def median_mad_sorted(srt: np.ndarray, m: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD (median absolute deviation) of windows sorted along the last axis.

    Parameters
    ----------
    srt : ndarray of float64, shape (..., n)
        Each window sorted ascending, its ``m`` real values first (NaN after them).
    m : ndarray of int, shape (...), optional
        Real values per window; None when every window is full (``m = n``).

    Returns
    -------
    median, mad : ndarray of float64, shape (...)
        The same order statistics ``nan_median`` picks (so the same bits), NaN where ``m = 0``.

    Notes
    -----
    The deviations ``|x - median|`` of a sorted window fall then rise along it, so their ``k + 1``
    smallest are ``k + 1`` neighbours: the ``k``-th smallest deviation is the least, over all runs of
    ``k + 1`` neighbours, of the larger deviation at the run's two ends. That is two vector passes
    instead of a second sort or partition.
    """
    shape, n = srt.shape[:-1], srt.shape[-1]
    srt = srt.reshape(-1, n)
    if m is None:
        return tuple(r.reshape(shape) for r in _median_mad_full(srt))
    m = np.broadcast_to(m, shape).reshape(-1)
    med, mad = np.full(len(m), np.nan), np.full(len(m), np.nan)
    # windows with the same number of real values share the order-statistic positions
    order = np.argsort(m, kind="stable")
    ends = np.cumsum(np.bincount(m, minlength=n + 1))
    for size in range(1, n + 1):
        rows = order[ends[size - 1]:ends[size]]
        if len(rows):
            med[rows], mad[rows] = _median_mad_full(srt[rows, :size])
    return med.reshape(shape), mad.reshape(shape)


def _median_mad_full(srt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``median_mad_sorted`` of full windows, shape (rows, n), a cache-sized chunk of rows at a time."""
    rows, n = srt.shape
    lo, hi = (n - 1) // 2, n // 2
    med, mad = np.empty(rows), np.empty(rows)
    step = max(1, _CHUNK // n)
    for a in range(0, rows, step):
        w = srt[a:a + step]
        med[a:a + step] = centre = 0.5 * (w[:, lo] + w[:, hi])
        dev = np.abs(w - centre[:, None])
        mad[a:a + step] = 0.5 * (np.maximum(dev[:, :n - lo], dev[:, lo:]).min(axis=1)
                                 + np.maximum(dev[:, :n - hi], dev[:, hi:]).min(axis=1))
    return med, mad

class RobustZ(StreamingDetector):
    """``|x - median| / (1.4826 · MAD)`` over the previous ``window`` readings of the stream.

    Catches spikes and steps; a slow drift is followed by the median and is left to the drift
    and trend detectors.

    Parameters
    ----------
    window : int
        Previous readings the median and MAD are taken over.
    threshold : float
        Robust z at which the score reaches 1.0.
    min_periods : int
        Readings needed before scoring (score 0 until then).
    min_scale : float
        Floor on the robust standard deviation, in reading units, so a quantised or flat signal
        does not give infinite scores.
    direction : {"both", "up", "down"}
        Which departures count (vibration: ``up``; a stopping machine is not a fault).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = 4.0 + rng.normal(0, 0.1, 40)
    >>> x[30] = 7.0                          # a spike
    >>> s = RobustZ(window=20, threshold=6).update(np.zeros(40, int), np.arange(40) * 10**9, x)
    >>> np.flatnonzero(s >= 1)
    array([30])
    """

    kind = "robust_z"
    state_fields = {"history": (np.float64, np.nan, ("window",))}

    def __init__(self, window: int = 60, threshold: float = 6.0, min_periods: int = 10, min_scale: float = 1e-6,
                 direction: str = "both"):
        if window < 3 or not 1 <= min_periods <= window:
            raise ValueError(f"need window >= 3 and 1 <= min_periods <= window, got {window}, {min_periods}")
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        self.direction = direction
        self.window, self.threshold = int(window), float(threshold)
        self.min_periods, self.min_scale = int(min_periods), float(min_scale)

    def _update(self, grid, ts, value, valid, state):
        hist = state["history"]
        n = self.window
        # windows of window + 1 ending at each reading: the first `window` are its predecessors
        srt = np.sort(windows(hist, value, n + 1)[..., :-1], axis=-1)   # NaN (no reading yet) sort last
        # a row's history is NaN-padded at the front only, so window j holds min(n, seen + j) readings
        seen = n - np.isnan(hist).sum(axis=1)
        m = np.minimum(seen[:, None] + np.arange(value.shape[1])[None, :], n)
        med, mad = median_mad_sorted(srt, m if (m < n).any() else None)
        sigma = np.maximum(_MAD_TO_SIGMA * np.nan_to_num(mad), self.min_scale)
        z = (value - np.nan_to_num(med)) / sigma
        z = {"both": np.abs(z), "up": z, "down": -z}[self.direction]
        state["history"] = trailing(hist, value, grid.counts)
        return np.where((m >= self.min_periods) & valid, np.maximum(z, 0.0) / self.threshold, 0.0)
