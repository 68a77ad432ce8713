"""Trend to limit: when will this reading cross its limit, and how sure are we."""

from __future__ import annotations

import numpy as np

from faultline.detectors import kernels
from faultline.detectors.streams import Grid, StreamingDetector, UpdateResult, trailing

__all__ = ["TrendToLimit"]

_NS_PER_H = 3_600_000_000_000
_FIT_KEYS = ("score", "eta_h", "eta_lo_h", "eta_hi_h")
_ROWS_PER_PASS = 128  # streams per pass of the running sums (for a window of 60)


def _zero_nan(a: np.ndarray) -> np.ndarray:
    """``a`` with NaN as 0 (np.nan_to_num without its per-call overhead)."""
    return np.where(np.isnan(a), 0.0, a)


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

    def __init__(
        self,
        limit: float,
        horizon_h: float = 48.0,
        window: int = 60,
        min_points: int = 12,
        z: float = 2.0,
        every: int = 1,
        growth: str = "linear",
    ):
        if window < 3 or not 3 <= min_points <= window or horizon_h <= 0 or every < 1:
            raise ValueError(
                f"need window >= 3, 3 <= min_points <= window, horizon_h > 0, every >= 1; got "
                f"{window}, {min_points}, {horizon_h}, {every}"
            )
        if growth not in ("linear", "exponential") or (growth == "exponential" and limit <= 0):
            raise ValueError(f"growth must be 'linear' or 'exponential' (with limit > 0), got {growth!r}")
        self.every, self.growth = int(every), growth
        self.limit, self.horizon_h = float(limit), float(horizon_h)
        self.window, self.min_points, self.z = int(window), int(min_points), float(z)

    def forecast(self, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latest (hours to limit, earliest, latest) per stream; ``inf`` where no rise is seen."""
        s = self.state_
        return s["eta_h"][streams], s["eta_lo_h"][streams], s["eta_hi_h"][streams]

    def _fits(
        self, hist_t: np.ndarray, hist_v: np.ndarray, ts: np.ndarray, value: np.ndarray, n0: np.ndarray, due: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """The fit of the window ending at each new reading: (score, hours, earliest, latest) grids.

        ``hist_t``, ``hist_v`` (rows, window) hold each row's previous readings oldest first, ``ts``,
        ``value`` (rows, cols) the new ones (NaN value where none), ``n0`` the readings each row had
        and ``due`` the new readings that need a fit (the others are left NaN or hold a fit too).

        Readings are cut into blocks of ``window`` by their number in the stream, so a window is the
        tail of one block and the head of the next. A window's sums are (sums over its head, forward
        from the block edge) + (sums over its tail, backward from the block edge), each a plain
        running sum about the head's first reading. They depend only on the window's readings and
        where the edge falls, never on how the readings were batched; with many windows per stream
        the running sums over whole blocks give every window's sums in one addition.
        """
        w = self.window
        rows, cols = value.shape
        jt, jv = np.concatenate([hist_t, ts], axis=1), self._transform(np.concatenate([hist_v, value], axis=1))
        k0 = n0 // w - 1  # first block laid out: the one before n0's
        nb = int(((n0 + cols - 1) // w - k0).max()) + 1
        r, c = np.nonzero(due)
        if 2 * len(r) < rows * nb:  # few windows per stream: sum each window on its own
            j = (n0[r] + c) % w  # each window laid out as the ring
            i = np.arange(w)[None, :]
            at = (r * (w + cols) + c + w)[:, None] - j[:, None] + i - w * (i > j[:, None])
            fit = self._window_fits(jt.reshape(-1)[at], jv.reshape(-1)[at], j)
            out = [np.full((rows, cols), np.nan) for _ in fit]
            for o, f in zip(out, fit):
                o[r, c] = f
            return tuple(out)
        out = [np.empty((rows, cols)) for _ in range(4)]
        step = max(1, _ROWS_PER_PASS * 60 // w)  # rows at a time: arrays that stay in cache
        for a in range(0, rows, step):
            for o, f in zip(out, self._block_fits(jt[a : a + step], jv[a : a + step], n0[a : a + step])):
                o[a : a + step] = f
        return tuple(out)

    def _block_fits(self, jt: np.ndarray, jv: np.ndarray, n0: np.ndarray) -> tuple[np.ndarray, ...]:
        """``_fits`` of every new reading of rows ``[history | new]`` from running sums over blocks."""
        w = self.window
        rows, cols = jt.shape[0], jt.shape[1] - w
        k0 = n0 // w - 1  # first block laid out: the one before n0's
        nb = int(((n0 + cols - 1) // w - k0).max()) + 1
        # [history | new] of each row laid out as (offset in block, row, block)
        pos = (k0 * w - n0 + w)[None, :, None] + np.arange(w)[:, None, None] + w * np.arange(nb)[None, None, :]
        inside = (pos >= 0) & (pos < w + cols)
        pos = np.clip(pos, 0, w + cols - 1) + (w + cols) * np.arange(rows)[None, :, None]
        t, v = jt.reshape(-1)[pos], jv.reshape(-1)[pos]
        v[~inside] = np.nan
        t_ref, v_ref = t[0, :, 1:], _zero_nan(v[0, :, 1:])  # the first reading of each head block
        x_now = np.divide(t[:, :, 1:] - t_ref, _NS_PER_H).reshape(w, -1)  # hours after it
        head = self._running(self._terms(x_now, (v[:, :, 1:] - v_ref).reshape(w, -1)), reverse=False)
        x_tail = np.divide(t[:, :, :-1] - t_ref, _NS_PER_H).reshape(w, -1)
        tail = self._running(self._terms(x_tail, (v[:, :, :-1] - v_ref).reshape(w, -1)), reverse=True)
        head[:-1] += tail[1:]  # window at head offset j: the tail from j + 1
        del tail, t, v, pos, inside, x_tail
        # each new reading's window: (offset in its block, row, its block - 1)
        e = n0[:, None] + np.arange(cols)[None, :]
        cell = (np.arange(rows)[:, None] * (nb - 1) + (e // w - k0[:, None] - 1)).reshape(-1)
        at = (e % w).reshape(-1) * x_now.shape[1] + cell
        sums = np.empty((6, len(at)))
        for q in range(6):
            np.take(
                head.reshape(-1), at + (at // x_now.shape[1]) * 5 * x_now.shape[1] + q * x_now.shape[1], out=sums[q]
            )
        fit = self._fit(sums, x_now.reshape(-1)[at], v_ref.reshape(-1)[cell])
        return tuple(f.reshape(rows, cols) for f in fit)

    def _window_fits(self, ring_t: np.ndarray, ring_v: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
        """The fits of single windows (k, window) laid out as the ring (reading number i of the stream
        in column i % window, so the block edge is column 0) whose last reading is in column ``j``:
        the same sums as the running sums over blocks, one window at a time."""
        if not len(j):
            return tuple(np.empty(0) for _ in _FIT_KEYS)
        same = j.min() == j.max()  # the usual live batch: all at the same offset
        if not same:  # windows with the same edge share the slices
            order = np.argsort(j, kind="stable")
            ring_t, ring_v, j = ring_t[order], ring_v[order], j[order]
        x = np.divide(np.subtract(ring_t.T, ring_t[:, 0]), _NS_PER_H)  # (window, k): hours after the edge
        v_ref = _zero_nan(ring_v[:, 0])
        q = self._terms(x, np.subtract(ring_v.T, v_ref))
        sums = np.empty(q.shape[1:])
        starts: list[int] | np.ndarray = [0] if same else np.flatnonzero(np.diff(j, prepend=-1))
        for a, b in zip(starts, list(starts[1:]) + [len(j)]):
            e = j[a]
            sums[:, a:b] = np.add.reduce(q[: e + 1, :, a:b], axis=0)  # the head, forward from the edge
            if e + 1 < len(q):  # the tail, backward from the edge
                sums[:, a:b] += np.add.reduce(q[:e:-1, :, a:b], axis=0)
        fit = self._fit(sums, x[j[0]] if same else x[j, np.arange(len(j))], v_ref)
        if same:
            return fit
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return tuple(f[back] for f in fit)

    def _transform(self, v: np.ndarray) -> np.ndarray:
        if self.growth == "exponential":  # a straight line through log(value): constant growth rate
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        return v

    @staticmethod
    def _terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(1, x, x², y, y², xy) of the real readings (y not NaN; 0 elsewhere): shape (len, 6, ...)."""
        ok = ~np.isnan(y)
        q = np.zeros((len(x), 6) + x.shape[1:])
        q[:, 0] = ok
        np.copyto(q[:, 1], x, where=ok)
        np.copyto(q[:, 3], y, where=ok)
        np.multiply(q[:, 1], q[:, 1], out=q[:, 2])
        np.multiply(q[:, 3], q[:, 3], out=q[:, 4])
        np.multiply(q[:, 1], q[:, 3], out=q[:, 5])
        return q

    @staticmethod
    def _running(q: np.ndarray, reverse: bool) -> np.ndarray:
        """Running sums of ``q`` along axis 0, in place (from the end with ``reverse``)."""
        if q[0].size < 1024:  # small: one call
            if reverse:
                q[::-1] = np.cumsum(q[::-1], axis=0)
            else:
                np.cumsum(q, axis=0, out=q)
            return q
        steps, d = (range(len(q) - 2, -1, -1), 1) if reverse else (range(1, len(q)), -1)
        for i in steps:  # one vector addition per step: the same sums as np.cumsum, faster
            np.add(q[i + d], q[i], out=q[i])
        return q

    def _fit(self, sums: np.ndarray, x_now: np.ndarray, v_ref: np.ndarray) -> tuple[np.ndarray, ...]:
        """OLS from each window's sums (count, Σx, Σx², Σy, Σy², Σxy; shape (6, k), overwritten) with x
        in hours and y the value, both about a reading of the window (``x_now`` the reading's x,
        ``v_ref`` the value y is about): (score, hours, earliest, latest). In place, to keep few
        large temporaries (fresh memory is slow to fault in)."""
        limit = np.log(self.limit) if self.growth == "exponential" else self.limit
        n, sx, sxx, sy, syy, sxy = sums
        nn = np.maximum(n, 1.0)
        my = np.divide(sy, nn)
        mx = np.divide(sx, nn, out=nn)
        cxx = np.subtract(sxx, np.multiply(sx, mx))  # Σ (x - mean x)²
        # the times differ when the spread about their mean is more than rounding of the raw sums
        usable = (n >= self.min_points) & (cxx > np.multiply(sxx, 1e-9, out=sxx))
        cxy = np.subtract(sxy, np.multiply(sx, my, out=sx), out=sxy)
        cyy = np.subtract(syy, np.multiply(sy, my, out=sy), out=syy)
        tm = np.subtract(mx, x_now, out=mx)  # mean hours before the reading
        safe = np.maximum(cxx, 1e-300, out=cxx)
        slope = np.divide(cxy, safe, out=sy)
        level = np.subtract(np.add(my, v_ref, out=my), np.multiply(slope, tm, out=tm), out=my)  # now (t = 0)
        res = np.maximum(np.subtract(cyy, np.multiply(slope, cxy, out=cxy), out=cyy), 0.0, out=cyy)
        se = np.sqrt(
            np.divide(np.divide(res, np.maximum(np.subtract(n, 2, out=n), 1, out=n), out=res), safe, out=res), out=res
        )
        z_se = np.multiply(se, self.z, out=sxx)
        rising = usable & (slope > z_se)
        at_limit = usable & (level >= limit)
        gap = np.maximum(np.subtract(limit, level, out=level), 0.0, out=level)
        eta, lo, hi = (np.full(len(gap), np.inf) for _ in range(3))
        np.divide(gap, slope, out=eta, where=rising)
        np.divide(gap, np.add(slope, z_se, out=tm), out=lo, where=rising)
        np.divide(gap, np.subtract(slope, z_se, out=tm), out=hi, where=rising)
        score = np.zeros(len(gap))
        np.divide(self.horizon_h, np.maximum(eta, self.horizon_h / 100.0, out=tm), out=score, where=rising)
        np.copyto(score, 100.0, where=at_limit)
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

    def _update_split(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, out: np.ndarray, offset: int) -> None:
        """Every batch, whatever its layout, goes through the compiled loop (``kernels.trend_scan``),
        which reads and writes the state arrays in place: the same sums, in the same order, as
        ``_fits`` (which stays as the reference the tests compare it with)."""
        grid = self._grid_or_halves(s, t, v, out, offset)
        if grid is None:
            return
        st = self.state_
        tg, tr, tc = kernels.flat(grid.spread(t, 0))
        vg, vr, vc = kernels.flat(grid.spread(v))
        score = grid.loop_scores()
        extras = [grid.empty() for _ in range(3)]
        (o, o_r, o_c), (eta, e_r, e_c) = kernels.flat(score), kernels.flat(extras[0])
        exponential = self.growth == "exponential"
        kernels.trend_scan(
            grid.streams,
            np.ascontiguousarray(grid.counts, np.int64),
            tg,
            tr,
            tc,
            vg,
            vr,
            vc,
            st["ts"],
            st["values"],
            st["n"],
            st["score"],
            st["eta_h"],
            st["eta_lo_h"],
            st["eta_hi_h"],
            o,
            o_r,
            o_c,
            eta,
            kernels.flat(extras[1])[0],
            kernels.flat(extras[2])[0],
            e_r,
            e_c,
            self.every,
            exponential,
            float(np.log(self.limit)) if exponential else self.limit,
            self.horizon_h,
            float(self.min_points),
            self.z,
        )
        for name, g in zip(("hours_to_limit", "hours_to_limit_low", "hours_to_limit_high"), extras):
            self.last_extras_.setdefault(name, np.full(len(out), np.nan))[offset : offset + len(s)] = grid.gather(g)
        out[offset : offset + len(s)] = grid.gather(score)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> UpdateResult:
        assert grid is not None  # stateful: update always passes the grid
        cols = value.shape[1]
        hist_t, hist_v = self._from_ring(state["ts"], state["n"]), self._from_ring(state["values"], state["n"])
        col = np.arange(cols)[None, :]
        due = valid & ((state["n"][:, None] + col + 1) % self.every == 0)  # refit on every `every`-th reading
        fitted = self._fits(hist_t, hist_v, ts, value, state["n"], due)
        if self.every == 1:
            score, eta, lo, hi = fitted
        else:  # between refits a reading carries its stream's latest fit
            latest = np.maximum.accumulate(np.where(due, col, -1), axis=1)
            have = latest >= 0
            score, eta, lo, hi = (
                np.where(have, np.take_along_axis(g, np.maximum(latest, 0), axis=1), state[k][:, None])
                for g, k in zip(fitted, _FIT_KEYS)
            )
        n_new = state["n"] + grid.counts
        for key, old, new in (("values", hist_v, value), ("ts", hist_t, ts)):
            state[key] = self._to_ring(trailing(old, new, grid.counts), n_new)
        state["n"] = n_new
        for k, g in zip(_FIT_KEYS, (score, eta, lo, hi)):
            state[k] = grid.last(g)
        return score, {"hours_to_limit": eta, "hours_to_limit_low": lo, "hours_to_limit_high": hi}
