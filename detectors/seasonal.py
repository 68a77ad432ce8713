"""A learnt daily or weekly profile that a level check takes off a reading before judging it.

A metric that rises every morning, or a pump that a nightly job starts at 02:00, repeats its shape
every period. A re-learning level follows a slow, smooth cycle on its own, but not a sharp one: a
jump that comes back at the same hour every day would be flagged every day. `SeasonalProfile`
learns, per stream, what the readings add to the level at each phase of the period (``bins``
slots, each an exponentially weighted mean over about ``memory`` periods, learnt from normal
readings only) and says whether it earns its place:

- **switched on** when at least ``min_periods`` whole periods have been seen and the profile
  explains at least ``on_share`` of what the level leaves (``1 − E[(r − profile)²] / E[r²]`` with
  ``r`` the reading less the level, each judged before the reading is learnt, averaged over about
  ``memory`` periods). For a cycle in noise that share is what the autocorrelation at the period's lag
  measures: the share of the variance that repeats one period later, here judged out of
  sample, so a profile learnt from noise scores below zero. Default 0.2;
- **switched off** again when the share falls below half of that (hysteresis: it does not flicker).

A series without a cycle never reaches the share (a profile learnt from noise predicts nothing
out of sample, its share is about zero or below), so the check stays as it was. This module holds
the arithmetic over the caller's per-stream state arrays; `detectors.adaptive.AdaptiveLevel`
(``season_s``) uses it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SeasonalProfile"]

_NS = 1_000_000_000


class SeasonalProfile:
    """Per-stream profile of a period, and the rule that switches it on.

    Parameters
    ----------
    period_s : float
        The period: 86,400 (daily) or 604,800 (weekly).
    bins : int
        Slots per period (a reading falls in the slot of its time of day or week, UTC).
    min_periods : float
        Whole periods to see before the profile may switch on.
    on_share : float
        Share of what the level leaves that the profile must explain to switch on (off below half).
    memory : float
        Periods over which a slot's value forgets half of what it knew.

    Examples
    --------
    A value that jumps by 8 every night from 02:00 to 02:30, on noise of 1, every 5 minutes:

    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(12 * 288) * 300 * 10**9
    >>> night = ((t // 10**9) % 86400 >= 7200) & ((t // 10**9) % 86400 < 9000)
    >>> r = rng.normal(0, 1, len(t)) + 8 * night
    >>> sp = SeasonalProfile(86400, bins=288)
    >>> st = sp.start(1)
    >>> on = []
    >>> for ti, ri in zip(t, r):
    ...     sp.learn(st, np.array([ti]), np.array([ri]), np.array([True]), np.array([True]))
    ...     on.append(bool(st["on"][0]))
    >>> on[2 * 288], on[-1], float(sp.value(st, t[24:25])[0][0].round())     # 02:00: the profile adds 8
    (False, True, 8.0)
    >>> flat = SeasonalProfile(86400, bins=288)
    >>> st = flat.start(1)
    >>> for ti, ri in zip(t, rng.normal(0, 1, len(t))):       # no cycle: it never switches on
    ...     flat.learn(st, np.array([ti]), np.array([ri]), np.array([True]), np.array([True]))
    >>> bool(st["on"][0])
    False
    """

    state_fields = {
        "profile": (np.float64, 0.0, ("bins",)),
        "slot_n": (np.int64, 0, ("bins",)),
        "err_with": (np.float64, 0.0, ()),
        "err_without": (np.float64, 0.0, ()),
        "first_ns": (np.int64, -1, ()),
        "on": (np.bool_, False, ()),
    }

    def __init__(
        self,
        period_s: float = 86400.0,
        bins: int = 96,
        min_periods: float = 3.0,
        on_share: float = 0.2,
        memory: float = 3.0,
    ):
        if period_s <= 0 or bins < 2 or min_periods < 1 or not 0 < on_share < 1 or memory <= 0:
            raise ValueError(
                f"need period_s > 0, bins >= 2, min_periods >= 1, 0 < on_share < 1, memory > 0; got "
                f"{period_s}, {bins}, {min_periods}, {on_share}, {memory}"
            )
        self.period_s, self.bins, self.min_periods = float(period_s), int(bins), float(min_periods)
        self.on_share, self.memory = float(on_share), float(memory)

    def start(self, n: int) -> dict[str, np.ndarray]:
        """Fresh state arrays for ``n`` streams (the caller may keep them in its own state instead)."""
        return {
            k: np.full((n, *((self.bins,) if extra else ())), fill, dtype=dtype)
            for k, (dtype, fill, extra) in self.state_fields.items()
        }

    def slot(self, ts_ns: np.ndarray) -> np.ndarray:
        """The slot of each time (UTC phase of the period)."""
        period_ns = int(round(self.period_s * _NS))
        return ((np.asarray(ts_ns, dtype=np.int64) % period_ns) * self.bins // period_ns).astype(np.int64)

    def value(self, state: dict[str, np.ndarray], ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the profile at each reading's slot, 0 where it is off or the slot never seen; on?), shape (n,)."""
        rows = np.arange(len(ts_ns))
        b = self.slot(ts_ns)
        on = state["on"].copy()
        return np.where(on & (state["slot_n"][rows, b] > 0), state["profile"][rows, b], 0.0), on

    def learn(
        self, state: dict[str, np.ndarray], ts_ns: np.ndarray, resid: np.ndarray, learn: np.ndarray, ok: np.ndarray
    ) -> None:
        """Learn one reading per stream and update the switch.

        Parameters
        ----------
        state : dict of arrays, one row per stream (``start`` or the caller's rows)
        ts_ns : ndarray of int64, shape (n,)
        resid : ndarray, shape (n,)
            The reading less the level it is judged against (without the profile).
        learn : ndarray of bool, shape (n,)
            Readings to learn the profile from (normal ones).
        ok : ndarray of bool, shape (n,)
            Readings present (padding cells are skipped entirely).
        """
        rows = np.arange(len(resid))
        b = self.slot(ts_ns)
        prof = state["profile"][rows, b]
        seen = state["slot_n"][rows, b]
        first = state["first_ns"]
        first[:] = np.where(ok & (first < 0), ts_ns, first)
        # judged out of sample: the slot's value before this reading is learnt
        g_err = 1.0 - 0.5 ** (1.0 / (self.bins * self.memory))  # ``memory`` periods at one reading per slot
        e_with, e_without = state["err_with"], state["err_without"]
        judged = ok & learn & (seen > 0)
        e_with += np.where(judged, g_err * ((resid - prof) ** 2 - e_with), 0.0)
        e_without += np.where(judged, g_err * (resid * resid - e_without), 0.0)
        periods = (ts_ns - first) / (self.period_s * _NS)
        share = 1.0 - e_with / np.maximum(e_without, 1e-300)
        mature = ok & (periods >= self.min_periods)
        on = state["on"]
        on[:] = np.where(
            mature & (share >= self.on_share), True, np.where(mature & (share < 0.5 * self.on_share), False, on)
        )
        g = np.where(seen < self.memory, 1.0 / (seen + 1.0), 1.0 - 0.5 ** (1.0 / self.memory))
        take = ok & learn
        state["profile"][rows[take], b[take]] = prof[take] + g[take] * (resid[take] - prof[take])
        state["slot_n"][rows[take], b[take]] = seen[take] + 1
