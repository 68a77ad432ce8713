"""Sensor health: no data (deadman) and stuck sensor."""

from __future__ import annotations

import numpy as np

from detectors.streams import StreamingDetector

__all__ = ["NoData", "StuckSensor"]

_NS_PER_S = 1_000_000_000


class NoData(StreamingDetector):
    """Deadman: a stream that has been silent longer than ``max_gap_s``.

    Two views of the same state. ``update`` scores each arriving reading by the gap since the
    stream's previous one (``gap / max_gap_s``), which tells after the fact that data went missing;
    ``silent(now_ns)`` lists the streams silent right now, which is what raises a no-data alert
    while the sensor is still quiet.

    Examples
    --------
    >>> ts = np.array([0, 10, 20, 30, 400, 410]) * 10**9    # a six-minute hole
    >>> det = NoData(max_gap_s=120)
    >>> (det.update(np.zeros(6, int), ts, np.ones(6)) >= 1).astype(int)
    array([0, 0, 0, 0, 1, 0])
    >>> det.silent(now_ns=700 * 10**9)
    (array([0]), array([290.]))
    """

    kind = "no_data"
    state_fields = {"last_ts": (np.int64, -1, ())}

    def __init__(self, max_gap_s: float = 300.0):
        if max_gap_s <= 0:
            raise ValueError(f"max_gap_s must be > 0, got {max_gap_s}")
        self.max_gap_s = float(max_gap_s)

    def _update(self, grid, ts, value, valid, state):
        # "last seen" is the newest timestamp so far, not the latest arrival: a reading delivered late
        # (a gateway's backlog, a dead-letter replay) must neither make a live stream look silent nor
        # make the next on-time reading look like it followed a hole.
        last = state["last_ts"]
        if grid.full and ts[:, 0].min() >= 0:
            # nanoseconds since the stream's previous reading (0 for its first)
            step = grid.empty(np.int64)
            np.subtract(ts[:, 1:], ts[:, :-1], out=step[:, 1:])
            step[:, 0] = np.where(last >= 0, ts[:, 0] - last, 0)
            if step.min() >= 0:
                # the common case, each stream's clock running forward through the batch from its
                # last seen: the newest so far is the previous reading, no running maximum needed
                score = np.divide(step, _NS_PER_S, out=grid.scores())
                score /= self.max_gap_s
                state["last_ts"] = ts[:, -1]
                return score
        seen = np.maximum.accumulate(np.concatenate([last[:, None], ts], axis=1), axis=1)
        prev = seen[:, :-1]
        gap_s = np.maximum(ts - prev, 0) / _NS_PER_S
        state["last_ts"] = grid.last(seen[:, 1:])
        return np.where(valid & (prev >= 0), gap_s / self.max_gap_s, 0.0)

    def silent(self, now_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """Streams (ids, seconds silent) whose last reading is older than ``max_gap_s`` at ``now_ns``.

        Only streams seen at least once are listed.
        """
        last = getattr(self, "state_", {}).get("last_ts")
        if last is None:
            return np.empty(0, np.int64), np.empty(0)
        gap_s = (int(now_ns) - last) / _NS_PER_S
        ids = np.flatnonzero((last >= 0) & (gap_s > self.max_gap_s))
        return ids, gap_s[ids]


class StuckSensor(StreamingDetector):
    """A reading that has not moved by more than ``tolerance`` for ``window`` readings.

    Score ``run / window`` where ``run`` counts the consecutive readings (this one included) within
    ``tolerance`` of their predecessor. Real sensors always show some noise; a frozen value usually
    means a hung transmitter or a gateway repeating its last value.

    Examples
    --------
    >>> rng = np.random.default_rng(6)
    >>> x = 60 + rng.normal(0, 0.2, 30)
    >>> x[15:] = x[15]                         # the transmitter hangs
    >>> s = StuckSensor(window=10).update(np.zeros(30, int), np.arange(30) * 10**9, x)
    >>> np.flatnonzero(s >= 1)[:3]
    array([24, 25, 26])
    """

    kind = "stuck_sensor"
    state_fields = {"last": (np.float64, np.nan, ()), "run": (np.int64, 0, ())}

    def __init__(self, window: int = 30, tolerance: float = 0.0):
        if window < 2 or tolerance < 0:
            raise ValueError(f"need window >= 2 and tolerance >= 0, got {window}, {tolerance}")
        self.window, self.tolerance = int(window), float(tolerance)

    def _update(self, grid, ts, value, valid, state):
        same = grid.empty(bool)  # within tolerance of the predecessor; NaN (none yet) compares False
        np.less_equal(np.abs(value[:, 0] - state["last"]), self.tolerance, out=same[:, 0])
        if self.tolerance:
            moved = np.subtract(value[:, 1:], value[:, :-1])
            np.less_equal(np.abs(moved, out=moved), self.tolerance, out=same[:, 1:])
        else:  # |a - b| <= 0 exactly when a == b (finite readings): one pass, no temporary
            np.equal(value[:, 1:], value[:, :-1], out=same[:, 1:])
        state["last"] = grid.last(value)
        if not same.any():  # live data is noisy: every run is 1 long
            state["run"] = np.ones(len(grid.streams), np.int64)
            score = grid.scores()
            score.fill(1 / self.window)
            return score
        run = np.ones(grid.shape, np.int64)
        rows = np.flatnonzero(same.any(axis=1))  # only rows where a reading repeats need the running count
        cols = np.arange(value.shape[1])[None, :]
        last_break = np.maximum.accumulate(np.where(same[rows], -1, cols), axis=1)
        # no break yet in this batch: the run continues the one carried in the state
        run[rows] = np.where(last_break >= 0, cols - last_break + 1, cols + 1 + state["run"][rows, None])
        state["run"] = grid.last(run)
        return np.divide(run, self.window, out=grid.scores())  # padding cells (ragged rows) are never read
