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
        seen = np.maximum.accumulate(np.concatenate([state["last_ts"][:, None], ts], axis=1), axis=1)
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
        prev = np.concatenate([state["last"][:, None], value[:, :-1]], axis=1)
        same = np.abs(value - prev) <= self.tolerance  # NaN (no predecessor) compares False
        cols = np.arange(value.shape[1])[None, :]
        last_break = np.maximum.accumulate(np.where(same, -1, cols), axis=1)
        # no break yet in this batch: the run continues the one carried in the state
        run = np.where(last_break >= 0, cols - last_break + 1, cols + 1 + state["run"][:, None])
        state["last"] = grid.last(value)
        state["run"] = grid.last(run)
        return np.where(valid, run / self.window, 0.0)
