"""Robust z-score against a rolling median and MAD of each stream's previous readings, and bursts of
isolated one-reading spikes (a sensor or its cabling, not the machine)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from faultline.detectors import kernels
from faultline.detectors.streams import Grid, StreamingDetector, exp_smooth, trailing

__all__ = ["RobustZ", "SpikeBursts", "median_mad_sorted", "nan_median"]

# MAD of a Gaussian sample times this estimates its standard deviation.
_MAD_TO_SIGMA = 1.4826
_BLOCK = 1 << 20  # window elements per block of streams: their sorted ranks stay in cache
_PAD = 2  # reads up to this far outside a sorted window give NaN or +inf


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
    """
    shape, n = srt.shape[:-1], srt.shape[-1]
    m = np.broadcast_to(n if m is None else m, shape).reshape(-1)
    med, mad = np.full(len(m), np.nan), np.full(len(m), np.nan)
    some = np.flatnonzero(m > 0)
    if len(some):
        padded = np.full((len(some), n + 2 * _PAD), np.nan)
        padded[:, _PAD : _PAD + n] = srt.reshape(-1, n)[some]
        med[some], mad[some] = _padded_median_mad(padded, m[some])
    return med.reshape(shape), mad.reshape(shape)


def _padded_median_mad(padded: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_median_mad`` of sorted windows stored with ``_PAD`` NaN either side: (windows, n + 2 _PAD)."""
    flat, base = padded.reshape(-1), np.arange(len(padded)) * padded.shape[1] + _PAD
    return _median_mad(lambda i: flat[base + i], m)


def _median_mad(at: Callable[[np.ndarray], np.ndarray], m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of windows whose ``i``-th smallest values are ``at(i)`` (i: one index per
    window, ``-_PAD <= i < m + _PAD``; NaN or +inf outside ``0 .. m - 1``) and hold ``m >= 1`` values.

    The deviations ``|x - median|`` of a sorted window fall then rise along it, so its ``k + 1``
    smallest are ``k + 1`` neighbours ``i .. i + k``: the ``k``-th smallest deviation is the least,
    over such runs, of the larger deviation at the run's two ends. Whether the best run starts after
    ``i`` is monotone in ``i`` (the run's bottom is further below the median than its top is above
    it, a top below the median counting as negative), so a bisection over ``i`` finds it with a few
    reads per window instead of a pass over the window. The best run for ``k + 1`` starts one or two
    before the one for ``k``.
    """
    lo_k, hi_k = (m - 1) >> 1, m >> 1
    med = 0.5 * (at(lo_k) + at(hi_k))
    k = lo_k
    span = m - k  # run starts 0 .. span - 1
    start = np.zeros_like(m)  # how many starts the best run comes after
    for p in reversed(range(int(span.max()).bit_length())):
        probe = start + ((1 << p) - 1)
        i = np.minimum(probe, span - 1)
        # (also true when x_top < med; when x_i > med the left side is negative: false)
        right = (med - at(i)) > (at(i + k) - med)
        np.add(start, 1 << p, out=start, where=right & (probe < span))
    bottom = [np.abs(at(start + o) - med) for o in (-2, -1, 0)]  # NaN where a run would leave
    top = [np.abs(at(start + k + o) - med) for o in (-1, 0, 1)]  # the window
    mad_lo = np.fmin(np.maximum(bottom[1], top[0]), np.maximum(bottom[2], top[1]))
    mad_hi = np.fmin(
        np.fmin(np.maximum(bottom[0], top[0]), np.maximum(bottom[1], top[1])), np.maximum(bottom[2], top[2])
    )  # runs of k + 2 (m even)
    return med, 0.5 * (mad_lo + np.where(hi_k > lo_k, mad_hi, mad_lo))


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
    resolution_floor : float
        The robust standard deviation is at least this many of the sensor's resolution, learned per
        stream as the smallest non-zero step between consecutive readings: a sensor that reports in
        0.1 steps often has a MAD of 0 over a window, and one step is then not a huge z (0 = off).
    noise_floor, noise_memory : float, int
        ... and at least ``noise_floor`` times the stream's long-run noise, an exponentially weighted
        mean of its window standard deviations over about ``noise_memory`` readings, so a quiet
        spell does not make ordinary noise look abnormal (``noise_floor`` 0 = off).

    Where no floor binds, the score is ``|x - median| / (1.4826 MAD) / threshold`` exactly.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = 4.0 + rng.normal(0, 0.1, 40)
    >>> x[30] = 7.0                          # a spike
    >>> s = RobustZ(window=20, threshold=6).update(np.zeros(40, int), np.arange(40) * 10**9, x)
    >>> np.flatnonzero(s >= 1)
    array([30])

    A sensor that reports in 0.1 steps, mostly flat: its steps of one or two counts are not spikes.

    >>> q = np.round(20 + np.cumsum(rng.normal(0, 0.02, 400)), 1)
    >>> q[350] += 1.0                        # ten counts at once
    >>> s = RobustZ(window=20, threshold=6).update(np.zeros(400, int), np.arange(400) * 10**9, q)
    >>> np.flatnonzero(s >= 1)
    array([350])
    """

    kind = "robust_z"
    version = "2"
    state_fields = {
        "history": (np.float64, np.nan, ("window",)),
        "resolution": (np.float64, np.inf, ()),
        "noise": (np.float64, np.nan, ()),
    }

    def __init__(
        self,
        window: int = 60,
        threshold: float = 6.0,
        min_periods: int = 10,
        min_scale: float = 1e-6,
        direction: str = "both",
        resolution_floor: float = 1.0,
        noise_floor: float = 0.5,
        noise_memory: int = 1000,
    ):
        if window < 3 or not 1 <= min_periods <= window:
            raise ValueError(f"need window >= 3 and 1 <= min_periods <= window, got {window}, {min_periods}")
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        self.direction = direction
        self.window, self.threshold = int(window), float(threshold)
        self.min_periods, self.min_scale = int(min_periods), float(min_scale)
        if resolution_floor < 0 or noise_floor < 0 or noise_memory < 1:
            raise ValueError(
                f"need resolution_floor >= 0, noise_floor >= 0 and noise_memory >= 1, got "
                f"{resolution_floor}, {noise_floor}, {noise_memory}"
            )
        self.resolution_floor, self.noise_floor = float(resolution_floor), float(noise_floor)
        self.noise_memory = int(noise_memory)

    _compiled = True  # kernels.robust_scan for 3 readings per stream or more (False: numpy, the tests' reference)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        if not self._compiled or value.shape[1] <= 2:
            # one or two readings per stream (a live tick): sorting those windows in numpy is cheaper
            # than the loop's sorted copy of every window (10,000 streams: 9.5 ms against 15 ms a tick)
            return self._numpy_update(grid, value, valid, state)
        x, xr, xc = kernels.flat(value)
        out = grid.empty()  # laid out as the values (a batch of rounds: by column), so gather reads it cheaply
        if not grid.full:
            out[...] = 0.0
        o, o_r, o_c = kernels.flat(out)
        kernels.robust_scan(
            np.arange(len(grid.streams)),
            np.ascontiguousarray(grid.counts, np.int64),
            x,
            xr,
            xc,
            o,
            o_r,
            o_c,
            state["history"],
            state["resolution"],
            state["noise"],
            self.min_periods,
            self.threshold,
            self.min_scale,
            ("both", "up", "down").index(self.direction),
            self.resolution_floor,
            self.noise_floor,
            1.0 / self.noise_memory,
        )
        return out

    def _numpy_update(
        self, grid: Grid, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        """The numpy grid path: every window of the grid ranked and sorted at once."""
        hist = state["history"]
        n = self.window
        rows, cols = value.shape
        # a row's history is NaN-padded at the front only, so window j holds min(n, seen + j) readings
        seen = (n - np.isnan(hist).sum(axis=1)).astype(np.int32)
        m = np.minimum(seen[:, None] + np.arange(cols, dtype=np.int32)[None, :], n)
        scored = (m >= self.min_periods) & valid
        resolution = self._resolution(hist[:, -1], value, valid, state)
        out = np.zeros((rows, cols))
        if scored.any() and cols <= 2:  # one or two new readings per stream: sort the scored windows
            r, c = np.nonzero(scored)
            win = np.full((len(r), n + 2 * _PAD), np.nan)
            win[:, _PAD : _PAD + n] = sliding_window_view(np.concatenate([hist, value], axis=1), n, axis=1)[r, c]
            win[:, _PAD : _PAD + n].sort(axis=1)  # NaN (no reading yet) sorts last
            med, mad = _padded_median_mad(win, m[r, c])
            sigma = np.full((rows, cols), np.nan)
            sigma[r, c] = mad * _MAD_TO_SIGMA
            floor = self._floor(sigma, scored, resolution, state, np.arange(rows))
            out[r, c] = self._scores(value[r, c], med, mad, floor[r, c])
        elif scored.any():  # many: every window of the grid, some streams at a time (in cache), unscored dropped
            joined = np.concatenate([hist, value], axis=1)
            step = max(1, _BLOCK // (cols * n))
            for a in range(0, rows, step):
                b = min(a + step, rows)
                with np.errstate(invalid="ignore"):  # windows with no reading yet
                    med, mad = self._ranked_median_mad(joined[a:b], np.maximum(m[a:b], 1))
                    sigma = np.where(scored[a:b], mad * _MAD_TO_SIGMA, np.nan)
                    floor = self._floor(sigma, scored[a:b], resolution[a:b], state, np.arange(a, b))
                    scores = self._scores(value[a:b], med, mad, floor)
                np.copyto(out[a:b], scores, where=scored[a:b])
        state["history"] = trailing(hist, value, grid.counts)
        return out

    def _resolution(
        self, last: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        """The smallest non-zero step between consecutive readings so far, per reading (inf: none yet)."""
        if not self.resolution_floor:
            return np.zeros(value.shape)
        with np.errstate(invalid="ignore"):
            steps = np.abs(np.diff(np.concatenate([last[:, None], value], axis=1), axis=1))
        steps[~(steps > 0) | ~valid] = np.inf  # NaN (no predecessor), 0, padding
        res = np.minimum.accumulate(np.concatenate([state["resolution"][:, None], steps], axis=1), axis=1)[:, 1:]
        state["resolution"] = res[:, -1].copy()
        return res

    def _floor(
        self,
        sigma: np.ndarray,
        scored: np.ndarray,
        resolution: np.ndarray,
        state: dict[str, np.ndarray],
        rows: np.ndarray,
    ) -> np.ndarray:
        """The floor on the standard deviation of each cell; advances the long-run noise of ``rows``.

        The noise is an exponentially weighted mean of the scored windows' standard deviations, in
        order (each row's scored cells are a run: after its warm-up, before its padding); a stream's
        first scored window starts it.
        """
        floor = np.maximum(self.resolution_floor * np.where(np.isfinite(resolution), resolution, 0.0), self.min_scale)
        if not self.noise_floor:
            return floor
        some = scored.any(axis=1)
        if not some.any():
            return floor
        lead = np.argmax(scored, axis=1)
        width = sigma.shape[1]
        run = scored.sum(axis=1)
        x = sigma
        if lead.max():  # line each row's run up at column 0
            x = np.take_along_axis(sigma, np.minimum(lead[:, None] + np.arange(width)[None, :], width - 1), axis=1)
        x = np.where(np.isnan(x), 0.0, x)  # past the run: never read
        prev = state["noise"][rows]
        prev = np.where(np.isnan(prev), x[:, 0], prev)
        noise = exp_smooth(x, 1.0 / self.noise_memory, prev)
        done = np.flatnonzero(some)
        state["noise"][rows[done]] = noise[done, run[done] - 1]
        if lead.max():  # back to the cells' own columns
            back = np.arange(width)[None, :] - lead[:, None]
            noise = np.take_along_axis(noise, np.clip(back, 0, width - 1), axis=1)
        return np.fmax(floor, self.noise_floor * np.where(scored, noise, np.nan))

    def _scores(self, x: np.ndarray, med: np.ndarray, mad: np.ndarray, floor: np.ndarray) -> np.ndarray:
        """The scores of readings ``x`` against their windows' median and MAD (both overwritten: fresh
        memory is slow to fault in), the standard deviation at least ``floor``."""
        sigma = np.maximum(np.multiply(mad, _MAD_TO_SIGMA, out=mad), floor, out=mad)
        z = np.divide(np.subtract(x, med, out=med), sigma, out=med)
        if self.direction != "up":
            (np.abs if self.direction == "both" else np.negative)(z, out=z)
        return np.divide(np.maximum(z, 0.0, out=z), self.threshold, out=z)

    def _ranked_median_mad(self, joined: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median and MAD of every window ``joined[r, c:c + n]`` (``m`` readings each, at least 1):
        shape (rows, cols). ``joined`` is overwritten.

        Each row's readings are ranked once; a window's sorted ranks then name its order statistics,
        and sorting small integers is much cheaper than sorting the readings of every window.
        """
        n = self.window
        rows, width = joined.shape
        cols = width - n
        np.copyto(joined, np.inf, where=np.isnan(joined))  # no reading: ranked last
        ranks = np.empty((rows, width), dtype=np.int16 if width < (1 << 15) - 1 else np.int64)
        np.put_along_axis(ranks, np.argsort(joined, axis=1), np.arange(width, dtype=ranks.dtype)[None, :], axis=1)
        # sorted readings of each row, then inf: what a rank past the row's readings reads
        ascending = np.full((rows, width + 1), np.inf)
        ascending[:, :width] = joined
        ascending[:, :width].sort(axis=1)
        ascending = ascending.reshape(-1)
        win = np.full((rows, cols, n + 2 * _PAD), width, dtype=ranks.dtype)
        win[..., _PAD : _PAD + n] = sliding_window_view(ranks, n, axis=1)[:, :cols]
        win[..., _PAD : _PAD + n].sort(axis=-1)
        win = (win.astype(np.uint8) if width < 256 else win).reshape(-1)  # half the cache lines to read
        at_win = np.arange(rows * cols) * (n + 2 * _PAD) + _PAD
        at_row = np.repeat(np.arange(rows) * (width + 1), cols)
        med, mad = _median_mad(lambda i: ascending[at_row + win[at_win + i]], m.reshape(-1))
        return med.reshape(rows, cols), mad.reshape(rows, cols)


_NEVER = np.iinfo(np.int64).min // 2  # "no spike yet" in the spike-time ring
_NORMAL = 0.5  # a spike's neighbours score below this share of the threshold: back at the stream's level


class SpikeBursts(RobustZ):
    """Isolated one-reading spikes, counted: ``spikes`` of them within ``within_h`` hours alarm.

    A reading is a *spike* when its robust z (`RobustZ`, same parameters) reaches ``threshold`` while
    the readings either side of it stay under half of it: it left the stream's level and came
    straight back. A step (a load or speed change, a start) stays out for many readings and is not a
    spike, even one near the threshold whose readings cross it now and then; neither is a fault
    that grows. One spike is a transient (a knock, a glitch on the line) and not worth a
    work order; several close together say the sensor, its connector or its cable is failing, so
    the finding is a data-quality one (a sensor check, never in the anomaly score).

    The score of each reading is the number of spikes in the ``within_h`` hours up to it, divided
    by ``spikes`` and at most 1.0: 1.0 when ``spikes`` of them fell within that time (the state
    holds the last ``spikes`` spike times, no more). A spike is known one reading
    late (when the next reading is back), and counts from then on at its own time.

    Parameters
    ----------
    spikes : int
        Spikes within ``within_h`` that make the alarm level (at least 2).
    within_h : float
        The time they must fall within, in hours.
    window, threshold, min_periods, min_scale, direction, resolution_floor, noise_floor, noise_memory :
        As for `RobustZ`: what makes one reading a spike.

    Examples
    --------
    >>> rng = np.random.default_rng(8)
    >>> x = 4.0 + rng.normal(0, 0.05, 600)              # one reading a minute
    >>> x[100] += 2.0                                   # one glitch: no alarm
    >>> x[300:] += 1.5                                  # a step: no alarm
    >>> x[[450, 470, 490]] += 2.0                       # three spikes within the hour: alarm
    >>> det = SpikeBursts(window=30, threshold=8, spikes=3, within_h=1.0)
    >>> s = det.update(np.zeros(600, int), np.arange(600) * 60 * 10**9, x)
    >>> int(np.flatnonzero(s >= 1)[0]), bool((s[:491] < 1).all())
    (491, True)
    """

    kind = "spike_bursts"
    version = "1"
    finding_kind = "data_quality"
    state_fields = {
        **RobustZ.state_fields,
        "prev_raised": (np.bool_, False, ()),
        "pending": (np.bool_, False, ()),
        "pending_ts": (np.int64, 0, ()),
        "spike_ts": (np.int64, _NEVER, ("spikes",)),
    }

    def __init__(
        self,
        spikes: int = 3,
        within_h: float = 1.0,
        window: int = 60,
        threshold: float = 8.0,
        min_periods: int = 30,
        min_scale: float = 1e-6,
        direction: str = "up",
        resolution_floor: float = 1.0,
        noise_floor: float = 0.5,
        noise_memory: int = 1000,
    ):
        super().__init__(
            window=window,
            threshold=threshold,
            min_periods=min_periods,
            min_scale=min_scale,
            direction=direction,
            resolution_floor=resolution_floor,
            noise_floor=noise_floor,
            noise_memory=noise_memory,
        )
        if spikes < 2 or within_h <= 0:
            raise ValueError(f"need spikes >= 2 and within_h > 0, got {spikes}, {within_h}")
        self.spikes, self.within_h = int(spikes), float(within_h)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        z = super()._update(grid, ts, value, valid, state)
        hot = (z >= 1.0) & valid
        raised = (z >= _NORMAL) & valid  # not back to normal (hot or near it)
        rows, cols = value.shape
        before = np.concatenate([state["prev_raised"][:, None], raised[:, :-1]], axis=1)
        alone = hot & ~before  # hot, its predecessor normal
        was_alone = np.concatenate([state["pending"][:, None], alone[:, :-1]], axis=1)
        confirmed = was_alone & ~raised & valid  # ... and its successor normal: a spike
        spike_at = np.concatenate([state["pending_ts"][:, None], ts[:, :-1]], axis=1)
        last = np.maximum(grid.counts - 1, 0)
        r = np.arange(rows)
        state["prev_raised"], state["pending"], state["pending_ts"] = raised[r, last], alone[r, last], ts[r, last]

        out = np.zeros((rows, cols))
        span = int(self.within_h * 3600e9)
        ring = state["spike_ts"]
        # the earliest reading of each stream in this batch (not its first: readings may arrive out of order)
        earliest = np.where(valid, ts, np.iinfo(np.int64).max).min(axis=1)
        for i in np.flatnonzero(confirmed.any(axis=1) | (ring[:, -1] > earliest - span)):
            n = int(grid.counts[i])
            new = np.flatnonzero(confirmed[i, :n])
            old = ring[i][ring[i] > _NEVER]
            times = np.concatenate([old, spike_at[i, new]])  # in time order
            seen = len(old) + np.searchsorted(new, np.arange(n), side="right")
            gone = np.searchsorted(times, ts[i, :n] - span, side="right")
            out[i, :n] = np.minimum(seen - gone, self.spikes) / self.spikes
            keep = times[-self.spikes :]
            ring[i] = np.concatenate([np.full(self.spikes - len(keep), _NEVER), keep])
        return out
