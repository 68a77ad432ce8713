"""Drift detectors, EWMA and CUSUM, against a trailing baseline that keeps learning from normal data.

Each stream's reference (mean μ and standard deviation σ) is learned from its first ``warmup``
readings (scores are 0 until then), then keeps following the stream from recent *normal* readings:
readings go in blocks of 16 (counted per stream, so the blocks do not depend on how readings are
batched), and a block whose scores all stayed below ``learn_below`` moves the reference by
``16 / memory`` of the way towards it (an exponentially weighted mean with a memory of about
``memory`` readings; readings winsorised at μ ± 4σ, so one wild reading does not drag it). While
the score is above that level the reference is frozen, so a developing fault is not learned as
normal. A new level that holds for ``relearn_after`` readings is an operating point, not a fault:
it has been reported by then, and the stream learns afresh from there (a new warm-up; the drift
statistic restarts).
``relearn_after: 0`` never accepts a new level on its own; ``reset`` a stream after maintenance.
"""

from __future__ import annotations

import numpy as np

from faultline.detectors import kernels
from faultline.detectors.streams import Grid, StreamingDetector, exp_smooth

__all__ = ["Cusum", "EnvelopeCusum", "Ewma"]

# From this many rows a recurrence over a grid steps through its columns, one vector operation per
# column of the batch, rather than along each row (numpy's accumulate and scipy's lfilter take a few
# ns per element; a column step costs about a microsecond plus about one ns per row).
_WIDE = 256
BLOCK = 16  # readings per learning block
_WINSOR = 4.0  # a block's readings are clipped to μ ± this many σ before they are learned


def _by_column(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised float grid whose columns are contiguous."""
    return np.empty(shape[::-1]).T


def running(op: np.ufunc, start: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start[r] op x[r, 0] op … op x[r, j]`` for every j, applied strictly left to right.

    ``op`` is ``np.add`` or ``np.minimum``. Sequential addition (``np.add.accumulate``, unlike
    ``sum``'s pairwise) makes the result bit-for-bit the same however a stream's readings are split
    into batches, and the same as the column-by-column loops below, which add in the same order.
    """
    return op.accumulate(np.concatenate([start[:, None], x], axis=1), axis=1)[:, 1:]


def _sum_rows(start: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start[r] + x[r, 0] + … + x[r, -1]``, added left to right as ``running`` adds."""
    if len(x) < _WIDE:
        return running(np.add, start, x)[:, -1]
    total = start.copy()
    for j in range(x.shape[1]):
        np.add(total, x[:, j], out=total)
    return total


class _BaselineDetector(StreamingDetector):
    """The trailing reference shared by EWMA and CUSUM (see the module docstring).

    State: ``n`` readings seen; ``since``, the reading the current warm-up began at; ``sum``/``sumsq``
    of the warm-up readings; the reference ``mu`` and ``var``; ``frozen`` readings since a block was
    last learned; the readings of the block under way (``block``) and its largest score so far
    (``block_max``).
    """

    state_fields = {
        "n": (np.int64, 0, ()),
        "sum": (np.float64, 0.0, ()),
        "sumsq": (np.float64, 0.0, ()),
        "mu": (np.float64, np.nan, ()),
        "var": (np.float64, np.nan, ()),
        "frozen": (np.int64, 0, ()),
        "since": (np.int64, 0, ()),
        "block": (np.float64, np.nan, (BLOCK,)),
        "block_max": (np.float64, 0.0, ()),
    }

    def __init__(self, warmup: int, min_std: float, memory: int | None, learn_below: float, relearn_after: int | None):
        if warmup < 2:
            raise ValueError(f"warmup must be >= 2 readings, got {warmup}")
        if min_std <= 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        memory = 10 * warmup if memory is None else memory
        relearn_after = warmup if relearn_after is None else relearn_after
        if memory < BLOCK or relearn_after < 0 or learn_below <= 0:
            raise ValueError(
                f"need memory >= {BLOCK}, relearn_after >= 0 and learn_below > 0, got {memory}, "
                f"{relearn_after}, {learn_below}"
            )
        self.warmup, self.min_std = int(warmup), float(min_std)
        self.memory, self.learn_below, self.relearn_after = int(memory), float(learn_below), int(relearn_after)

    @property
    def learnt_after(self) -> int:
        """Readings before a stream is scored: ``warmup`` rounded up to whole blocks."""
        return -(-self.warmup // BLOCK) * BLOCK

    def reset(self, streams: np.ndarray) -> None:
        """Forget the baseline (and drift state) of these streams, e.g. after a repair."""
        streams = np.asarray(streams, dtype=np.int64)
        self._ensure(int(streams.max()) + 1 if len(streams) else 0)
        for name, (_, fill, _) in self.state_fields.items():
            self.state_[name][streams] = fill

    def baseline(self, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std, learnt) of the reference per stream; ``learnt`` is False during warm-up."""
        st = self.state_
        learnt = st["n"][streams] - st["since"][streams] >= self.learnt_after
        return st["mu"][streams], self._std(st["var"][streams]), learnt

    def _std(self, var: np.ndarray) -> np.ndarray:
        return np.maximum(np.sqrt(np.maximum(var, 0.0)), self.min_std)

    # detectors whose scoring and learning the compiled loop does (kernels.baseline_scan): for them
    # every batch goes through it, whatever its layout, so the bits never depend on the path taken
    _kernel: int | None = None

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        assert grid is not None  # stateful: update always passes the grid
        if self._kernel is not None:
            return self._scan(grid, value, state)
        z = self._smoothed(grid, value, state)
        if value.shape[1] < BLOCK:  # a few readings per stream (live batches): a column at a time
            return self._by_reading(grid, value, valid, state, z)
        return self._by_block(grid, value, valid, state, z)

    def _scan(self, grid: Grid, value: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
        """Score and learn the whole grid in one compiled pass (``kernels.baseline_scan``; the EWMA is
        smoothed there too, with the arithmetic of ``_smoothed``)."""
        out = grid.loop_scores()
        x, xr, xc = kernels.flat(value)
        o, o_r, o_c = kernels.flat(out)
        rows = len(value)
        cusum = self._kernel == kernels.CUSUM
        sides = [state[k] if cusum else np.zeros(rows) for k in ("up_c", "up_m", "down_c", "down_m")]
        clip = getattr(self, "clip", None)
        kernels.baseline_scan(
            self._kernel,
            x,
            xr,
            xc,
            o,
            o_r,
            o_c,
            np.ascontiguousarray(grid.counts, np.int64),
            state["n"],
            state["since"],
            state["sum"],
            state["sumsq"],
            state["mu"],
            state["var"],
            state["frozen"],
            state["block"],
            state["block_max"],
            *sides,
            state["z"] if "z" in state else np.zeros(rows),
            float(getattr(self, "alpha", 1.0)),
            float(getattr(self, "k", 0.0)),
            float(getattr(self, "h", 1.0)),
            {"both": kernels.BOTH, "up": kernels.UP, "down": kernels.DOWN}[getattr(self, "direction", "both")],
            clip is not None,
            0.0 if clip is None else float(clip),
            float(getattr(self, "limit_sigmas", 1.0)),
            self.min_std,
            self.learnt_after,
            min(1.0, BLOCK / self.memory),
            self.learn_below,
            self.relearn_after,
        )
        return out

    def _by_reading(
        self, grid: Grid, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray], z: np.ndarray | None
    ) -> np.ndarray:
        """Score each column of the grid against the reference in force, learning each block as it
        completes; the same arithmetic, in the same order, as ``_by_block``."""
        out = grid.scores()
        n = state["n"].copy()
        for j in range(value.shape[1]):
            ok = valid[:, j]
            scored = ok & (n - state["since"] >= self.learnt_after)
            sc = self._score_block(value[:, j : j + 1], None if z is None else z[:, j : j + 1], scored[:, None], state)
            out[:, j] = sc[:, 0]
            r = np.flatnonzero(ok)
            state["block"][r, n[r] % BLOCK] = value[r, j]
            state["block_max"] = np.where(ok, np.maximum(state["block_max"], sc[:, 0]), state["block_max"])
            n = n + ok
            done = ok & (n % BLOCK == 0)
            if done.any():
                count = n - BLOCK
                self._learn(
                    state["block"], done, count - state["since"] >= self.learnt_after, state["block_max"], count, state
                )
                state["block_max"][done] = 0.0
                state["block"][done] = np.nan
        state["n"] = n
        return out

    def _by_block(
        self, grid: Grid, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray], z: np.ndarray | None
    ) -> np.ndarray:
        """Lay the batch out in whole blocks per stream (the block under way first), score block by
        block against the reference in force, learn each completed block, gather the scores."""
        rows, cols = value.shape
        n0 = state["n"]
        off = n0 % BLOCK  # readings of the block under way already seen
        total = off + grid.counts
        width = -(-int((off + cols).max()) // BLOCK) * BLOCK
        at = off[:, None] + np.arange(cols)[None, :]  # where each reading of the grid goes
        x = np.full((rows, width), np.nan)
        x[:, :BLOCK] = np.where(np.arange(BLOCK)[None, :] < off[:, None], state["block"], np.nan)
        np.put_along_axis(x, at, value, axis=1)
        new = np.zeros((rows, width), dtype=bool)
        np.put_along_axis(new, at, valid, axis=1)
        if z is not None:
            laid = np.full((rows, width), np.nan)
            np.put_along_axis(laid, at, z, axis=1)
            z = laid
        out = np.zeros((rows, width))
        block_max = state["block_max"].copy()
        first = n0 - off  # readings before block 0 of the layout
        for b in range(width // BLOCK):
            cells = slice(b * BLOCK, (b + 1) * BLOCK)
            xb, nb = x[:, cells], new[:, cells]
            if not nb.any():
                continue
            scored = (first + b * BLOCK - state["since"]) >= self.learnt_after
            sc = self._score_block(xb, None if z is None else z[:, cells], nb & scored[:, None], state)
            out[:, cells] = sc
            block_max = np.maximum(block_max, np.where(nb, sc, 0.0).max(axis=1))
            done = (b + 1) * BLOCK <= total
            if done.any():
                self._learn(xb, done, scored, block_max, first + b * BLOCK, state)
                block_max[done] = 0.0
        end = (total // BLOCK) * BLOCK  # the block left under way
        take = np.minimum(end[:, None] + np.arange(BLOCK)[None, :], width - 1)
        state["block"] = np.where(
            np.arange(BLOCK)[None, :] < (total % BLOCK)[:, None], np.take_along_axis(x, take, axis=1), np.nan
        )
        state["block_max"] = block_max
        state["n"] = n0 + grid.counts
        score = grid.scores()
        score[...] = np.take_along_axis(out, np.minimum(at, width - 1), axis=1)
        return score

    def _learn(
        self,
        xb: np.ndarray,
        done: np.ndarray,
        scored: np.ndarray,
        block_max: np.ndarray,
        count: np.ndarray,
        state: dict[str, np.ndarray],
    ) -> None:
        """Learn the completed blocks (``done``): warm-up sums, then the trailing reference."""
        warm = done & ~scored
        if warm.any():
            self._learn_warmup(xb, warm, count, state)
        live = done & scored
        if not live.any():
            return
        r = np.flatnonzero(live)
        mu, var, xr = state["mu"][r], state["var"][r], xb[r]
        sd = self._std(var)
        xc = np.clip(xr, (mu - _WINSOR * sd)[:, None], (mu + _WINSOR * sd)[:, None])
        w = min(1.0, BLOCK / self.memory)
        accept = block_max[r] < self.learn_below
        frozen = np.where(accept, 0, state["frozen"][r] + BLOCK)
        new_mu, new_var = self._follow(mu, var, xc, w)
        state["mu"][r] = np.where(accept, new_mu, mu)
        state["var"][r] = np.where(accept, new_var, var)
        if self.relearn_after:
            moved = frozen >= self.relearn_after  # a new level held this long: an operating point
            if moved.any():  # learn it afresh, as at the start
                m = r[moved]
                state["since"][m] = count[m] + BLOCK
                state["sum"][m] = state["sumsq"][m] = 0.0
                frozen[moved] = 0
                self._restart(m, state)
        state["frozen"][r] = frozen

    def _follow(self, mu: np.ndarray, var: np.ndarray, xc: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
        """The reference after an accepted block ``xc`` (rows, BLOCK): an exponentially weighted
        mean of the readings and of their squared distance from it."""
        return mu + w * (xc.mean(axis=1) - mu), var + w * (((xc - mu[:, None]) ** 2).mean(axis=1) - var)

    def _learn_warmup(self, xb: np.ndarray, warm: np.ndarray, count: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Warm-up blocks: sums of the readings; at the end, the reference is their mean and std."""
        if warm.any():
            xs = np.where(np.isnan(xb[warm]), 0.0, xb[warm])
            sums = _sum_rows(np.concatenate([state["sum"][warm], state["sumsq"][warm]]), np.concatenate([xs, xs * xs]))
            k = int(warm.sum())
            state["sum"][warm], state["sumsq"][warm] = sums[:k], sums[k:]
            ends = warm & (count + BLOCK - state["since"] >= self.learnt_after)
            if ends.any():  # warm-up complete: the reference is its mean and standard deviation
                m = float(self.learnt_after)
                mean = state["sum"][ends] / m
                state["mu"][ends] = mean
                state["var"][ends] = np.maximum(state["sumsq"][ends] - m * mean * mean, 0.0) / (m - 1)
                state["frozen"][ends] = 0

    # hooks for the detectors
    def _smoothed(self, grid: Grid, value: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-reading values that do not depend on the reference (EWMA's z), or None."""

    def _score_block(
        self, xb: np.ndarray, zb: np.ndarray | None, scored: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Scores of the cells of ``xb`` (rows, w) where ``scored`` (0 elsewhere), advancing the
        detector's own state over those cells, in order."""
        raise NotImplementedError

    def _restart(self, rows: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """The drift statistic of these rows starts again (the reference moved to a new level)."""


class Ewma(_BaselineDetector):
    """EWMA control chart: ``z_t = λ x_t + (1 − λ) z_{t−1}`` against ``μ ± L σ √(λ / (2 − λ))``.

    Score ``|z − μ| / (L σ √(λ / (2 − λ)))`` (Roberts 1959; the asymptotic control limit), μ and σ
    the stream's trailing reference (see the module docstring).

    Parameters
    ----------
    alpha : float
        Smoothing weight λ in (0, 1].
    limit_sigmas : float
        L, the control limit in standard deviations of the EWMA.
    warmup : int
        Readings used to learn μ and σ first (rounded up to whole blocks of 16).
    min_std : float
        Floor on σ in reading units.
    memory : int, optional
        Readings the trailing reference remembers (default ``10 × warmup``).
    learn_below : float
        A block is learned only if every score in it stayed below this.
    relearn_after : int, optional
        Readings of continuously frozen reference after which the current level is accepted
        (default ``warmup``; 0 = never).

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> x = 50 + rng.normal(0, 1, 300)
    >>> x[200:] += np.linspace(0, 4, 100)      # slow drift
    >>> s = Ewma(alpha=0.05, limit_sigmas=3.5, warmup=100).update(np.zeros(300, int), np.arange(300) * 10**9, x)
    >>> bool((s[:200] < 1).all()), bool((s[-20:] >= 1).all())
    (True, True)
    """

    kind = "ewma"
    version = "2"
    state_fields = {**_BaselineDetector.state_fields, "z": (np.float64, np.nan, ())}
    _kernel: int | None = kernels.EWMA

    def __init__(
        self,
        alpha: float = 0.05,
        limit_sigmas: float = 3.0,
        warmup: int = 100,
        min_std: float = 1e-6,
        memory: int | None = None,
        learn_below: float = 0.5,
        relearn_after: int | None = None,
    ):
        super().__init__(warmup, min_std, memory, learn_below, relearn_after)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha, self.limit_sigmas = float(alpha), float(limit_sigmas)

    def _smoothed(self, grid: Grid, value: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray | None:
        # the smoothed value does not depend on the reference: all of it at once
        prev = np.where(np.isnan(state["z"]), value[:, 0], state["z"])  # a new stream starts at its first reading
        z = exp_smooth(value, self.alpha, prev)
        state["z"] = grid.last(z).copy()
        return z

    def _score_block(
        self, xb: np.ndarray, zb: np.ndarray | None, scored: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        a = self.alpha
        width = self.limit_sigmas * self._std(state["var"]) * np.sqrt(a / (2.0 - a))
        with np.errstate(invalid="ignore"):
            score = np.abs(zb - state["mu"][:, None]) / width[:, None]
        return np.where(scored, score, 0.0)


class Cusum(_BaselineDetector):
    """Tabular CUSUM (Page 1954) on standardised readings ``y = (x − μ) / σ``.

    ``S⁺ = max(0, S⁺ + y − k)``, ``S⁻ = max(0, S⁻ − y − k)``; score ``max(S⁺, S⁻) / h``, μ and σ the
    stream's trailing reference (see the module docstring). Computed by the Lindley form
    ``S_t = C_t − min(0, min_{j≤t} C_j)`` with ``C`` the cumulative sum of the increments:
    cumulative sums and minima along a block's rows, a few vector operations per block.

    Parameters
    ----------
    k : float
        Allowance (slack) in σ; about half the shift to detect.
    h : float
        Decision interval in σ: the score reaches 1.0 at ``S = h``.
    direction : {"both", "up", "down"}
        Which shifts count.
    clip : float, optional
        Standardised readings are clipped to ``±clip`` first, so one wild spike (a sensor glitch)
        cannot push the sum over ``h`` on its own; a real shift still accumulates reading by reading.
    warmup, min_std, memory, learn_below, relearn_after :
        As for :class:`Ewma`.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> x = 2.0 + rng.normal(0, 0.2, 400)
    >>> x[300:] += 0.3                          # a 1.5 σ step
    >>> s = Cusum(k=0.5, h=8, warmup=200).update(np.zeros(400, int), np.arange(400) * 10**9, x)
    >>> bool((s[:300] < 1).all()), bool((s[-50:] >= 1).all())
    (True, True)

    A change of operating point that holds is learned after ``relearn_after`` readings; the alert
    it raised then clears:

    >>> y = 2.0 + rng.normal(0, 0.2, 3000)
    >>> y[1000:] += 2.0                         # the pump moves to a new duty point and stays there
    >>> s = Cusum(k=0.5, h=8, warmup=200, relearn_after=400).update(np.zeros(3000, int), np.arange(3000) * 10**9, y)
    >>> bool(s[1000:1400].max() >= 1), float((s[1500:] >= 1).mean()) < 0.01
    (True, True)
    """

    kind = "cusum"
    version = "3"
    _kernel: int | None = kernels.CUSUM
    state_fields = {
        **_BaselineDetector.state_fields,
        "up_c": (np.float64, 0.0, ()),
        "up_m": (np.float64, 0.0, ()),
        "down_c": (np.float64, 0.0, ()),
        "down_m": (np.float64, 0.0, ()),
    }

    def __init__(
        self,
        k: float = 0.5,
        h: float = 8.0,
        direction: str = "both",
        warmup: int = 100,
        min_std: float = 1e-6,
        clip: float | None = None,
        memory: int | None = None,
        learn_below: float = 0.5,
        relearn_after: int | None = None,
    ):
        super().__init__(warmup, min_std, memory, learn_below, relearn_after)
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        if k < 0 or h <= 0:
            raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
        if clip is not None and clip <= k:
            raise ValueError(f"clip must be > k, got clip={clip}, k={k}")
        self.k, self.h, self.direction = float(k), float(h), direction
        self.clip = None if clip is None else float(clip)

    def _score_block(
        self, xb: np.ndarray, zb: np.ndarray | None, scored: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        rows = len(xb)
        sd = self._std(state["var"])
        with np.errstate(invalid="ignore"):
            y = (xb - state["mu"][:, None]) / sd[:, None]
        if self.clip is not None:
            np.clip(y, -self.clip, self.clip, out=y)
        c = np.concatenate([y - self.k, -y - self.k])
        c[~np.concatenate([scored, scored])] = 0.0  # readings seen before, in warm-up or not there add nothing
        start = np.concatenate([state["up_c"], state["down_c"]])
        floor = np.concatenate([state["up_m"], state["down_m"]])
        total, low = _lindley(c, start, floor)
        state["up_c"], state["down_c"] = total[:rows], total[rows:]
        state["up_m"], state["down_m"] = low[:rows], low[rows:]
        if self.direction == "both":
            return np.maximum(c[:rows], c[rows:]) / self.h
        return (c[:rows] if self.direction == "up" else c[rows:]) / self.h

    def _restart(self, rows: np.ndarray, state: dict[str, np.ndarray]) -> None:
        for name in ("up_c", "up_m", "down_c", "down_m"):
            state[name][rows] = 0.0


class EnvelopeCusum(Cusum):
    """CUSUM against the top of the stream's operating envelope: a rise above every level it visits.

    A machine on a variable-speed drive, or one whose load follows the day, moves between
    operating points that are not faults; its vibration at full speed is well above its vibration
    at 80 %. A reference that is the *mean* of those levels makes every spell at the highest one
    look like a shift. Here the reference ``μ`` is an upper expectile of the stream's 16-reading
    block means: a block above ``μ`` pulls it up by ``16 / memory`` of the way, a block below by
    ``down`` times that, so ``μ`` settles near the highest level the stream returns to (with a
    third of the time at the top level and ``down = 0.02``, 96 % of the way from the lower levels
    to it) and a spell at a lower level hardly moves it. ``σ`` is the noise *within* a block (at one
    operating point), not the spread between operating points. The CUSUM then counts readings
    above ``μ + k σ``: a fault that lifts the stream above the highest level it visits. The warm-up
    starts ``μ`` at the highest block median it saw and ``σ`` at the blocks' mean MAD-sigma (so its
    warm-up should span the operating points: a day or two); learning stops while the
    score is high, and a new level held ``relearn_after`` readings is learned afresh, as for
    :class:`Cusum`. Only ``direction="up"`` makes sense here.

    Parameters
    ----------
    down : float
        Weight of a block below the reference relative to one above it (0 < down ≤ 1; 1 is the mean).
    k, h, clip, warmup, min_std, memory, learn_below, relearn_after :
        As for :class:`Cusum`.

    Examples
    --------
    A pump that spends its days at three speeds (vibration with speed squared), then a fault lifts
    its vibration by a fifth at every speed:

    >>> rng = np.random.default_rng(6)
    >>> speed = np.repeat(rng.choice([0.8, 0.9, 1.0], 60), 240)
    >>> x = 2.0 * speed ** 2 * (1 + 0.02 * rng.normal(size=len(speed)))
    >>> x[12000:] *= 1.2
    >>> t = np.arange(len(x)) * 60 * 10**9
    >>> env = EnvelopeCusum(k=1.5, h=60, warmup=2880, memory=10080).update(np.zeros(len(x), int), t, x)
    >>> mean = Cusum(k=1.5, h=60, direction="up", warmup=2880, memory=10080).update(np.zeros(len(x), int), t, x)
    >>> bool((env[:12000] < 1).all()), bool((env[12000:] >= 1).any()), bool((mean[:12000] >= 1).any())
    (True, True, True)
    """

    kind = "envelope_cusum"
    version = "1"
    _kernel = None  # its own reference (an upper expectile of block means): the numpy path
    state_fields = {**Cusum.state_fields, "blocks": (np.float64, 0.0, ())}

    def __init__(
        self,
        k: float = 1.5,
        h: float = 60.0,
        down: float = 0.02,
        direction: str = "up",
        warmup: int = 1440,
        min_std: float = 1e-6,
        clip: float | None = None,
        memory: int | None = None,
        learn_below: float = 0.5,
        relearn_after: int | None = None,
    ):
        if direction != "up":
            raise ValueError(f"an envelope is exceeded upwards only: direction must be 'up', got {direction!r}")
        super().__init__(
            k=k,
            h=h,
            direction=direction,
            warmup=warmup,
            min_std=min_std,
            clip=clip,
            memory=memory,
            learn_below=learn_below,
            relearn_after=relearn_after,
        )
        if not 0 < down <= 1:
            raise ValueError(f"down must be in (0, 1], got {down}")
        self.down = float(down)

    def _follow(self, mu: np.ndarray, var: np.ndarray, xc: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
        bm = xc.mean(axis=1)
        bv = ((xc - bm[:, None]) ** 2).sum(axis=1) / (xc.shape[1] - 1)  # noise within the block
        return mu + np.where(bm > mu, w, w * self.down) * (bm - mu), var + w * (bv - var)

    def _learn_warmup(self, xb: np.ndarray, warm: np.ndarray, count: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """The highest block median of the warm-up, and the mean squared within-block MAD-sigma (a
        one-reading glitch moves neither)."""
        r = np.flatnonzero(warm)
        seen = state["blocks"][r] * (count[r] > state["since"][r]) + 1.0  # a restarted warm-up counts afresh
        xr = xb[r]
        med = np.median(xr, axis=1)
        bv = (1.4826 * np.median(np.abs(xr - med[:, None]), axis=1)) ** 2
        first = seen == 1
        state["mu"][r] = np.where(first, med, np.fmax(state["mu"][r], med))
        state["var"][r] = np.where(first, bv, state["var"][r] + (bv - state["var"][r]) / seen)
        state["blocks"][r] = seen
        ends = count[r] + BLOCK - state["since"][r] >= self.learnt_after
        state["frozen"][r[ends]] = 0


def _lindley(c: np.ndarray, start: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn the increments ``c`` into the CUSUM, in place; return (C, M) after the last column.

    Lindley form: ``S_t = C_t - min(M, min_{j<=t} C_j)``, with ``C`` the stream's cumulative sum of
    increments since its start (from ``start``) and ``M`` the running minimum before this batch
    (``floor``): carrying (C, M) rather than S keeps every addition in the same order whatever the
    batch split. ``|C|`` grows by about k per reading, so after 10^9 readings S still has some
    1e-7 absolute precision.
    """
    rows, cols = c.shape
    if not cols:
        return start.copy(), floor.copy()
    if rows < _WIDE:
        total = running(np.add, start, c)
        low = np.minimum(np.minimum.accumulate(total, axis=1), floor[:, None])
        np.subtract(total, low, out=c)
        return total[:, -1], low[:, -1]
    total, low = start.copy(), floor.copy()
    for j in range(cols):  # one column at a time, with nothing but c as large as the grid
        step = c[:, j]
        np.add(total, step, out=total)
        np.minimum(low, total, out=low)
        np.subtract(total, low, out=step)
    return total, low
