"""One conformance test, parametrised over every detector: the promises the package makes.

Shapes; no mutation of inputs or parameters; the same scores whether the data comes in one batch or
many; state saved and restored mid-stream; a higher score on an injected fault than on healthy data.
A seeded generator interleaves several streams and injects a labelled fault into one of them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import faultline.detectors as detectors
from scipy import signal

from faultline.detectors import (
    AdaptiveDrift,
    AdaptiveLevel,
    Cusum,
    EnvelopeCusum,
    Ewma,
    HotellingT2,
    IsolationForestDetector,
    IsoZones,
    LoadResidual,
    NoData,
    OutOfRange,
    RobustZ,
    ShrunkMahalanobis,
    StaticLimit,
    StreamingDetector,
    SpikeBursts,
    StuckSensor,
    TrendToLimit,
)
from faultline.detectors.config import DETECTORS

N_STREAMS, N_PER_STREAM, FAULTY, FAULT_AT = 4, 500, 2, 380
MINUTE_NS = 60 * 10**9


@dataclass
class Batch:
    stream: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    fault: np.ndarray  # bool, shape (n,): the reading is part of the injected fault


def make_batch(
    seed: int,
    inject: Callable[[np.ndarray, np.ndarray, np.random.Generator], None],
    level: float = 5.0,
    noise: float = 0.3,
) -> Batch:
    """Interleaved streams (arrival order by time), readings about a minute apart; stream FAULTY faulted."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(55, 66, (N_STREAMS, N_PER_STREAM)), axis=1) * 10**9
    values = level + rng.normal(0, noise, (N_STREAMS, N_PER_STREAM))
    inject(ts[FAULTY], values[FAULTY], rng)
    fault = np.zeros((N_STREAMS, N_PER_STREAM), dtype=bool)
    fault[FAULTY, FAULT_AT:] = True
    stream = np.repeat(np.arange(N_STREAMS), N_PER_STREAM)
    order = np.argsort(ts.ravel(), kind="stable")
    return Batch(stream[order], ts.ravel()[order], values.ravel()[order], fault.ravel()[order])


def step(size):
    def inject(ts, v, rng):
        v[FAULT_AT:] += size

    return inject


def spikes(ts, v, rng):
    v[FAULT_AT::10] += 6.0


def ramp(ts, v, rng):
    v[FAULT_AT:] += 0.05 * np.arange(N_PER_STREAM - FAULT_AT)


def gap(ts, v, rng):
    ts[FAULT_AT:] += 40 * MINUTE_NS


def frozen(ts, v, rng):
    v[FAULT_AT:] = v[FAULT_AT]


STREAMING = {
    "static_limit": (lambda: StaticLimit(high=10.0), step(8.0)),
    "iso_zones": (lambda: IsoZones(ab=5.6, bc=7.0, cd=9.0), step(4.0)),
    "robust_z": (lambda: RobustZ(window=30, threshold=6, min_periods=10), spikes),
    "spike_bursts": (lambda: SpikeBursts(window=30, threshold=6, min_periods=10, spikes=3, within_h=1.0), spikes),
    "ewma": (lambda: Ewma(alpha=0.1, limit_sigmas=4, warmup=100), step(1.0)),
    "cusum": (lambda: Cusum(k=0.5, h=10, warmup=100, clip=4.0), step(0.6)),
    "envelope_cusum": (lambda: EnvelopeCusum(k=0.5, h=10, warmup=100, clip=4.0), step(0.6)),
    "trend_to_limit": (lambda: TrendToLimit(limit=20.0, horizon_h=12, window=60, min_points=20), ramp),
    "trend_to_limit, refit every 7th": (
        lambda: TrendToLimit(limit=20.0, horizon_h=12, window=60, min_points=20, every=7),
        ramp,
    ),
    "trend_to_limit, exponential": (
        lambda: TrendToLimit(limit=20.0, horizon_h=12, window=60, min_points=20, growth="exponential"),
        ramp,
    ),
    "no_data": (lambda: NoData(max_gap_s=600), gap),
    "stuck_sensor": (lambda: StuckSensor(window=20), frozen),
    "out_of_range": (lambda: OutOfRange(low=0.0, high=10.0), step(-8.0)),  # a transmitter loop goes open
    "adaptive_level": (lambda: AdaptiveLevel(alpha=1e-5), step(3.0)),
    "adaptive_drift": (lambda: AdaptiveDrift(alpha=1e-4), ramp),
}


def test_every_detector_is_covered():
    """A new detector cannot skip the conformance checks."""
    exported = {getattr(detectors, n) for n in detectors.__all__}
    streaming = {
        c.kind
        for c in exported
        if isinstance(c, type) and issubclass(c, StreamingDetector) and c.kind and c.kind != "alert_rule"
    }
    assert streaming | set(DETECTORS) <= set(STREAMING)
    fitted = {c for c in exported if isinstance(c, type) and hasattr(c, "fit") and hasattr(c, "top_feature")}
    assert fitted == {HotellingT2, IsolationForestDetector, LoadResidual, ShrunkMahalanobis}
    assert {c.kind for c in fitted} == set(MULTIVARIATE)


@pytest.mark.parametrize("kind", sorted(STREAMING))
def test_streaming_detector_conformance(kind):
    factory, inject = STREAMING[kind]
    b = make_batch(seed=11, inject=inject)
    before = copy.deepcopy((b.stream, b.ts, b.value))

    det = factory()
    params = copy.deepcopy(det.params())
    whole = det.update(b.stream, b.ts, b.value)

    # shapes and types
    assert whole.shape == b.value.shape and whole.dtype == np.float64 and np.isfinite(whole).all()
    # inputs and parameters untouched
    for a, c in zip(before, (b.stream, b.ts, b.value)):
        np.testing.assert_array_equal(a, c)
    assert det.params() == params

    # batch-split invariance: bit-for-bit, for several random splits
    rng = np.random.default_rng(5)
    live_like = np.arange(3, len(b.ts), 3)  # a few readings per batch, mostly one per stream
    for cuts in [live_like] + [
        np.sort(rng.choice(np.arange(1, len(b.ts)), size=rng.integers(2, 30), replace=False)) for _ in range(3)
    ]:
        split_det = factory()
        parts = [
            split_det.update(s, t, v)
            for s, t, v in zip(np.split(b.stream, cuts), np.split(b.ts, cuts), np.split(b.value, cuts))
        ]
        np.testing.assert_array_equal(np.concatenate(parts), whole)

    # state round trip across a "restart" (through JSON, as the service stores it)
    half = len(b.ts) // 2
    first = factory()
    s1 = first.update(b.stream[:half], b.ts[:half], b.value[:half])
    resumed = type(first).from_dict(json.loads(json.dumps(first.to_dict())))
    s2 = resumed.update(b.stream[half:], b.ts[half:], b.value[half:])
    np.testing.assert_array_equal(np.concatenate([s1, s2]), whole)

    # higher = more abnormal: the fault reaches the alarm level, healthy streams do not
    healthy = b.stream != FAULTY
    assert whole[b.fault].max() >= 1.0
    assert whole[healthy].max() < 1.0
    assert whole[b.fault].mean() > whole[healthy].mean()


def test_streaming_detector_rejects_bad_input():
    det = Cusum()
    with pytest.raises(ValueError, match=r"value\[1\] = nan"):
        det.update(np.array([0, 0]), np.array([0, 1]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="stream ids"):
        det.update(np.array([-1]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="kind"):
        Ewma.from_dict(det.to_dict())


def iid_case(rng):
    """Rows of three correlated sensors; the fault moves sensor 2 far out."""
    cov = [[1.0, 0.7, 0.0], [0.7, 1.0, 0.3], [0.0, 0.3, 1.0]]
    healthy = rng.multivariate_normal([0, 0, 0], cov, 800)
    test = rng.multivariate_normal([0, 0, 0], cov, 300)
    fault = test[:20].copy()
    fault[:, 2] += 9.0
    return healthy, test, fault, 2


def load_case(rng):
    """A temperature that follows a lagged load; the fault is the temperature drifting off it."""
    n = 4000
    load = np.repeat(rng.choice([0.5, 0.9], n // 100), 100) * 40 + rng.normal(0, 0.5, n)
    a = 1 / 20
    lagged = signal.lfilter([a], [1, a - 1], load, zi=[(1 - a) * load[0]])[0]
    temp = 30 + 0.5 * lagged + rng.normal(0, 0.2, n)
    x = np.column_stack([temp, load])
    fault = x[3600:].copy()
    fault[:, 0] += 3.0  # the sensor reads 3 °C high from here on
    return x[:1500], x[1500:3600], fault, 0


MULTIVARIATE = {
    "hotelling_t2": (lambda: HotellingT2(alpha=0.001), iid_case),
    "isolation_forest": (lambda: IsolationForestDetector(n_estimators=50, random_state=0), iid_case),
    "load_residual": (lambda: LoadResidual(lag_rows=20, smooth_rows=50, threshold=1.0), load_case),
    "mahalanobis": (lambda: ShrunkMahalanobis(), iid_case),
}


@pytest.mark.parametrize("kind", sorted(MULTIVARIATE))
def test_multivariate_detector_conformance(kind):
    """Stateless models score rows independently; LoadResidual carries a lag from row to row, so
    every scoring pass starts from a copy of the freshly fitted model."""
    factory, case = MULTIVARIATE[kind]
    healthy, test, fault, culprit = case(np.random.default_rng(12))
    det = factory()
    with pytest.raises(RuntimeError, match="not fitted"):
        det.score(test)
    before = healthy.copy()
    assert det.fit(healthy) is det
    np.testing.assert_array_equal(healthy, before)

    x = np.vstack([test, fault])
    s = copy.deepcopy(det).score(x)
    assert s.shape == (len(x),) and np.isfinite(s).all()
    split = copy.deepcopy(det)
    np.testing.assert_array_equal(np.concatenate([split.score(x[:123]), split.score(x[123:])]), s)
    again = type(det).from_dict(json.loads(json.dumps(det.to_dict())))
    np.testing.assert_array_equal(again.score(x), s)

    assert (s[len(test) + len(fault) // 2 :] >= 1).all()
    assert (s[: len(test)] >= 1).mean() <= 0.03
    assert (det.top_feature(fault) == culprit).all()
    with pytest.raises(ValueError, match="fitted on"):
        copy.deepcopy(det).score(x[:, :1])


def test_load_residual_reference_that_follows_is_split_and_restart_invariant():
    """With ``memory`` the reference moves one block at a time, counted across calls: any split of the
    rows and a save/restore mid-block give the same bits, and a departure stops it following."""
    healthy, test, fault, _ = load_case(np.random.default_rng(12))
    det = LoadResidual(lag_rows=20, smooth_rows=50, threshold=1.0, memory=600, learn_below=0.5).fit(healthy)
    x = np.vstack([test, fault])
    x[: len(test), 0] += np.linspace(0, 1.4, len(test))  # a slow warming: followed, not alarmed
    s = copy.deepcopy(det).score(x)
    for cut in (1, 59, 61, 123, 1000):
        split = copy.deepcopy(det)
        head = split.score(x[:cut])
        again = type(det).from_dict(json.loads(json.dumps(split.to_dict())))
        np.testing.assert_array_equal(np.concatenate([head, again.score(x[cut:])]), s)
    assert (s[: len(test)] < 1).all()
    assert (s[len(test) + len(fault) // 2 :] >= 1).all()
    fixed = LoadResidual(lag_rows=20, smooth_rows=50, threshold=1.0).fit(healthy)
    assert (fixed.score(x[: len(test)]) >= 1).any()  # a reference fixed at the fit alarms on the warming
