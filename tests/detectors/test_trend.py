"""Trend to limit: the forecast is right on known curves, and says how sure it is."""

from __future__ import annotations

import numpy as np
import pytest

from faultline.detectors import TrendToLimit

H = 3_600_000_000_000


def forecast(det, hours, values):
    det.update(np.zeros(len(hours), int), (np.asarray(hours) * H).astype(np.int64), values)
    return [float(a[0]) for a in det.forecast(np.array([0]))]


@pytest.mark.parametrize(
    "growth, curve, truth",
    [
        ("linear", lambda h: 60 + 0.5 * h, lambda h: (90 - (60 + 0.5 * h)) / 0.5),
        ("exponential", lambda h: 1.5 * np.exp(0.04 * h), lambda h: np.log(7.1 / (1.5 * np.exp(0.04 * h))) / 0.04),
    ],
)
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


def _reference_fit(t_ns, v, limit, horizon_h, min_points, z):
    """The textbook least-squares fit over one window (centred sums): the score it implies."""
    t = (t_ns - t_ns[-1]) / H
    n = len(v)
    if n < min_points:
        return 0.0
    dt, dv = t - t.mean(), v - v.mean()
    sxx = (dt * dt).sum()
    if sxx <= 0:
        return 0.0
    slope = (dt * dv).sum() / sxx
    level = v.mean() - slope * t.mean()
    se = np.sqrt(((dv - slope * dt) ** 2).sum() / max(n - 2, 1) / sxx)
    if level >= limit:
        return 100.0
    if slope > z * se:
        return horizon_h / max(max(limit - level, 0.0) / slope, horizon_h / 100)
    return 0.0


@pytest.mark.parametrize("window, offset", [(7, 0.0), (60, 1e4), (200, -3.0)])
def test_scores_match_a_textbook_fit_of_each_window(window, offset):
    """Running sums per block give the fit of each window, partial windows at a stream's start included."""
    rng = np.random.default_rng(window)
    n_streams, per = 5, 3 * window + 11
    hours = np.cumsum(rng.uniform(0.01, 0.3, (n_streams, per)), axis=1)
    values = offset + 60 + 0.8 * hours * (np.arange(n_streams)[:, None] % 3) + rng.normal(0, 0.5, (n_streams, per))
    ts = (hours * H).astype(np.int64)
    stream = np.repeat(np.arange(n_streams), per)
    order = np.argsort(ts.ravel(), kind="stable")
    limit = offset + 90
    det = TrendToLimit(limit=limit, horizon_h=24, window=window, min_points=5)
    got = det.update(stream[order], ts.ravel()[order], values.ravel()[order])
    expect = np.empty(n_streams * per)
    for s in range(n_streams):
        for i in range(per):
            lo = max(0, i - window + 1)
            expect[s * per + i] = _reference_fit(ts[s, lo : i + 1], values[s, lo : i + 1], limit, 24, 5, 2.0)
    assert np.allclose(got, expect[order], rtol=1e-7, atol=1e-9)
    assert (got > 0).any() and (got == 0).any()


@pytest.mark.parametrize("growth, every", [("linear", 1), ("linear", 3), ("exponential", 1)])
def test_every_path_gives_the_same_bits(growth, every):
    """Whole batch (running sums over blocks), a few readings per stream (window by window) and one
    reading per call (from the ring) agree bit for bit, whatever the values' scale."""
    rng = np.random.default_rng(4)
    n_streams, per, window = 6, 170, 40
    ts = np.cumsum(rng.integers(1, 10**12, (n_streams, per)), axis=1) + 1_700_000_000 * 10**9
    scale = 10.0 ** rng.integers(-6, 7, (n_streams, 1))
    values = scale * (3 + np.cumsum(rng.normal(0.01, 0.1, (n_streams, per)), axis=1))
    values[:, ::17] *= -1  # left out of an exponential fit
    stream = np.repeat(np.arange(n_streams), per)
    order = np.argsort(ts.ravel(), kind="stable")
    s, t, v = stream[order], ts.ravel()[order], values.ravel()[order]

    def make():
        return TrendToLimit(limit=1e9, horizon_h=1e6, window=window, min_points=3, every=every, growth=growth)

    whole = make()
    scores = whole.update(s, t, v)
    extras = whole.last_extras_["hours_to_limit"]
    assert (scores > 0).any()
    for size in (1, 2, 5, 50):  # 2 and 5 per batch: window by window
        det = make()
        parts = [
            (det.update(s[i : i + size], t[i : i + size], v[i : i + size]), det.last_extras_["hours_to_limit"])
            for i in range(0, len(s), size)
        ]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), scores)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), extras)
    # two readings of every stream per batch (with every=3 most streams need one fit: window by window)
    det, pos = make(), np.argsort(s, kind="stable").reshape(n_streams, per)
    for i in range(0, per, 2):
        idx = np.sort(pos[:, i : i + 2].ravel())
        np.testing.assert_array_equal(det.update(s[idx], t[idx], v[idx]), scores[idx])


def test_readings_at_one_instant_give_no_forecast():
    det = TrendToLimit(limit=90, window=20, min_points=3)
    s = det.update(np.zeros(30, int), np.full(30, 5 * H), np.linspace(60, 89, 30))
    assert (s == 0).all() and np.isinf(det.forecast(np.array([0]))[0]).all()
