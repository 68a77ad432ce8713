"""Trend to limit: when will this reading cross its limit, and how sure are we."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors.streams import StreamingDetector, trailing

__all__ = ["TrendToLimit"]

_NS_PER_H = 3_600_000_000_000
_FIT_CHUNK = 1 << 13  # window elements per chunk of fits: temporaries stay in cache


class TrendToLimit(StreamingDetector):
    """Time until a rising reading reaches ``limit``, from a line fitted over recent readings.

    For each reading, an ordinary least-squares line through the last ``window`` readings (this one
    included; through their logarithms with ``growth="exponential"``) gives the level now and the
    slope per hour; the estimated time to the limit is
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
    every : int
        Refit on every ``every``-th reading of a stream (the readings between carry the last fit):
        a trend over hours need not be refitted every second.
    growth : {"linear", "exponential"}
        ``exponential`` fits the line through log(value), for faults that grow by a constant
        factor per hour (bearing damage, vibration); readings ≤ 0 are left out of such a fit.

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
    version = "2"  # 2: history kept as a ring per stream
    state_fields = {
        "ts": (np.int64, 0, ("window",)),
        "values": (np.float64, np.nan, ("window",)),
        "n": (np.int64, 0, ()),
        "score": (np.float64, 0.0, ()),
        "eta_h": (np.float64, np.inf, ()),
        "eta_lo_h": (np.float64, np.inf, ()),
        "eta_hi_h": (np.float64, np.inf, ()),
    }

    def __init__(self, limit: float, horizon_h: float = 48.0, window: int = 60, min_points: int = 12,
                 z: float = 2.0, every: int = 1, growth: str = "linear"):
        if window < 3 or not 3 <= min_points <= window or horizon_h <= 0 or every < 1:
            raise ValueError(f"need window >= 3, 3 <= min_points <= window, horizon_h > 0, every >= 1; got "
                             f"{window}, {min_points}, {horizon_h}, {every}")
        if growth not in ("linear", "exponential") or (growth == "exponential" and limit <= 0):
            raise ValueError(f"growth must be 'linear' or 'exponential' (with limit > 0), got {growth!r}")
        self.every, self.growth = int(every), growth
        self.limit, self.horizon_h = float(limit), float(horizon_h)
        self.window, self.min_points, self.z = int(window), int(min_points), float(z)

    def forecast(self, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latest (hours to limit, earliest, latest) per stream; ``inf`` where no rise is seen."""
        s = self.state_
        return s["eta_h"][streams], s["eta_lo_h"][streams], s["eta_hi_h"][streams]

    def _fit(self, wt: np.ndarray, wv: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, ...]:
        """OLS over windows (n_fit, window) ending at ``now``: (score, hours, earliest, latest)."""
        limit = self.limit
        if self.growth == "exponential":  # a straight line through log(value): constant growth rate
            with np.errstate(divide="ignore", invalid="ignore"):
                wv = np.where(wv > 0, np.log(np.where(wv > 0, wv, 1.0)), np.nan)
            limit = np.log(self.limit)
        ok = ~np.isnan(wv)
        t = np.subtract(wt, now[:, None])
        t = np.divide(t, _NS_PER_H, out=np.empty(t.shape))                # hours before the reading
        if ok.all():  # the steady state, full windows: the same arithmetic without the masking passes
            n = np.full(len(wv), wv.shape[-1])
            tm, vm = t.sum(-1) / n, wv.sum(-1) / n
            dt = np.subtract(t, tm[:, None], out=t)
            dv = wv - vm[:, None]
        else:
            n = ok.sum(axis=-1)
            t = np.where(ok, t, 0.0)
            v = np.where(ok, wv, 0.0)
            nn = np.maximum(n, 1)
            tm, vm = t.sum(-1) / nn, v.sum(-1) / nn
            dt = np.where(ok, t - tm[:, None], 0.0)
            dv = np.where(ok, v - vm[:, None], 0.0)
        work = np.multiply(dt, dt)
        sxx = work.sum(-1)
        slope = np.multiply(dt, dv, out=work).sum(-1) / np.maximum(sxx, 1e-300)
        level = vm - slope * tm                                       # fitted value now (t = 0)
        resid = np.subtract(dv, np.multiply(slope[:, None], dt, out=work), out=work)
        se = np.sqrt(np.multiply(resid, resid, out=work).sum(-1) / np.maximum(n - 2, 1) / np.maximum(sxx, 1e-300))
        usable = (n >= self.min_points) & (sxx > 0)
        rising = usable & (slope > self.z * se)
        gap = np.maximum(limit - level, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.where(rising, gap / slope, np.inf)
            lo = np.where(rising, gap / (slope + self.z * se), np.inf)
            hi = np.where(rising, gap / (slope - self.z * se), np.inf)
            score = np.where(rising, self.horizon_h / np.maximum(eta, self.horizon_h / 100.0), 0.0)
        score = np.where(usable & (level >= limit), 100.0, score)
        return score, eta, lo, hi

    # History is a ring per stream: reading number k of a stream sits in column k % window, so the
    # common live batch (at most one reading per stream) writes one column instead of shifting rows.
    def _from_ring(self, ring: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Oldest-first view of each row's last ``window`` readings (NaN/0 where there are fewer)."""
        return np.take_along_axis(ring, (n[:, None] + np.arange(self.window)[None, :]) % self.window, axis=1)

    def _to_ring(self, ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
        ring = np.empty_like(ordered)
        np.put_along_axis(ring, (n[:, None] + np.arange(self.window)[None, :]) % self.window, ordered, axis=1)
        return ring

    def _update_split(self, s, t, v, out, offset) -> None:
        if len(np.unique(s)) < len(s):
            return super()._update_split(s, t, v, out, offset)
        st = self.state_
        n = st["n"][s]
        st["values"][s, n % self.window] = v
        st["ts"][s, n % self.window] = t
        n = st["n"][s] = n + 1
        due = n % self.every == 0
        ds = s[due]
        if len(ds):
            fit = self._fit(self._from_ring(st["ts"][ds], n[due]), self._from_ring(st["values"][ds], n[due]), t[due])
            for key, f in zip(("score", "eta_h", "eta_lo_h", "eta_hi_h"), fit):
                st[key][ds] = f
        names = {"hours_to_limit": "eta_h", "hours_to_limit_low": "eta_lo_h", "hours_to_limit_high": "eta_hi_h"}
        for extra, key in names.items():
            self.last_extras_.setdefault(extra, np.full(len(out), np.nan))[offset:offset + len(s)] = st[key][s]
        out[offset:offset + len(s)] = st["score"][s]

    def _update(self, grid, ts, value, valid, state):
        rows, cols = value.shape
        col = np.arange(cols)[None, :]
        due = valid & ((state["n"][:, None] + col + 1) % self.every == 0)   # refit on every `every`-th reading
        r, c = np.nonzero(due)
        # every window as a view: picking (row, column) pairs from it copies whole windows at once
        win_v = sliding_window_view(
            np.concatenate([self._from_ring(state["values"], state["n"])[:, 1:], value], axis=1), self.window, axis=1)
        win_t = sliding_window_view(
            np.concatenate([self._from_ring(state["ts"], state["n"])[:, 1:], ts], axis=1), self.window, axis=1)
        fitted = [np.full((rows, cols), np.nan) for _ in range(4)]
        step = max(1, _FIT_CHUNK // self.window)                           # bound memory on long batches
        for a in range(0, len(r), step):
            rr, cc = r[a:a + step], c[a:a + step]
            out = self._fit(win_t[rr, cc], win_v[rr, cc], ts[rr, cc])
            for g, o in zip(fitted, out):
                g[rr, cc] = o
        # between refits a reading carries the latest fit of its stream
        latest = np.maximum.accumulate(np.where(due, col, -1), axis=1)
        have = latest >= 0
        names = ("score", "eta_h", "eta_lo_h", "eta_hi_h")
        score, eta, lo, hi = (np.where(have, np.take_along_axis(g, np.maximum(latest, 0), axis=1), state[k][:, None])
                              for g, k in zip(fitted, names))
        n_new = state["n"] + grid.counts
        for key, new in (("values", value), ("ts", ts)):
            state[key] = self._to_ring(trailing(self._from_ring(state[key], state["n"]), new, grid.counts), n_new)
        state["n"] = n_new
        for k, g in zip(names, (score, eta, lo, hi)):
            state[k] = grid.last(g)
        return score, {"hours_to_limit": eta, "hours_to_limit_low": lo, "hours_to_limit_high": hi}
