"""The sorted-window median and MAD pick exactly the order statistics of the plain NaN-aware median."""

import numpy as np
import pytest

from faultline.detectors.robust import RobustZ, median_mad_sorted, nan_median


@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_median_mad_sorted_matches_nan_median_bit_for_bit(kind):
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(3, 70))
        w = rng.normal(size=(40, n)) if kind == "normal" else rng.integers(0, 4, size=(40, n)).astype(float)
        m = rng.integers(0, n + 1, 40)
        w[np.arange(n)[None, :] < (n - m)[:, None]] = np.nan  # history is NaN-padded at the front
        med, mad = median_mad_sorted(np.sort(w, axis=-1), m)
        expect_med = nan_median(w)
        assert np.array_equal(med, expect_med, equal_nan=True)
        assert np.array_equal(mad, nan_median(np.abs(w - expect_med[:, None])), equal_nan=True)
        full = w[m == n]
        med, mad = median_mad_sorted(np.sort(full, axis=-1))
        assert np.array_equal(med, nan_median(full))
        assert np.array_equal(mad, nan_median(np.abs(full - nan_median(full)[:, None])))


@pytest.mark.parametrize("kind", ["normal", "few values", "huge offset", "tiny values", "skewed"])
def test_median_mad_bisection_is_exact_on_awkward_windows(kind):
    """Ties, rounding at a large offset, denormal deviations and skew: still nan_median's bits."""
    rng = np.random.default_rng(len(kind))
    for _ in range(300):
        n = int(rng.integers(1, 80))
        shape = (25, n)
        w = {
            "normal": lambda shape=shape: rng.normal(size=shape),
            "few values": lambda shape=shape: rng.integers(0, 3, size=shape).astype(float),
            "huge offset": lambda shape=shape: 1e16 + rng.integers(0, 5, size=shape) * 2.0,
            "tiny values": lambda shape=shape: np.where(
                rng.random(shape) < 0.6, 5e-310, rng.normal(size=shape) * 1e-300
            ),
            "skewed": lambda shape=shape: rng.exponential(size=shape) ** 4,
        }[kind]()
        m = rng.integers(0, n + 1, 25)
        w[np.arange(n)[None, :] < (n - m)[:, None]] = np.nan
        med, mad = median_mad_sorted(np.sort(w, axis=-1), m)
        expect_med = nan_median(w)
        assert np.array_equal(med, expect_med, equal_nan=True)
        assert np.array_equal(mad, nan_median(np.abs(w - expect_med[:, None])), equal_nan=True)


@pytest.mark.parametrize("window, min_periods, direction", [(60, 10, "both"), (7, 1, "up"), (150, 30, "down")])
def test_scores_are_the_plain_median_and_mad_of_the_previous_readings(window, min_periods, direction):
    rng = np.random.default_rng(window)
    n_streams, per = 7, 2 * window + 13
    values = np.round(rng.normal(20, 2, (n_streams, per)), 1)  # rounded: many ties
    values[:, ::22] += 9.0
    values[:, 11::22] -= 9.0
    stream = np.tile(np.arange(n_streams), per)
    flat = values.T.ravel()
    det = RobustZ(
        window=window, threshold=4.0, min_periods=min_periods, direction=direction, resolution_floor=0, noise_floor=0
    )
    got = det.update(stream, np.arange(len(flat)), flat)
    expect = np.zeros((n_streams, per))
    for s in range(n_streams):
        for i in range(min_periods, per):
            prev = values[s, max(0, i - window) : i]
            med = nan_median(prev[None, :])[0]
            mad = nan_median(np.abs(prev - med)[None, :])[0]
            z = (values[s, i] - med) / max(1.4826 * mad, 1e-6)
            z = {"both": abs(z), "up": z, "down": -z}[direction]
            expect[s, i] = max(z, 0.0) / 4.0
    np.testing.assert_array_equal(got, expect.T.ravel())
    assert (got >= 1).any()


def floored_reference(values, window, min_periods, threshold, noise_memory, noise_floor=0.5, min_scale=1e-6):
    """Robust z of one stream, reading by reading, with the resolution and long-run-noise floors."""
    out, resolution, noise = [], np.inf, np.nan
    a = 1.0 / noise_memory
    for i, x in enumerate(values):
        if i:
            step = abs(x - values[i - 1])
            if step > 0:
                resolution = min(resolution, step)
        prev = values[max(0, i - window) : i]
        if len(prev) < min_periods:
            out.append(0.0)
            continue
        med = nan_median(prev[None, :])[0]
        sigma = 1.4826 * nan_median(np.abs(prev - med)[None, :])[0]
        noise = sigma if np.isnan(noise) else a * sigma + (1 - a) * noise
        floor = max(min_scale, resolution if np.isfinite(resolution) else 0.0, noise_floor * noise)
        out.append(abs(x - med) / max(sigma, floor) / threshold)
    return np.array(out)


@pytest.mark.parametrize("cuts", [[], [1, 2, 3, 40, 41], [15, 300, 301, 302]])
def test_a_quantised_sensor_is_floored_at_its_resolution_and_long_run_noise(cuts):
    rng = np.random.default_rng(5)
    flat = np.round(50 + np.cumsum(rng.normal(0, 0.03, 600)), 1)  # 0.1 steps, MAD often 0
    noisy = rng.normal(50, 1.0, 600)
    noisy[200:260] = 50.0 + rng.normal(0, 0.01, 60)  # a quiet spell
    stream = np.tile([0, 1], 600)
    values = np.stack([flat, noisy], axis=1).ravel()
    det = RobustZ(window=30, threshold=6.0, min_periods=5, noise_memory=50)
    got = np.concatenate(
        [det.update(s, np.arange(len(s)), v) for s, v in zip(np.split(stream, cuts), np.split(values, cuts))]
    )
    for k, series in enumerate((flat, noisy)):
        expect = floored_reference(series, 30, 5, 6.0, 50)
        np.testing.assert_allclose(got[k::2], expect, rtol=1e-12, atol=1e-15)
    plain = RobustZ(window=30, threshold=6.0, min_periods=5, resolution_floor=0, noise_floor=0)
    unfloored = plain.update(stream, np.arange(len(stream)), values)
    assert (unfloored[0::2] >= 1).sum() > 50 and (got[0::2] >= 1).sum() == 0  # one count is not a spike
    assert (unfloored[1::2][200:280] >= 1).sum() > (got[1::2][200:280] >= 1).sum()
    same = unfloored == got  # where no floor binds: same bits
    assert same[1::2].mean() > 0.5


def test_floors_leave_the_scores_of_a_noisy_sensor_bit_for_bit():
    rng = np.random.default_rng(9)
    values = rng.normal(20, 2, (5, 400))
    stream = np.tile(np.arange(5), 400)
    flat = values.T.ravel()
    floored = RobustZ(window=60, min_periods=10).update(stream, np.arange(len(flat)), flat)
    plain = RobustZ(window=60, min_periods=10, resolution_floor=0, noise_floor=0).update(
        stream, np.arange(len(flat)), flat
    )
    assert (floored == plain).mean() > 0.99
