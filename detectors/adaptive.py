"""A per-sensor check for columns nobody has described: how rare is this reading, given the recent past.

`AdaptiveLevel` is the default check of ``faultline score`` and of any sensor without a model of
its own. It is built to hold on plant data rather than on clean simulations:

- **a level and scale that re-learn**: exponentially weighted, Huber-clipped estimates over roughly
  the last ``halflife`` readings, so a slow load cycle or a drifting operating point is followed;
- **frozen while abnormal**: a reading at or above the clear level is not learnt into the level
  (the scale takes it clipped, the tail only if it is isolated), so a fault is
  not absorbed into "normal" while it lasts; a shift that persists for ``relearn`` readings is
  accepted as the new operating point (a pump started, a set point changed) and learnt at once;
- **a scale that cannot collapse**: floored by the sensor's resolution (its smallest non-zero step,
  learnt from the data: a sensor that reports in 0.1 steps never calls a 0.1 step abnormal) and by
  a share of its long-run scale, so a quiet spell does not make the next ordinary wobble a fault;
- **calibrated**: the score is the rarity of ``|z|`` within the stream's own normal history
  (`detectors.calibration`), so a heavy-tailed sensor earns a wider margin than a quiet one.
"""

from __future__ import annotations

import math

import numpy as np

from faultline.detectors.calibration import ALPHA, ExceedanceTail, rarity
from faultline.detectors.seasonal import SeasonalProfile
from faultline.detectors.streams import Grid, StreamingDetector

__all__ = ["AdaptiveDrift", "AdaptiveLevel"]

_GAUSS_MAD = math.sqrt(math.pi / 2)  # mean |x - mean| of a Gaussian times this is its standard deviation


class AdaptiveLevel(StreamingDetector):
    """Rarity of each reading's departure from a re-learning level, on the calibrated scale.

    Parameters
    ----------
    halflife : float
        Readings over which the level and scale forget half of what they knew.
    warmup : int
        Readings learnt before any is scored (score 0 until then).
    relearn : int
        Consecutive abnormal readings after which their mean is accepted as the new level.
    clear : float
        Calibrated score from which a reading is abnormal: not learnt into the level, and counted
        towards ``relearn``.
    floor_share : float
        The scale never drops below this share of its long-run value (tracked over ``10 × halflife``).
    huber : float
        Departures are clipped to this many scales when learnt, so one spike moves nothing much.
    trend, damping : float
        Share of each correction that goes to the local slope, and the slope's decay per reading
        (0 and any: a level without trend).
    alpha : float
        Tail probability at which the score is 1.0 (see `detectors.calibration`).

    Examples
    --------
    A temperature that reports in whole degrees, with a slow cycle and one real excursion:

    >>> rng = np.random.default_rng(4)
    >>> t = np.arange(600)
    >>> x = np.round(50 + 3 * np.sin(t / 40) + rng.normal(0, 0.4, 600))
    >>> x[400:410] += 8
    >>> s = AdaptiveLevel().update(np.zeros(600, int), t * 60 * 10**9, x)
    >>> hot = np.flatnonzero(s >= 1)
    >>> bool(hot.min() == 400), bool(hot.max() < 410)
    (True, True)
    """

    kind = "adaptive_level"
    state_fields = {
        "n": (np.int64, 0, ()),
        "level": (np.float64, 0.0, ()),
        "slope": (np.float64, 0.0, ()),
        "scale": (np.float64, 0.0, ()),
        "slow": (np.float64, 0.0, ()),
        "res": (np.float64, np.inf, ()),
        "prev": (np.float64, np.nan, ()),
        "u": (np.float64, ExceedanceTail().u0, ()),
        "beta": (np.float64, ExceedanceTail().beta0, ()),
        "run": (np.int64, 0, ()),
        "run_sum": (np.float64, 0.0, ()),
        # the seasonal profile (`detectors.seasonal`); one slot when there is none
        **{
            f"season_{k}": (dtype, fill, ("season_bins",) if extra else ())
            for k, (dtype, fill, extra) in SeasonalProfile.state_fields.items()
        },
    }
    version = "2"

    def __init__(
        self,
        halflife: float = 10.0,
        warmup: int = 30,
        relearn: int = 30,
        clear: float = 0.5,
        floor_share: float = 0.5,
        huber: float = 3.0,
        trend: float = 0.2,
        damping: float = 0.95,
        alpha: float = ALPHA,
        season_s: float = 0.0,
        season_bins: int = 96,
    ) -> None:
        if (
            halflife < 1
            or warmup < 2
            or relearn < 1
            or not 0 < clear
            or not 0 <= floor_share <= 1
            or huber <= 0
            or not 0 < alpha < 1
        ):
            raise ValueError(
                f"need halflife >= 1, warmup >= 2, relearn >= 1, clear > 0, 0 <= floor_share <= 1, "
                f"huber > 0, 0 < alpha < 1; got {halflife}, {warmup}, {relearn}, {clear}, "
                f"{floor_share}, {huber}, {alpha}"
            )
        self.halflife, self.warmup, self.relearn, self.clear = float(halflife), int(warmup), int(relearn), float(clear)
        self.floor_share, self.huber, self.alpha = float(floor_share), float(huber), float(alpha)
        self.trend, self.damping = float(trend), float(damping)
        if season_s < 0 or (season_s and season_bins < 2):
            raise ValueError(f"need season_s >= 0 and season_bins >= 2, got {season_s}, {season_bins}")
        self.season_s, self.season_bins = float(season_s), int(season_bins) if season_s else 1

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        tail = ExceedanceTail()
        a = 1.0 - 0.5 ** (1.0 / self.halflife)
        a_slow = 1.0 - 0.5 ** (1.0 / (10.0 * self.halflife))
        out = grid.scores()
        drift = self._drift_state(state)
        # the recursions are sequential in time, so step through the columns (one reading per stream);
        # a live batch has one column, a file has one per row
        with np.errstate(over="ignore", invalid="ignore"):
            return self._steps(ts, value, valid, out, drift, state, tail, a, a_slow)

    def _steps(
        self,
        ts: np.ndarray,
        value: np.ndarray,
        valid: np.ndarray,
        out: np.ndarray,
        drift: dict[str, np.ndarray] | None,
        state: dict[str, np.ndarray],
        tail: ExceedanceTail,
        a: float,
        a_slow: float,
    ) -> np.ndarray:
        n, level, scale, slow, res, prev = (state[k] for k in ("n", "level", "scale", "slow", "res", "prev"))
        u, beta, run, run_sum, slope = state["u"], state["beta"], state["run"], state["run_sum"], state["slope"]
        season = SeasonalProfile(self.season_s, self.season_bins) if self.season_s else None
        sst = {k[len("season_") :]: v for k, v in state.items() if k.startswith("season_")}
        for j in range(value.shape[1]):
            ok = valid[:, j]
            x = np.where(ok, value[:, j], 0.0)
            # a damped local trend (Holt 1957; Gardner & McKenzie 1985) follows a daily or load cycle
            # with far less lag than a level alone, so the cycle does not inflate the scale
            ahead = np.where(ok & (n >= self.warmup), self.damping * slope, 0.0)
            level += ahead
            before = level.copy()
            if season is not None:  # a learnt daily or weekly shape is taken off before judging
                shape, was_on = season.value(sst, ts[:, j])
                x_raw, x = x, x - shape
            d = x - level
            tiny = 1e-9 * (1.0 + np.abs(level))
            sigma = np.maximum.reduce([scale, self.floor_share * slow, np.where(np.isfinite(res), res, 0.0), tiny])
            z = np.abs(d) / sigma
            scored = ok & (n >= self.warmup)
            score = np.where(scored, rarity(tail.p(z, u, beta), self.alpha), 0.0)
            hot = scored & (score >= self.clear)
            if drift is None:
                out[:, j] = score
            learn = ok & ~hot
            # running averages until the half-life is reached, then exponential forgetting
            w = np.where(n < self.halflife, 1.0 / (n + 1.0), a)
            clip = np.where(n >= self.warmup, self.huber * sigma, np.inf)
            dc = np.clip(d, -clip, clip)
            level += np.where(learn, w * dc, 0.0)
            slope[:] = np.where(learn & (n >= self.warmup), ahead + self.trend * w * dc, np.where(ok, ahead, slope))
            dev = np.where(n == 0, 0.0, np.abs(dc) * _GAUSS_MAD)
            # the scale learns from every reading, clipped, but the second and later of a run of abnormal
            # ones: leaving out every abnormal reading would bias it low (which makes more readings
            # abnormal, which biases it lower); taking in a sustained departure would absorb a fault
            grow = ok & (n > 0) & ~(hot & (run > 0))
            scale += np.where(grow, np.where(n < self.halflife, 1.0 / np.maximum(n, 1), a) * (dev - scale), 0.0)
            slow += np.where(
                grow, np.where(n < 10 * self.halflife, 1.0 / np.maximum(n, 1), a_slow) * (scale - slow), 0.0
            )
            # the tail learns from isolated rare readings (the noise's own tail), not from a sustained event
            tail.learn(z, u, beta, ok & (n >= self.warmup) & ~(hot & (run > 0)))
            # a shift that persists is a new operating point: accept it rather than flag it for ever
            run[:] = np.where(hot, run + 1, np.where(ok, 0, run))  # padding cells leave runs alone
            run_sum[:] = np.where(hot, run_sum + x, np.where(ok, 0.0, run_sum))
            moved = run >= self.relearn
            if moved.any():
                level[moved] = run_sum[moved] / run[moved]
                slope[moved] = 0.0
                run[moved], run_sum[moved] = 0, 0.0
            if season is not None:
                # what the level leaves, without the profile, at the level before this reading
                # from every reading, abnormal ones too (a shape that recurs is abnormal until it is
                # learnt), each pulled in at most three Huber widths from what the slot holds, so a
                # one-off spike moves the slot little
                now, _ = season.value({**sst, "on": np.ones_like(sst["on"])}, ts[:, j])
                wide = 3.0 * self.huber * sigma
                season.learn(sst, ts[:, j], np.clip(x_raw - before, now - wide, now + wide), n >= self.warmup, ok)
                switched = sst["on"] != was_on
                if switched.any():  # the level now follows the reading less the profile, or the reading
                    now, _ = season.value(sst, ts[:, j])
                    level -= np.where(switched & sst["on"], now, 0.0)
                    level += np.where(switched & ~sst["on"], shape, 0.0)
            if drift is not None:
                out[:, j] = self._drift_step(drift, level, sigma, ok, hot, moved, n)
            step = np.abs(x - prev)
            res[:] = np.where(ok & (step > tiny), np.fmin(res, step), res)
            prev[:] = np.where(ok, x, prev)
            n += ok
            # readings near the float limits (1e308) overflow the arithmetic: that stream learns again
            broken = np.zeros(len(n), dtype=bool)
            for k, (dtype, _, _) in self.state_fields.items():
                if dtype is np.float64 and k not in ("res", "prev"):  # res starts inf, prev NaN
                    broken |= ~np.isfinite(state[k]).reshape(len(n), -1).all(axis=1)
            if broken.any():
                for k, (_, fill, _) in self.state_fields.items():
                    state[k][broken] = fill
                out[broken, j] = 0.0
        return out

    def _drift_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        return None  # the level check has no drift part

    def _drift_step(
        self,
        st: dict[str, np.ndarray],
        level: np.ndarray,
        sigma: np.ndarray,
        ok: np.ndarray,
        hot: np.ndarray,
        moved: np.ndarray,
        n: np.ndarray,
    ) -> np.ndarray:
        raise NotImplementedError  # only called with a drift state, which only AdaptiveDrift has


class AdaptiveDrift(AdaptiveLevel):
    """A slow departure of the (re-learning) level from its long-run value, on the calibrated scale.

    `AdaptiveLevel` follows a slow climb, by design; this check watches the gap between that level
    and a long-run level (exponentially weighted over ``drift_halflife`` readings, learnt only from
    normal readings). The gap is scored against its own normal history, so a daily cycle that
    always opens and closes it is not a drift. An operating-point step that the level check accepts
    (``relearn``) moves the long-run level with it: a step is not a drift. A drift that lasts
    ``drift_relearn`` readings is accepted as the new normal.

    Parameters
    ----------
    drift_halflife : float
        Readings over which the long-run level forgets half of what it knew.
    drift_relearn : int
        Consecutive drifting readings after which the long-run level is reset to the level.
    (the others as `AdaptiveLevel`)

    Examples
    --------
    A bearing temperature climbing 0.1 noise-σ per reading from reading 1000:

    >>> rng = np.random.default_rng(0)
    >>> x = 60 + rng.normal(0, 0.3, 1600)
    >>> x[1000:] += np.linspace(0, 18, 600)
    >>> s = AdaptiveDrift().update(np.zeros(1600, int), np.arange(1600) * 60 * 10**9, x)
    >>> bool((s[:1000] < 1).all()), int(np.argmax(s >= 1)) - 1000 < 150
    (True, True)
    """

    kind = "adaptive_drift"
    state_fields = {
        **AdaptiveLevel.state_fields,
        "base": (np.float64, 0.0, ()),
        "gap_scale": (np.float64, 0.0, ()),
        "u2": (np.float64, ExceedanceTail().u0, ()),
        "beta2": (np.float64, ExceedanceTail().beta0, ()),
        "drun": (np.int64, 0, ()),
    }

    def __init__(
        self,
        halflife: float = 10.0,
        warmup: int = 30,
        relearn: int = 30,
        clear: float = 0.5,
        floor_share: float = 0.5,
        huber: float = 3.0,
        trend: float = 0.2,
        damping: float = 0.95,
        alpha: float = ALPHA,
        drift_halflife: float = 100.0,
        drift_relearn: int = 1000,
        season_s: float = 0.0,
        season_bins: int = 96,
    ) -> None:
        super().__init__(
            halflife, warmup, relearn, clear, floor_share, huber, trend, damping, alpha, season_s, season_bins
        )
        if drift_halflife < halflife or drift_relearn < 1:
            raise ValueError(
                f"need drift_halflife >= halflife and drift_relearn >= 1, got {drift_halflife}, {drift_relearn}"
            )
        self.drift_halflife, self.drift_relearn = float(drift_halflife), int(drift_relearn)

    def _drift_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        return state

    def _drift_step(
        self,
        st: dict[str, np.ndarray],
        level: np.ndarray,
        sigma: np.ndarray,
        ok: np.ndarray,
        hot: np.ndarray,
        moved: np.ndarray,
        n: np.ndarray,
    ) -> np.ndarray:
        # the gap is strongly autocorrelated: its readings above the tracked quantile come in runs, so
        # the quantile moves in small steps or a single run would lift it far past the true quantile
        tail = ExceedanceTail(step=0.02, weight=0.02)
        base, gap_scale, u, beta, drun = st["base"], st["gap_scale"], st["u2"], st["beta2"], st["drun"]
        ready = n >= self.warmup
        b = np.where(
            n < self.warmup + self.drift_halflife,
            1.0 / np.maximum(n - self.warmup + 1.0, 1.0),
            1.0 - 0.5 ** (1.0 / self.drift_halflife),
        )
        fresh = ok & (n == self.warmup)
        base[:] = np.where(fresh, level, base)
        gap = level - base
        # the level's own wobble is about a third of the reading scale at the default half-life:
        # a gap smaller than half a reading scale is never called a drift
        floor = 0.5 * sigma
        gsig = np.maximum(gap_scale, floor)
        z = np.abs(gap) / gsig
        scored = ok & (n >= self.warmup + 2 * self.drift_halflife)
        score = np.where(scored, rarity(tail.p(z, u, beta), self.alpha), 0.0)
        dhot = scored & (score >= self.clear)
        learn = ok & ready & ~dhot & ~hot
        base += np.where(learn, b * gap, 0.0)
        g = np.minimum(np.abs(gap), self.huber * gsig) * _GAUSS_MAD
        # the gap moves slowly, so its normal excursions come in short runs: learn its scale and tail
        # from them too (with bounded influence), or the tail comes out too light; stop learning once
        # a run outlasts the level's memory (two half-lives), which is a drift under way
        young = drun <= 2 * self.halflife
        gap_scale += np.where(ok & ready & young, b * (g - gap_scale), 0.0)
        tail.learn(np.minimum(z, u + 5 * beta), u, beta, scored & young)
        drun[:] = np.where(dhot, drun + 1, np.where(ok, 0, drun))
        reset = moved | (drun >= self.drift_relearn)
        base[:] = np.where(reset, level, base)
        drun[:] = np.where(reset, 0, drun)
        return score
