"""Trend to limit: the forecast is right on known curves, and says how sure it is."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import TrendToLimit

H = 3_600_000_000_000


def forecast(det, hours, values):
    det.update(np.zeros(len(hours), int), (np.asarray(hours) * H).astype(np.int64), values)
    return [float(a[0]) for a in det.forecast(np.array([0]))]


@pytest.mark.parametrize("growth, curve, truth", [
    ("linear", lambda h: 60 + 0.5 * h, lambda h: (90 - (60 + 0.5 * h)) / 0.5),
    ("exponential", lambda h: 1.5 * np.exp(0.04 * h), lambda h: np.log(7.1 / (1.5 * np.exp(0.04 * h))) / 0.04),
])
def test_forecast_matches_the_curve_within_its_interval(growth, curve, truth):
    rng = np.random.default_rng(1)
    hours = np.arange(0, 20, 0.25)
    values = curve(hours) * (1 + rng.normal(0, 0.003, len(hours)))
    limit = 90.0 if growth == "linear" else 7.1
    eta, lo, hi = forecast(TrendToLimit(limit=limit, window=60, horizon_h=48, growth=growth), hours, values)
    expected = truth(hours[-1])
    assert lo < expected < hi
    assert eta == pytest.approx(expected, rel=0.05)


def test_noise_alone_gives_no_forecast():
    rng = np.random.default_rng(2)
    hours = np.arange(0, 30, 0.25)
    det = TrendToLimit(limit=90, window=60)
    s = det.update(np.zeros(len(hours), int), (hours * H).astype(np.int64), 60 + rng.normal(0, 1, len(hours)))
    assert (s < 1).all()
    eta = det.forecast(np.array([0]))[0][0]
    assert np.isinf(eta) or eta > 48


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="exponential"):
        TrendToLimit(limit=-1, growth="exponential")
    with pytest.raises(ValueError, match="every"):
        TrendToLimit(limit=90, every=0)
