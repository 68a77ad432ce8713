"""Trend to limit: when will this reading cross its limit, and how sure are we."""

from __future__ import annotations

import numpy as np

from detectors.streams import StreamingDetector, trailing, windows

__all__ = ["TrendToLimit"]

_NS_PER_H = 3_600_000_000_000


class TrendToLimit(StreamingDetector):
    """Time until a rising reading reaches ``limit``, from a straight-line fit over recent readings.

    For each reading, an ordinary least-squares line through the last ``window`` readings (this one
    included) gives the level now and the slope per hour; the estimated time to the limit is
    ``(limit − level) / slope``, with an interval from the slope's ±``z``·standard error. Only a
    slope that is significant (``slope > z · se``) counts, so noise alone gives score 0.

    Score ``horizon_h / hours_to_limit`` (capped at 100): 1.0 means "crosses within the horizon".
    The estimate for each reading of the last batch is in ``last_extras_`` (``hours_to_limit``,
    ``hours_to_limit_low``, ``hours_to_limit_high``) and the latest per stream in
    ``forecast(stream)``, for the evidence of a finding: "bearing temperature reaches 90 °C in about
    36 h (25–60 h)".

    Parameters
    ----------
    limit : float
        The level that must not be reached (e.g. 90 °C).
    horizon_h : float
        Warn when the limit is expected within this many hours.
    window : int
        Readings in the fit.
    min_points : int
        Readings needed before a forecast.
    z : float
        Width of the interval and the significance test, in standard errors.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> hours = np.arange(200) / 4.0                               # one reading every 15 min
    >>> temp = 62 + rng.normal(0, 0.3, 200)
    >>> temp[120:] += 0.4 * (hours[120:] - 30)                     # +0.4 °C/h from hour 30
    >>> det = TrendToLimit(limit=90, horizon_h=48, window=24)
    >>> s = det.update(np.zeros(200, int), (hours * 3.6e12).astype(np.int64), temp)
    >>> bool((s[:120] < 1).all()), bool(s[-1] >= 1)
    (True, True)
    >>> eta, lo, hi = det.forecast(np.array([0]))
    >>> bool(lo[0] < eta[0] < hi[0] and 40 < eta[0] < 60)
    True
    """

    kind = "trend_to_limit"
    state_fields = {
        "ts": (np.int64, 0, ("window",)),
        "values": (np.float64, np.nan, ("window",)),
        "eta_h": (np.float64, np.inf, ()),
        "eta_lo_h": (np.float64, np.inf, ()),
        "eta_hi_h": (np.float64, np.inf, ()),
    }

    def __init__(self, limit: float, horizon_h: float = 48.0, window: int = 60, min_points: int = 12,
                 z: float = 2.0):
        if window < 3 or not 3 <= min_points <= window or horizon_h <= 0:
            raise ValueError(f"need window >= 3, 3 <= min_points <= window, horizon_h > 0; got "
                             f"{window}, {min_points}, {horizon_h}")
        self.limit, self.horizon_h = float(limit), float(horizon_h)
        self.window, self.min_points, self.z = int(window), int(min_points), float(z)

    def forecast(self, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latest (hours to limit, earliest, latest) per stream; ``inf`` where no rise is seen."""
        s = self.state_
        return s["eta_h"][streams], s["eta_lo_h"][streams], s["eta_hi_h"][streams]

    def _update(self, grid, ts, value, valid, state):
        wv = windows(state["values"], value, self.window)             # (rows, cols, window)
        wt = windows(state["ts"], ts, self.window)
        ok = ~np.isnan(wv)
        n = ok.sum(axis=-1)
        t = np.where(ok, (wt - ts[..., None]) / _NS_PER_H, 0.0)       # hours before this reading
        v = np.where(ok, wv, 0.0)
        nn = np.maximum(n, 1)
        tm, vm = t.sum(-1) / nn, v.sum(-1) / nn
        dt = np.where(ok, t - tm[..., None], 0.0)
        dv = np.where(ok, v - vm[..., None], 0.0)
        sxx = (dt * dt).sum(-1)
        slope = (dt * dv).sum(-1) / np.maximum(sxx, 1e-300)
        level = vm - slope * tm                                       # fitted value now (t = 0)
        resid = dv - slope[..., None] * dt
        se = np.sqrt((resid * resid).sum(-1) / np.maximum(n - 2, 1) / np.maximum(sxx, 1e-300))
        usable = valid & (n >= self.min_points) & (sxx > 0)
        rising = usable & (slope > self.z * se)
        gap = self.limit - level
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.where(rising, np.maximum(gap, 0.0) / slope, np.inf)
            lo = np.where(rising, np.maximum(gap, 0.0) / (slope + self.z * se), np.inf)
            hi = np.where(rising, np.maximum(gap, 0.0) / (slope - self.z * se), np.inf)
            score = np.where(rising, self.horizon_h / np.maximum(eta, self.horizon_h / 100.0), 0.0)
        score = np.where(usable & (level >= self.limit), 100.0, score)
        state["values"] = trailing(state["values"], value, grid.counts)
        state["ts"] = trailing(state["ts"], ts, grid.counts)
        state["eta_h"], state["eta_lo_h"], state["eta_hi_h"] = grid.last(eta), grid.last(lo), grid.last(hi)
        return score, {"hours_to_limit": eta, "hours_to_limit_low": lo, "hours_to_limit_high": hi}
