"""Robust z-score against a rolling median and MAD of each stream's previous readings."""

from __future__ import annotations

import numpy as np

from detectors.streams import StreamingDetector, trailing, windows

__all__ = ["RobustZ", "nan_median"]

# MAD of a Gaussian sample times this estimates its standard deviation.
_MAD_TO_SIGMA = 1.4826


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
        # windows of window + 1 ending at each reading: the first `window` are its predecessors
        w = windows(hist, value, self.window + 1)[..., :-1]
        med = nan_median(w)
        mad = nan_median(np.abs(w - med[..., None]))
        enough = (~np.isnan(w)).sum(axis=-1) >= self.min_periods
        sigma = np.maximum(_MAD_TO_SIGMA * np.nan_to_num(mad), self.min_scale)
        z = (value - np.nan_to_num(med)) / sigma
        z = {"both": np.abs(z), "up": z, "down": -z}[self.direction]
        state["history"] = trailing(hist, value, grid.counts)
        return np.where(enough & valid, np.maximum(z, 0.0) / self.threshold, 0.0)
