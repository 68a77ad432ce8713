"""One scale for every detector's score, and the rule that combines several scores into one.

**The scale.** A calibrated score says how rare a reading is: ``p`` is the probability that a normal
reading of the same stream scores at least this high (its *tail probability*), and the score is

    score = log(1 / p) / log(1 / alpha)

so 1.0 is the alarm level (``p = alpha``), 2.0 is ``p = alpha²``, and 0 means "as common as it
gets". The tail probability is learnt from the stream's own recent normal history
(`ExceedanceTail`): a heavy-tailed sensor earns a wider margin than a quiet one, with no threshold to
tune per sensor. Detectors that are not calibrated this way are read on the same scale as if their
own 1.0 were tail probability ``alpha``.

**The combination.** Several checks look at the same row of an asset; some will reach a rare score
by chance just because there are many of them. Each anomaly check gets a share ``w_i`` of the row's
false-alarm budget ``alpha`` (the shares sum to 1: equal shares ``1/k`` for ``k`` checks, or a
smaller share for a check that should speak only when it is very sure), and alarms when its tail
probability falls below ``w_i · alpha``: its alarm level is ``alarm_level(1 / w_i)``
``= 1 + log(1/w_i) / log(1/alpha)``. This is the weighted Bonferroni correction: however many
checks there are, a normal row is flagged with probability at most ``alpha``. The combined score of
a row is how far its most alarming check is from that check's own alarm level:

    combined = max(0, 1 + max_i (score_i − alarm_i))

so it reaches 1.0 exactly when some check alarms, and with the same alarm level on every check
it is simply the largest score. Data-quality checks (stuck sensor, no data, …) say nothing about
the machine and never enter the combination (`DATA_QUALITY_MODES`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ALPHA", "DATA_QUALITY_MODES", "ExceedanceTail", "alarm_level", "combine", "rarity"]

ALPHA = 1e-3
"""Tail probability at which a calibrated score is 1.0: one normal reading in a thousand, per check."""

DATA_QUALITY_MODES = frozenset(
    {
        "stuck_sensor",
        "no_data",
        "dropout",
        "offline",
        "duplicate",
        "out_of_order",
        "clock_skew",
        "malformed",
        "out_of_range",
    }
)
"""Fault modes that describe the data, not the machine: kept out of the anomaly score and flag."""


_TINY = np.nextafter(0.0, 1.0)


def rarity(p: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Tail probability → calibrated score ``log(1/p) / log(1/alpha)`` (0 for p ≥ 1).

    A probability too small for a float (a reading millions of scales out) counts as the smallest
    one, so the score stays finite (about 108 at the default ``alpha``) and an alert rule can take it.

    >>> rarity(np.array([1.0, 1e-3, 1e-6, 0.0])).round(1)
    array([  0. ,   1. ,   2. , 107.8])
    """
    p = np.maximum(np.asarray(p, dtype=np.float64), _TINY)
    return np.maximum(-np.log(p), 0.0) / -math.log(alpha)


def alarm_level(k: float, alpha: float = ALPHA) -> float:
    """Alarm level of a check holding the share ``1/k`` of the false-alarm budget (``k`` equal checks).

    >>> round(alarm_level(10), 6), alarm_level(1)
    (1.333333, 1.0)
    """
    return 1.0 + math.log(max(k, 1.0)) / -math.log(alpha)


def combine(scores: np.ndarray, alarms: np.ndarray) -> np.ndarray:
    """Combine calibrated scores, shape (n, k) with NaN where a check did not score, into shape (n,).

    ``alarms`` (k,) are the checks' alarm levels. The result is ``1 + max_i (score_i − alarm_i)``,
    never below 0; 0 for a row with no score.

    >>> alarms = np.array([alarm_level(10), alarm_level(10)])
    >>> combine(np.array([[1.0, np.nan], [alarms[0], 0.2], [3.0, 2.9], [np.nan, np.nan]]), alarms).round(6)
    array([0.666667, 1.      , 2.666667, 0.      ])
    """
    scores = np.asarray(scores, dtype=np.float64)
    excess = np.where(np.isnan(scores), -np.inf, scores - np.asarray(alarms, dtype=np.float64)[None, :])
    top = excess.max(axis=1) if scores.shape[1] else np.full(len(scores), -np.inf)
    return np.where(np.isfinite(top), np.maximum(1.0 + top, 0.0), 0.0)


class ExceedanceTail:
    """Streaming estimate of the upper tail of a statistic: peaks over a tracked threshold.

    Above its ``1 − q`` quantile ``u`` the tail of a statistic is modelled as exponential with mean
    excess ``beta`` (the peaks-over-threshold method of extreme value theory; an exponential tail is
    the generalised Pareto with shape 0, Pickands 1975; streaming use as in SPOT, Siffer et al. 2017):

        P(X ≥ x) = q · exp(−(x − u) / beta)      for x ≥ u

    ``u`` follows the quantile by stochastic approximation (a step up of ``step · (1 − q)`` on an
    exceedance, down ``step · q`` otherwise, so it settles where a share ``q`` exceeds it) and ``beta``
    is an exponentially weighted mean of the excesses. Both live in the caller's per-stream state
    arrays; this class only holds the parameters. The starting point (``u0``, ``beta0``) is the tail
    of ``|z|`` for Gaussian noise, so a stream is judged sensibly before it has shown its own tail.

    Examples
    --------
    >>> tail = ExceedanceTail()
    >>> u, beta = np.array([tail.u0]), np.array([tail.beta0])
    >>> rng = np.random.default_rng(1)
    >>> for z in np.abs(rng.standard_t(3, 3000)):       # heavy-tailed noise: the tail widens
    ...     tail.learn(np.array([z]), u, beta, np.array([True]))
    >>> bool(tail.p(np.array([6.0]), u, beta)[0] > tail.p(np.array([6.0]), *tail.start(1))[0])
    True
    """

    def __init__(
        self,
        q: float = 0.02,
        u0: float = 2.33,
        beta0: float = 0.45,
        step: float = 0.2,
        weight: float = 0.05,
        beta_range: tuple[float, float] = (0.2, 5.0),
    ):
        self.q, self.u0, self.beta0, self.step, self.weight = (
            float(q),
            float(u0),
            float(beta0),
            float(step),
            float(weight),
        )
        self.beta_range = (float(beta_range[0]), float(beta_range[1]))

    def start(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Initial (u, beta) arrays for ``n`` streams."""
        return np.full(n, self.u0), np.full(n, self.beta0)

    def p(self, x: np.ndarray, u: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Tail probability of ``x`` under the current (u, beta); capped at 1."""
        return np.minimum(self.q * np.exp(-(x - u) / beta), 1.0)

    def learn(self, x: np.ndarray, u: np.ndarray, beta: np.ndarray, mask: np.ndarray) -> None:
        """Move (u, beta) in place towards the readings ``x`` where ``mask`` (normal readings only)."""
        over = mask & (x > u)
        excess = np.where(over, x - u, 0.0)
        beta += np.where(over, self.weight * (excess - beta), 0.0)
        np.clip(beta, *self.beta_range, out=beta)
        u += np.where(mask, self.step * (over - self.q), 0.0)
