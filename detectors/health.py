"""Data quality: no data (deadman) and stuck sensor.

These detectors judge the *data*, not the machine: their findings are of kind ``data_quality``
(``finding_kind``), go to a sensor check rather than a repair, and never enter the anomaly score.
Each judges a stream against that stream's own history: its usual interval between readings, how
often its value legitimately repeats.
"""

from __future__ import annotations

import numpy as np

from faultline.detectors import kernels
from faultline.detectors.streams import Grid, StreamingDetector, exp_smooth

__all__ = ["NoData", "OutOfRange", "StuckSensor"]

_NS_PER_S = 1_000_000_000


class NoData(StreamingDetector):
    """Deadman: a stream silent for longer than it normally is.

    A stream's *allowed silence* is ``max(max_gap_s, intervals × cadence)``, its cadence being the
    geometric mean of its recent intervals between readings (an exponentially weighted mean of their
    logarithms over about ``memory`` intervals, so one long hole moves it little). A stream sampled
    every second is silent after ``max_gap_s``; one that reports every hour after ``intervals`` hours.

    Two views of the same state. ``update`` scores each arriving reading by the gap since the
    stream's previous one over the allowed silence before it, which tells after the fact that data
    went missing; ``silent(now_ns)`` lists the streams silent at ``now_ns`` (the wall clock, passed in),
    which is what raises a no-data alert while the sensor is still quiet — each stream judged on its
    own, so a gateway that delivers late is not measured against another one's newest reading, and a
    plant that went quiet as a whole is still seen.

    Examples
    --------
    >>> ts = np.array([0, 10, 20, 30, 400, 410]) * 10**9    # a six-minute hole
    >>> det = NoData(max_gap_s=120)
    >>> (det.update(np.zeros(6, int), ts, np.ones(6)) >= 1).astype(int)
    array([0, 0, 0, 0, 1, 0])
    >>> det.silent(now_ns=700 * 10**9)
    (array([0]), array([290.]))
    >>> hourly = NoData(max_gap_s=120, intervals=3)           # a slow stream is judged by its own pace
    >>> _ = hourly.update(np.zeros(5, int), np.arange(5) * 3600 * 10**9, np.ones(5))
    >>> hourly.silent(now_ns=6 * 3600 * 10**9)[0], hourly.silent(now_ns=8 * 3600 * 10**9)[0]
    (array([], dtype=int64), array([0]))
    """

    kind = "no_data"
    version = "2"
    finding_kind = "data_quality"
    # ew_*: exponentially weighted sums of log10(interval s) and of the weights (a hole-free mean
    # of the logs, exact however the readings are split into batches)
    state_fields = {
        "last_ts": (np.int64, -1, ()),
        "ew_log": (np.float64, 0.0, ()),
        "ew_w": (np.float64, 0.0, ()),
        "arrived": (np.int64, -1, ()),
        "arrival_log": (np.float64, 0.0, ()),
        "arrival_w": (np.float64, 0.0, ()),
    }

    def __init__(self, max_gap_s: float = 300.0, intervals: float = 10.0, memory: int = 100, deliveries: float = 3.0):
        if max_gap_s <= 0 or intervals < 1 or memory < 1 or deliveries < 1:
            raise ValueError(
                f"need max_gap_s > 0, intervals >= 1, memory >= 1 and deliveries >= 1, got {max_gap_s}, "
                f"{intervals}, {memory}, {deliveries}"
            )
        self.max_gap_s, self.intervals, self.memory = float(max_gap_s), float(intervals), int(memory)
        self.deliveries = float(deliveries)

    def allowed_s(self, streams: np.ndarray) -> np.ndarray:
        """Seconds of silence each stream is allowed (see the class docstring)."""
        st = getattr(self, "state_", None)
        if st is None or not len(streams):
            return np.full(len(streams), self.max_gap_s)
        return self._allowed(st["ew_log"][streams], st["ew_w"][streams])

    def _allowed(self, ew_log: np.ndarray, ew_w: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            cadence = np.where(ew_w > 0, 10.0 ** (ew_log / np.where(ew_w > 0, ew_w, 1.0)), 0.0)
        return np.maximum(self.max_gap_s, self.intervals * cadence)

    def _update_split(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, out: np.ndarray, offset: int) -> None:
        """Every batch, whatever its layout, goes through the compiled loop (``kernels.no_data_scan``),
        which reads and writes the state arrays in place: the arithmetic of ``_update`` (which stays
        as the reference the tests compare it with), one reading at a time."""
        grid = self._grid_or_halves(s, t, v, out, offset)
        if grid is None:
            return
        st = self.state_
        tg, tr, tc = kernels.flat(grid.spread(t, 0))
        score = grid.loop_scores()
        o, o_r, o_c = kernels.flat(score)
        kernels.no_data_scan(
            grid.streams,
            np.ascontiguousarray(grid.counts, np.int64),
            tg,
            tr,
            tc,
            o,
            o_r,
            o_c,
            st["last_ts"],
            st["ew_log"],
            st["ew_w"],
            1.0 / self.memory,
            self.max_gap_s,
            self.intervals,
        )
        out[offset : offset + len(s)] = grid.gather(score)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        # "last seen" is the newest timestamp so far, not the latest arrival: a reading delivered late
        # (a gateway's backlog, a dead-letter replay) must neither make a live stream look silent nor
        # make the next on-time reading look like it followed a hole.
        last = state["last_ts"]
        seen = np.maximum.accumulate(np.concatenate([last[:, None], ts], axis=1), axis=1)
        prev = seen[:, :-1]
        step = np.where(valid & (prev >= 0), ts - prev, 0)
        gap_s = np.maximum(step, 0) / _NS_PER_S
        state["last_ts"] = grid.last(seen[:, 1:])
        # the cadence: only true intervals count (not a stream's first reading, a late one or a duplicate)
        w = (gap_s > 0).astype(np.float64)
        logs = np.log10(np.where(gap_s > 0, gap_s, 1.0)) * w
        a = 1.0 / self.memory
        rows = len(last)
        sums = exp_smooth(np.concatenate([logs, w]), a, np.concatenate([state["ew_log"], state["ew_w"]]))
        ew_log, ew_w = sums[:rows], sums[rows:]
        # each reading's gap against the silence allowed before it
        before_log = np.concatenate([state["ew_log"][:, None], ew_log[:, :-1]], axis=1)
        before_w = np.concatenate([state["ew_w"][:, None], ew_w[:, :-1]], axis=1)
        state["ew_log"], state["ew_w"] = grid.last(ew_log), grid.last(ew_w)
        return np.where(valid & (prev >= 0), gap_s / self._allowed(before_log, before_w), 0.0)

    def arrive(self, streams: np.ndarray, now_ns: int) -> None:
        """Note that data of ``streams`` arrived at ``now_ns`` (the wall clock; see ``silent``).

        Also learns each stream's usual interval between deliveries (geometric mean, as the
        cadence), counting only intervals longer than its readings' cadence: a gateway that sends a
        batch every half hour is allowed ``deliveries`` half hours, whatever its readings' pace.
        """
        if not len(streams):
            return
        self._ensure(int(np.max(streams)) + 1)
        st, now = self.state_, int(now_ns)
        before = st["arrived"][streams]
        gap_s = (now - before) / _NS_PER_S
        w = st["ew_w"][streams]
        with np.errstate(invalid="ignore", divide="ignore"):
            cadence = np.where(w > 0, 10.0 ** (st["ew_log"][streams] / np.where(w > 0, w, 1.0)), 0.0)
        new = (before >= 0) & (gap_s > cadence) & (gap_s > 0)
        if new.any():
            s, a = streams[new], 1.0 / self.memory
            st["arrival_log"][s] = a * np.log10(gap_s[new]) + (1.0 - a) * st["arrival_log"][s]
            st["arrival_w"][s] = a + (1.0 - a) * st["arrival_w"][s]
        st["arrived"][streams] = np.maximum(before, now)

    def silent(self, now_ns: int, since_arrival: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Streams (ids, seconds since their last reading) silent for longer than they are allowed at
        ``now_ns``. Only streams seen at least once are listed.

        Silence is measured from the stream's newest reading (a replay of history, whose ``now`` is
        data time), or with ``since_arrival`` from the last time its data arrived (``arrive``; the
        live service, whose ``now`` is the wall clock: a backfill of old readings, or a device whose
        clock is off, is not silent while its data keeps coming).
        """
        last = getattr(self, "state_", {}).get("last_ts")
        if last is None:
            return np.empty(0, np.int64), np.empty(0)
        gap_s = (int(now_ns) - last) / _NS_PER_S
        quiet = gap_s
        st = self.state_
        ids = np.flatnonzero(last >= 0)
        allowed = self._allowed(st["ew_log"][ids], st["ew_w"][ids])
        if since_arrival:
            arrived = st["arrived"]
            quiet = np.where(arrived >= 0, (int(now_ns) - arrived) / _NS_PER_S, gap_s)
            w = st["arrival_w"][ids]
            with np.errstate(invalid="ignore", divide="ignore"):
                delivery = np.where(w > 0, 10.0 ** (st["arrival_log"][ids] / np.where(w > 0, w, 1.0)), 0.0)
            allowed = np.maximum(allowed, self.deliveries * delivery)
        ids = ids[quiet[ids] > allowed]
        return ids, gap_s[ids]


class StuckSensor(StreamingDetector):
    """A value that has not moved for far longer than this stream's values normally stay put.

    ``run`` counts the consecutive readings (this one included) within ``tolerance`` of their
    predecessor. A quantised or slow sensor repeats its value legitimately, so a run is judged
    against the stream's own longest *normal* run so far (``longest``): the score is
    ``run / max(window, factor × longest)``. A run is learned as normal when it ends before reaching
    that limit (a run that alarmed is not learned, so a sensor that hung once is still caught the
    next time). Scores are 0 for a stream's first ``warmup`` readings, while it shows its habits
    (every run that ends then is learned).
    A noisy sensor that suddenly repeats for ``window`` readings scores 1; a 0.1-step temperature
    that often repeats 20 times must repeat ``factor × 20`` times.

    Examples
    --------
    >>> rng = np.random.default_rng(6)
    >>> x = 60 + rng.normal(0, 0.2, 30)
    >>> x[15:] = x[15]                         # the transmitter hangs
    >>> s = StuckSensor(window=10).update(np.zeros(30, int), np.arange(30) * 10**9, x)
    >>> np.flatnonzero(s >= 1)[:3]
    array([24, 25, 26])
    >>> q = np.repeat([20.1, 20.2, 20.1, 20.0, 20.1, 20.2], 12)   # a slow sensor: runs of 12 are its normal
    >>> s = StuckSensor(window=10, factor=3, warmup=24).update(np.zeros(72, int), np.arange(72) * 10**9, q)
    >>> round(float(s.max()), 3)
    0.333
    """

    kind = "stuck_sensor"
    version = "2"
    finding_kind = "data_quality"
    state_fields = {
        "last": (np.float64, np.nan, ()),
        "run": (np.int64, 0, ()),
        "longest": (np.int64, 0, ()),
        "n": (np.int64, 0, ()),
    }

    def __init__(self, window: int = 30, tolerance: float = 0.0, factor: float = 3.0, warmup: int = 0):
        if window < 2 or tolerance < 0 or factor < 1 or warmup < 0:
            raise ValueError(
                f"need window >= 2, tolerance >= 0, factor >= 1 and warmup >= 0, got {window}, "
                f"{tolerance}, {factor}, {warmup}"
            )
        self.window, self.tolerance = int(window), float(tolerance)
        self.factor, self.warmup = float(factor), int(warmup)

    def _update_split(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, out: np.ndarray, offset: int) -> None:
        """Every batch, whatever its layout, goes through the compiled loop (``kernels.stuck_scan``),
        which reads and writes the state arrays in place, one reading at a time in each stream's
        order; ``_update`` (the numpy grid path) stays as the reference the tests compare it with."""
        grid = self._grid_or_halves(s, t, v, out, offset)
        if grid is None:
            return
        st = self.state_
        x, xr, xc = kernels.flat(grid.spread(v))
        score = grid.loop_scores()
        o, o_r, o_c = kernels.flat(score)
        kernels.stuck_scan(
            grid.streams,
            np.ascontiguousarray(grid.counts, np.int64),
            x,
            xr,
            xc,
            o,
            o_r,
            o_c,
            st["last"],
            st["run"],
            st["longest"],
            st["n"],
            self.tolerance,
            float(self.window),
            self.factor,
            self.warmup,
        )
        out[offset : offset + len(s)] = grid.gather(score)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        same = grid.empty(bool)  # within tolerance of the predecessor; NaN (none yet) compares False
        np.less_equal(np.abs(value[:, 0] - state["last"]), self.tolerance, out=same[:, 0])
        if self.tolerance:
            moved = np.subtract(value[:, 1:], value[:, :-1])
            np.less_equal(np.abs(moved, out=moved), self.tolerance, out=same[:, 1:])
        else:  # |a - b| <= 0 exactly when a == b (finite readings): one pass, no temporary
            np.equal(value[:, 1:], value[:, :-1], out=same[:, 1:])
        state["last"] = grid.last(value)
        n0 = state["n"]
        state["n"] = n0 + grid.counts
        if not same.any():  # live data is noisy: every run is 1 long
            prior = state["run"]
            ok = (prior > 0) & ((prior < self._limit(state["longest"])) | (n0 < self.warmup))
            longest = np.where(ok, np.maximum(state["longest"], prior), state["longest"])
            state["longest"] = np.maximum(longest, (grid.counts > 1).astype(np.int64))  # runs of 1 ended too
            state["run"] = np.ones(len(grid.streams), np.int64)
            score = grid.scores()
            score[:] = (1.0 / self._limit(state["longest"]))[:, None]
            self._warm(score, n0)
            return score
        run = np.ones(grid.shape, np.int64)
        rows = np.flatnonzero(same.any(axis=1))  # only rows where a reading repeats need the running count
        cols = np.arange(value.shape[1])[None, :]
        last_break = np.maximum.accumulate(np.where(same[rows], -1, cols), axis=1)
        # no break yet in this batch: the run continues the one carried in the state
        run[rows] = np.where(last_break >= 0, cols - last_break + 1, cols + 1 + state["run"][rows, None])
        longest = self._learn(run, valid, state, n0)
        state["run"] = grid.last(run)
        score = np.divide(run, self._limit(longest), out=grid.scores())  # padding cells are never read
        self._warm(score, n0)
        return score

    def _learn(self, run: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray], n0: np.ndarray) -> np.ndarray:
        """The longest normal run that ended before each reading, shape of ``run``.

        A run ends where the next reading breaks it (run back to 1), and counts when it was below
        the limit set by the runs learned before it. That is sequential, but the limit only grows
        with what is learned, so a running maximum under fixed limits, repeated until the limits
        stop moving, gives exactly the reading-by-reading answer (each pass can only learn more,
        never more than the sequential rule; a few passes at most).
        """
        ended = np.concatenate([state["run"][:, None], np.where(valid, run, 0)[:, :-1]], axis=1)
        ended = np.where((run == 1) & valid, ended, 0)
        warm = (n0[:, None] + np.arange(run.shape[1])[None, :]) < self.warmup  # every run learned then
        start = state["longest"][:, None]
        longest = np.broadcast_to(start, run.shape)
        while True:
            before = np.concatenate([start, longest[:, :-1]], axis=1)
            take = np.where((ended < self._limit(before)) | warm, ended, 0)
            new = np.maximum.accumulate(np.concatenate([start, take], axis=1), axis=1)[:, 1:]
            if np.array_equal(new, longest):
                break
            longest = new
        state["longest"] = longest[np.arange(len(run)), np.maximum(valid.sum(axis=1) - 1, 0)]
        return longest

    def _warm(self, score: np.ndarray, n0: np.ndarray) -> None:
        if self.warmup and (n0 < self.warmup).any():
            cut = np.clip(self.warmup - n0, 0, score.shape[1])
            score[np.arange(score.shape[1])[None, :] < cut[:, None]] = 0.0

    def _limit(self, longest: np.ndarray) -> np.ndarray:
        return np.maximum(float(self.window), self.factor * longest)


class OutOfRange(StreamingDetector):
    """A reading the sensor cannot physically give: outside its measuring range ``[low, high]``.

    Not a machine fault but a broken sensor, wiring or scaling (a 4-20 mA loop open reads below
    its range; a thermocouple open circuit reads far above it), so it is a data-quality check.
    Score 0 inside the range, ``1 + distance outside / (high - low)`` outside it.

    Examples
    --------
    >>> temp = np.array([61.0, 62.0, -250.0, 62.5, 1372.0])   # an open thermocouple reads wild
    >>> OutOfRange(low=-40, high=200).update(np.zeros(5, int), np.arange(5) * 10**9, temp) >= 1
    array([False, False,  True, False,  True])
    """

    kind = "out_of_range"
    finding_kind = "data_quality"

    def __init__(self, low: float, high: float):
        if not high > low:
            raise ValueError(f"need high > low, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        outside = np.maximum(self.low - value, value - self.high)
        return np.where(outside > 0, 1.0 + outside / (self.high - self.low), 0.0)
