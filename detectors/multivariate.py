"""Multivariate detectors over an asset's sensors, fitted on a healthy baseline of that asset.

Rows are instants, columns are the asset's sensors (aligned readings), shape ``(n_samples,
n_features)``. Each detector says how abnormal a row is *and* which sensor contributes most, because
"the asset looks odd" is no use to the engineer who has to go and look.
"""

from __future__ import annotations

import base64
import functools
import pickle
from typing import Any

import numpy as np
from scipy import signal, stats

__all__ = ["FOLLOW_BLOCK", "HotellingT2", "IsolationForestDetector", "LoadResidual", "ShrunkMahalanobis"]

#: Rows per step of a `LoadResidual` reference that follows the plant (``memory``): one hour at one
#: row per minute.
FOLLOW_BLOCK = 60


def _check_x(x: Any, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected shape (n_samples, n_features), got {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"fitted on {n_features} features, got {x.shape[1]}")
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"x[{r}, {c}] = {x[r, c]!r} is not finite")
    return x


class _Fitted:
    """Shared: refuse to score before ``fit``."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(healthy_baseline) first")


class HotellingT2(_Fitted):
    """Hotelling T² (squared Mahalanobis distance) from a robust healthy mean and covariance.

    Fitted with the Minimum Covariance Determinant (scikit-learn ``MinCovDet``), so a few bad rows
    in the baseline do not inflate it. Score ``T² / χ²_{p}(1 − alpha)``: 1.0 at the ``alpha``
    false-alarm level for Gaussian healthy data. ``contributions`` splits T² over the sensors as
    ``d_i · (Σ⁻¹ d)_i`` (they sum to T²).

    Parameters
    ----------
    alpha : float
        Per-row false-alarm probability that sets score 1.0.
    random_state : int
        Seed for MinCovDet's subsampling.

    Examples
    --------
    >>> rng = np.random.default_rng(8)
    >>> cov = [[1.0, 0.8], [0.8, 1.0]]               # vibration and current move together
    >>> healthy = rng.multivariate_normal([0, 0], cov, 500)
    >>> det = HotellingT2(alpha=0.001).fit(healthy)
    >>> odd = np.array([[0.0, 0.0], [2.0, -1.0]])    # each in range, but not together
    >>> (det.score(odd) >= 1).astype(int)
    array([0, 1])
    >>> det.top_feature(odd)[1]
    np.int64(0)
    """

    kind = "hotelling_t2"
    version = "1"

    def __init__(self, alpha: float = 0.001, random_state: int = 0):
        self.alpha, self.random_state = float(alpha), int(random_state)

    def fit(self, x: np.ndarray) -> "HotellingT2":
        from sklearn.covariance import MinCovDet  # imported when used: scikit-learn and pandas are ~90 MB

        x = _check_x(x)
        mcd = MinCovDet(random_state=self.random_state).fit(x)
        self.location_ = mcd.location_
        self.precision_ = np.linalg.pinv(mcd.covariance_)
        self.limit_ = float(stats.chi2.ppf(1.0 - self.alpha, x.shape[1]))
        self.n_features_in_ = x.shape[1]
        return self

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-sensor share of T², shape (n_samples, n_features)."""
        self._check_fitted()
        d = _check_x(x, self.n_features_in_) - self.location_
        return d * (d @ self.precision_)

    def score(self, x: np.ndarray) -> np.ndarray:
        """T² / limit, shape (n_samples,)."""
        return self.contributions(x).sum(axis=1) / self.limit_

    def top_feature(self, x: np.ndarray) -> np.ndarray:
        """Column index of the sensor most to blame in each row, shape (n_samples,).

        The sensor whose removal lowers T² most: its conditional T² given the other sensors,
        ``(Σ⁻¹ d)_i² / (Σ⁻¹)_ii`` (Mason, Tracy & Young 1995). Unlike the shares of
        ``contributions``, this is not smeared over sensors that are merely correlated with it.
        """
        self._check_fitted()
        w = (_check_x(x, self.n_features_in_) - self.location_) @ self.precision_
        return np.argmax(w * w / np.diag(self.precision_), axis=1)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": self.kind,
            "version": self.version,
            "params": {"alpha": self.alpha, "random_state": self.random_state},
            "state": {
                "location_": self.location_.tolist(),
                "precision_": self.precision_.tolist(),
                "limit_": self.limit_,
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HotellingT2":
        det = cls(**d["params"])
        det.location_ = np.asarray(d["state"]["location_"])
        det.precision_ = np.asarray(d["state"]["precision_"])
        det.limit_ = float(d["state"]["limit_"])
        det.n_features_in_ = len(det.location_)
        return det


class IsolationForestDetector(_Fitted):
    """Isolation forest (scikit-learn) fitted on a healthy baseline.

    Score: the larger of (a) the forest's anomaly score (``-score_samples``) divided by its
    ``quantile`` over the baseline, so 1.0 is as odd as the oddest ``1 − quantile`` of healthy rows,
    and (b) the largest robust z of any sensor against its baseline median and MAD, divided by
    ``z_limit``. Part (b) is there because a forest cannot isolate a point beyond the baseline's
    range faster than the baseline's own extreme points (its scores saturate), so one sensor far out
    of range would otherwise score below 1. The forest does not say which sensor is to blame;
    ``top_feature`` names the one with the largest robust z.

    Examples
    --------
    >>> rng = np.random.default_rng(9)
    >>> healthy = rng.normal(0, 1, (1000, 3))
    >>> det = IsolationForestDetector(random_state=0).fit(healthy)
    >>> odd = np.array([[0.0, 0.1, -0.2], [5.0, 5.5, 0.0]])
    >>> (det.score(odd) >= 1).astype(int)
    array([0, 1])
    """

    kind = "isolation_forest"
    version = "1"

    def __init__(self, n_estimators: int = 100, quantile: float = 0.99, z_limit: float = 6.0, random_state: int = 0):
        self.n_estimators, self.quantile, self.random_state = int(n_estimators), float(quantile), int(random_state)
        self.z_limit = float(z_limit)

    def fit(self, x: np.ndarray) -> "IsolationForestDetector":
        from sklearn.ensemble import IsolationForest  # imported when used (see HotellingT2.fit)

        x = _check_x(x)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state).fit(x)
        self.limit_ = float(np.quantile(-self.forest_.score_samples(x), self.quantile))
        self.median_ = np.median(x, axis=0)
        self.mad_ = np.maximum(np.median(np.abs(x - self.median_), axis=0), 1e-12)
        self.n_features_in_ = x.shape[1]
        return self

    def _robust_z(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x - self.median_) / (1.4826 * self.mad_)

    def score(self, x: np.ndarray) -> np.ndarray:
        """max(forest score / baseline quantile, largest robust z / z_limit), shape (n_samples,)."""
        self._check_fitted()
        x = _check_x(x, self.n_features_in_)
        return np.maximum(-self.forest_.score_samples(x) / self.limit_, self._robust_z(x).max(axis=1) / self.z_limit)

    def top_feature(self, x: np.ndarray) -> np.ndarray:
        """Column index of the sensor furthest from its baseline (robust z), shape (n_samples,)."""
        self._check_fitted()
        return np.argmax(self._robust_z(_check_x(x, self.n_features_in_)), axis=1)

    def to_dict(self) -> dict[str, Any]:
        """Parameters and the fitted forest (pickled, base64), for saving with the engine state."""
        self._check_fitted()
        learned = {k: v for k, v in vars(self).items() if k.endswith("_")}
        return {
            "kind": self.kind,
            "version": self.version,
            "params": {
                "n_estimators": self.n_estimators,
                "quantile": self.quantile,
                "z_limit": self.z_limit,
                "random_state": self.random_state,
            },
            "state": base64.b64encode(pickle.dumps(learned)).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IsolationForestDetector":
        det = cls(**d["params"])
        vars(det).update(pickle.loads(base64.b64decode(d["state"])))
        return det


class LoadResidual(_Fitted):
    """The first sensor, less what the load on the others explains; a slow offset of the rest.

    For a bearing temperature and a motor current: the temperature follows the load with a
    thermal lag, so the model is ``temp ≈ a + b·L + c·L²`` (``c`` with ``degree=2``) with ``L`` the load sensors passed
    through a first-order lag of ``lag_rows`` rows (EWMA). Fitted by least squares on the healthy
    baseline; then the residual is smoothed over about ``smooth_rows`` rows, which averages out a
    daily ambient swing, and the score is ``|smoothed residual − reference| / threshold``. A sensor
    that drifts, or a bearing that runs hotter than its load explains, shows as a growing residual.

    The reference is 0 (the baseline's mean residual) unless ``memory`` is set: then it follows the
    smoothed residual with that time constant, one block of ``FOLLOW_BLOCK`` rows at a time, but
    only through blocks whose every row scored below ``learn_below``. The ambient's slow changes
    (the seasons, a long warm spell), which the load cannot explain and no fault makes, are then
    followed, while a rise of more than about ``learn_below · threshold / memory`` per row gets
    past ``learn_below`` and stops the reference. The price: a sensor drifting slower than that
    is followed too.

    Rows must come in time order: the lag and the smoothing carry from one call to the next
    (``fit`` on the baseline rows, then ``score`` on each later batch of rows).

    Parameters
    ----------
    lag_rows : float
        Time constant of the lag, in rows (about the thermal time constant / row interval).
    smooth_rows : float
        Time constant of the residual's smoothing, in rows.
    threshold : float
        Smoothed residual (units of the first sensor) at which the score reaches 1.0.
    degree : {1, 2}
        Terms of the lagged load in the model; 1 extrapolates more safely past the load range the
        baseline saw.
    memory : float
        Time constant, in rows, of a reference that follows the residual; 0 keeps it at the
        baseline's (as in version 1).
    learn_below : float
        With ``memory``: a block of rows moves the reference only if all its scores stayed below this.

    Examples
    --------
    >>> rng = np.random.default_rng(13)
    >>> n = 6000
    >>> load = np.repeat(rng.choice([0.4, 0.8], n // 200), 200) * 50 + rng.normal(0, 0.5, n)
    >>> lagged = signal.lfilter([1 / 30], [1, 1 / 30 - 1], load, zi=[(1 - 1 / 30) * load[0]])[0]
    >>> temp = 25 + 0.6 * lagged + rng.normal(0, 0.3, n)
    >>> temp[3000:] += np.linspace(0, 8, 3000)                 # the sensor starts to drift
    >>> x = np.column_stack([temp, load])
    >>> det = LoadResidual(lag_rows=30, smooth_rows=300, threshold=2.0).fit(x[:1500])
    >>> s = det.score(x[1500:])
    >>> bool((s[:1500] < 1).all()), bool((s[-500:] >= 1).all())
    (True, True)

    With a reference that follows (``memory``), the warming of a plant room by 3 °C over 4,500 rows is
    followed, not alarmed, and the same drift of the sensor still is:

    >>> warm = x.copy()
    >>> warm[1500:, 0] = temp[1500:] - np.concatenate([np.zeros(1500), np.linspace(0, 8, 3000)])
    >>> warm[1500:, 0] += np.linspace(0, 3, 4500)
    >>> fixed = LoadResidual(lag_rows=30, smooth_rows=300, threshold=2.0).fit(x[:1500])
    >>> follows = LoadResidual(lag_rows=30, smooth_rows=300, threshold=2.0, memory=600).fit(x[:1500])
    >>> bool((fixed.score(warm[1500:]) >= 1).any()), bool((follows.score(warm[1500:]) >= 1).any())
    (True, False)
    >>> follows = LoadResidual(lag_rows=30, smooth_rows=300, threshold=2.0, memory=600).fit(x[:1500])
    >>> bool((follows.score(x[1500:])[-500:] >= 1).all())
    True
    """

    kind = "load_residual"
    version = "2"
    lag_: np.ndarray  # the load sensors' smoothed values after the last row; set by fit

    def __init__(
        self,
        lag_rows: float = 30.0,
        smooth_rows: float = 1440.0,
        threshold: float = 3.0,
        degree: int = 2,
        memory: float = 0.0,
        learn_below: float = 0.5,
    ):
        if lag_rows < 1 or smooth_rows < 1 or threshold <= 0 or degree not in (1, 2):
            raise ValueError(
                f"need lag_rows >= 1, smooth_rows >= 1, threshold > 0, degree 1 or 2; got "
                f"{lag_rows}, {smooth_rows}, {threshold}, {degree}"
            )
        if not (memory == 0 or memory >= FOLLOW_BLOCK) or learn_below <= 0:
            raise ValueError(
                f"need memory 0 or >= {FOLLOW_BLOCK} rows and learn_below > 0; got {memory}, {learn_below}"
            )
        self.lag_rows, self.smooth_rows, self.threshold = float(lag_rows), float(smooth_rows), float(threshold)
        self.degree = int(degree)
        self.memory, self.learn_below = float(memory), float(learn_below)

    @staticmethod
    def _ewma(x: np.ndarray, rows: float, start: np.ndarray) -> np.ndarray:
        a = 1.0 / rows
        return signal.lfilter([a], [1.0, a - 1.0], x, axis=0, zi=((1.0 - a) * start)[None, :])[0]

    def _design(self, x: np.ndarray) -> np.ndarray:
        lagged = self._ewma(x[:, 1:], self.lag_rows, self.lag_)
        self.lag_ = lagged[-1].copy()
        terms = [np.ones(len(x)), lagged] + ([lagged * lagged] if self.degree == 2 else [])
        return np.column_stack(terms)

    def fit(self, x: np.ndarray) -> "LoadResidual":
        x = _check_x(x)
        if x.shape[1] < 2:
            raise ValueError("needs the explained sensor and at least one load sensor")
        self.lag_ = x[0, 1:].copy()
        design = self._design(x)
        self.coef_, *_ = np.linalg.lstsq(design, x[:, 0], rcond=None)
        self.smoothed_ = np.zeros(1)
        self.level_ = np.zeros(1)  # the reference the smoothed residual is measured from
        self.block_ = np.zeros(2)  # rows into the current block, and 1 if one of them scored learn_below
        self.n_features_in_ = x.shape[1]
        return self

    def residual(self, x: np.ndarray) -> np.ndarray:
        """Smoothed residual of the first sensor less its reference, shape (n_samples,); advances the state.

        With ``memory``, the reference follows the smoothed residual one block of ``FOLLOW_BLOCK``
        rows at a time (``FOLLOW_BLOCK / memory`` of the way at each block's end) while every row of
        the block scored below ``learn_below``; otherwise it stands still, so a departure is not
        learnt. Blocks are counted across calls: the result does not depend on how rows are batched.
        """
        self._check_fitted()
        x = _check_x(x, self.n_features_in_)
        if not len(x):
            return np.zeros(0)
        raw = x[:, 0] - self._design(x) @ self.coef_
        smoothed = self._ewma(raw[:, None], self.smooth_rows, self.smoothed_)[:, 0]
        self.smoothed_ = smoothed[-1:].copy()
        if not self.memory:
            return smoothed - self.level_[0]
        out = np.empty(len(x))
        i = 0
        while i < len(x):
            j = min(len(x), i + FOLLOW_BLOCK - int(self.block_[0]))
            out[i:j] = smoothed[i:j] - self.level_[0]
            hot = bool(np.any(np.abs(out[i:j]) >= self.learn_below * self.threshold))
            self.block_ += (j - i, hot)
            if self.block_[0] == FOLLOW_BLOCK:
                if not self.block_[1]:
                    self.level_ += (smoothed[j - 1] - self.level_) * (FOLLOW_BLOCK / self.memory)
                self.block_[:] = 0.0
            i = j
        return out

    def score(self, x: np.ndarray) -> np.ndarray:
        """|smoothed residual less its reference| / threshold, shape (n_samples,); advances the state."""
        return np.abs(self.residual(x)) / self.threshold

    def top_feature(self, x: np.ndarray) -> np.ndarray:
        """Always the first sensor: it is the one that left what the load explains."""
        return np.zeros(len(x), dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": self.kind,
            "version": self.version,
            "params": {
                "lag_rows": self.lag_rows,
                "smooth_rows": self.smooth_rows,
                "threshold": self.threshold,
                "degree": self.degree,
                "memory": self.memory,
                "learn_below": self.learn_below,
            },
            "state": {
                "coef_": self.coef_.tolist(),
                "lag_": self.lag_.tolist(),
                "smoothed_": self.smoothed_.tolist(),
                "level_": self.level_.tolist(),
                "block_": self.block_.tolist(),
                "n_features_in_": self.n_features_in_,
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LoadResidual":
        det = cls(**d["params"])
        st = {"level_": [0.0], "block_": [0.0, 0.0], **d["state"]}  # version 1 had a fixed reference at 0
        det.coef_, det.lag_, det.smoothed_, det.level_, det.block_ = (
            np.asarray(st[k], dtype=np.float64) for k in ("coef_", "lag_", "smoothed_", "level_", "block_")
        )
        det.n_features_in_ = int(st["n_features_in_"])
        return det


def resolution(x: np.ndarray) -> np.ndarray:
    """Each column's smallest non-zero step between distinct values, shape (n_features,); 0 if constant.

    >>> resolution(np.array([[1.0, 0.5], [1.2, 0.5], [1.1, 0.5]]))
    array([0.1, 0. ])
    """
    out = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        steps = np.diff(np.unique(x[:, j]))
        steps = steps[steps > 1e-12 * (1.0 + np.abs(x[:, j]).max())]
        out[j] = steps.min() if len(steps) else 0.0
    return out


def _steady_trend(x: np.ndarray) -> np.ndarray:
    """Each column's slope per row where it moved steadily through ``x`` (else 0), shape (n_features,).

    Steadily: by least squares, the column moved across the rows by more than six times the robust
    scale of what the line leaves (a motor warming through a run); anything less is taken as level.

    >>> t = np.arange(200.0)
    >>> _steady_trend(np.column_stack([0.05 * t + np.sin(t), np.sin(t)])).round(3)
    array([0.05, 0.  ])
    """
    n = len(x)
    if n < 3:
        return np.zeros(x.shape[1])
    idx = np.arange(n) - (n - 1) / 2.0
    slope = idx @ (x - x.mean(axis=0)) / (idx @ idx)
    resid = x - x.mean(axis=0) - np.outer(idx, slope)
    scale = 1.4826 * np.median(np.abs(resid - np.median(resid, axis=0)), axis=0)
    steady = np.abs(slope) * (n - 1) > 6.0 * np.maximum(scale, 1e-12)
    return np.where(steady & np.isfinite(slope), slope, 0.0)


def _shrunk_covariance(d: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf shrunk covariance of centred rows ``d`` (n, p), shape (p, p).

    The sample covariance pulled towards a scaled identity by the weight that minimises the expected
    squared error (Ledoit & Wolf 2004, "A well-conditioned estimator for large-dimensional covariance
    matrices", lemmas 3.2-3.4). Written out because the model is refitted every few dozen rows and
    scikit-learn's estimator spends more on checking its input than on the arithmetic; the result is
    the same:

    >>> from sklearn.covariance import LedoitWolf
    >>> d = np.random.default_rng(3).normal(size=(150, 6)) @ np.triu(np.ones((6, 6)))
    >>> d -= d.mean(axis=0)
    >>> bool(np.allclose(_shrunk_covariance(d), LedoitWolf(assume_centered=True).fit(d).covariance_))
    True
    """
    n, p = d.shape
    s = d.T @ d / n
    mu = np.trace(s) / p
    target = s - mu * np.eye(p)
    delta2 = float((target * target).sum())
    sq = d * d
    # the mean over rows of ||x x' - S||², without forming an outer product per row
    beta2 = float(((sq.T @ sq).sum() / n - (s * s).sum()) / n)
    shrink = min(beta2, delta2) / delta2 if delta2 > 0 else 1.0
    return shrink * mu * np.eye(p) + (1.0 - shrink) * s


@functools.lru_cache(maxsize=64)
def _chi98(dof: int) -> float:
    return float(np.sqrt(stats.chi2.ppf(0.98, dof)))


def _distance_tail(d: np.ndarray, dof: int) -> tuple[float, float]:
    """(threshold, mean excess) of an exponential tail over the distances ``d`` of healthy rows.

    The threshold is their 98th percentile, never below the χ 98th percentile of Gaussian data with
    ``dof`` degrees of freedom; an exponential tail in the distance (not its square) is heavier than
    Gaussian data's and close to what heavy-tailed plant noise gives; its mean excess is never taken
    below 0.5.
    """
    u = float(max(np.quantile(d, 0.98), _chi98(max(dof, 1))))
    excess = d[d > u] - u
    return u, float(max(excess.mean() if len(excess) else 0.0, 0.5))


class ShrunkMahalanobis(_Fitted):
    """Mahalanobis distance with a Ledoit-Wolf shrunk covariance, on a calibrated scale.

    Built for short, real baselines: each sensor is first put in units of its robust scale (MAD,
    floored by its resolution — the smallest step it reports — and by a share of its standard
    deviation, so a quantised sensor that sat still through the baseline cannot make every later
    step look enormous); the covariance of those units is shrunk towards a scaled identity (Ledoit &
    Wolf 2004), which keeps it well conditioned with a few hundred rows of eight correlated sensors.

    The score is calibrated as every detector's is (`detectors.calibration`): the tail of the
    baseline's own distances above their 98th percentile (never below the χ 98th percentile of
    Gaussian data of the same dimension) is modelled as exponential, and a row's score is
    ``log(1/p) / log(1/alpha)``, with ``p`` its tail probability. The sensor most
    to blame is the one with the largest conditional T² (as `HotellingT2`).

    Parameters
    ----------
    alpha : float
        Tail probability at which the score is 1.0.

    Examples
    --------
    >>> rng = np.random.default_rng(8)
    >>> load = rng.normal(0, 1, 400)
    >>> healthy = np.column_stack([load + rng.normal(0, 0.2, 400), 2 * load + rng.normal(0, 0.3, 400)])
    >>> det = ShrunkMahalanobis().fit(np.round(healthy, 1))
    >>> odd = np.array([[0.5, 1.0], [1.5, -1.0]])     # each in range, but the relation is broken
    >>> (det.score(odd) >= 1).astype(int)
    array([0, 1])
    """

    kind = "mahalanobis"
    version = "2"

    def __init__(self, alpha: float = 1e-3):
        self.alpha = float(alpha)

    def fit(self, x: np.ndarray) -> "ShrunkMahalanobis":
        """Fit on healthy rows, shape (n_samples, n_features), in time order (oldest first)."""
        x = _check_x(x)
        self.trend_, self.horizon_ = _steady_trend(x), 4.0 * len(x)
        x = x - self.trend_ * np.arange(1 - len(x), 1)[:, None]  # as seen at the last row
        center = np.median(x, axis=0)
        mad = 1.4826 * np.median(np.abs(x - center), axis=0)
        self.center_ = center
        # a sensor that sat still through the baseline gets a scale of a thousandth of its level, not zero
        with np.errstate(over="ignore", invalid="ignore"):  # readings near 1e308: that sensor's scale is inf
            spread = 0.25 * x.std(axis=0)
        self.scale_ = np.maximum.reduce(
            [mad, resolution(x), np.nan_to_num(spread, nan=np.inf), 1e-3 * (1.0 + np.abs(center))]
        )
        u = (x - center) / self.scale_
        self.location_ = u.mean(axis=0)
        cov = _shrunk_covariance(u - self.location_)
        self.precision_ = np.linalg.pinv(cov, hermitian=True)
        # the learnt relations: directions of the sensors' correlation that carry at least twice an
        # average sensor's share of the variance are ways the sensors move together (a load, a set
        # point); sampling noise alone rarely makes a direction that strong
        sd = np.sqrt(np.maximum(np.diag(cov), 1e-12))
        lam, vec = np.linalg.eigh(cov / np.outer(sd, sd))
        self.relations_, self.relations_sd_ = vec[:, lam >= 2.0], sd
        p = x.shape[1]
        self.u_, self.beta_ = _distance_tail(np.sqrt(self._d2(u)), p)
        self.n_features_in_ = p
        return self

    def shift(self, x: np.ndarray, ahead: int | None = None) -> np.ndarray:
        """How far the mean of the rows sits from the fit, per sensor in robust scales, shape (n_features,)."""
        return self._units(x, ahead).mean(axis=0) - self.location_

    def new_operating_point(self, x: np.ndarray, ahead: int | None = None) -> bool:
        """Do the rows of a sustained departure look like a new operating point, not a fault?

        Yes when at least two sensors moved (their mean moved by more than three robust scales) and
        at least 80% of the move (squared, in units of each sensor's spread) lies along the learnt
        relations (directions of the sensors' correlation that carry at least twice an average
        sensor's share of its variance: where the sensors were seen to move together): the sensors moved together,
        the way they were seen to. A single sensor that moved, sensors that moved against their
        relations, or any move of sensors that showed no relation while the model learnt, is not.
        """
        move = self.shift(x, ahead)
        moved = int((np.abs(move) > 3.0).sum())
        move = move / self.relations_sd_
        along = move @ self.relations_
        return moved >= 2 and float(along @ along) >= 0.8 * float(move @ move)

    def _d2(self, u: np.ndarray) -> np.ndarray:
        d = u - self.location_
        return np.einsum("ij,ij->i", d @ self.precision_, d)

    def _units(self, x: np.ndarray, ahead: int | None = None) -> np.ndarray:
        self._check_fitted()
        x = _check_x(x, self.n_features_in_)
        if ahead is None:  # each row as if it came right after the fit
            return (x - self.center_ - self.trend_) / self.scale_
        steps = np.minimum(ahead + np.arange(1, len(x) + 1), self.horizon_)[:, None]
        return (x - self.center_ - self.trend_ * steps) / self.scale_

    def score(self, x: np.ndarray, ahead: int | None = None) -> np.ndarray:
        """Calibrated score, shape (n_samples,): 1.0 at tail probability ``alpha``.

        ``ahead``: rows between the last row of the fit and the first of ``x`` (the rows follow in
        time order): a sensor that was moving steadily through the fit (a motor warming up) is
        expected to carry on, for up to four times the rows of the fit. None: every row is judged as
        if it came right after the fit, so rows score the same in any order or batch.
        """
        d = np.sqrt(self._d2(self._units(x, ahead)))
        log_p = np.log(0.02) - (d - self.u_) / self.beta_
        return np.maximum(-log_p, 0.0) / -np.log(self.alpha)

    def top_feature(self, x: np.ndarray, ahead: int | None = None) -> np.ndarray:
        """Column index of the sensor most to blame (largest conditional T²), shape (n_samples,)."""
        w = (self._units(x, ahead) - self.location_) @ self.precision_
        return np.argmax(w * w / np.diag(self.precision_), axis=1)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": self.kind,
            "version": self.version,
            "params": {"alpha": self.alpha},
            "state": {
                k: np.asarray(getattr(self, k)).tolist()
                for k in (
                    "center_",
                    "scale_",
                    "location_",
                    "precision_",
                    "u_",
                    "beta_",
                    "relations_",
                    "relations_sd_",
                    "trend_",
                    "horizon_",
                )
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ShrunkMahalanobis":
        det = cls(**d["params"])
        for k, v in d["state"].items():
            setattr(det, k, np.asarray(v, dtype=np.float64) if isinstance(v, list) else float(v))
        det.n_features_in_ = len(det.center_)
        return det
