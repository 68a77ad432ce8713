"""The sorted-window median and MAD pick exactly the order statistics of the plain NaN-aware median."""

import numpy as np
import pytest

from detectors.robust import median_mad_sorted, nan_median


@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_median_mad_sorted_matches_nan_median_bit_for_bit(kind):
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(3, 70))
        w = rng.normal(size=(40, n)) if kind == "normal" else rng.integers(0, 4, size=(40, n)).astype(float)
        m = rng.integers(0, n + 1, 40)
        w[np.arange(n)[None, :] < (n - m)[:, None]] = np.nan      # history is NaN-padded at the front
        med, mad = median_mad_sorted(np.sort(w, axis=-1), m)
        expect_med = nan_median(w)
        assert np.array_equal(med, expect_med, equal_nan=True)
        assert np.array_equal(mad, nan_median(np.abs(w - expect_med[:, None])), equal_nan=True)
        full = w[m == n]
        med, mad = median_mad_sorted(np.sort(full, axis=-1))
        assert np.array_equal(med, nan_median(full))
        assert np.array_equal(mad, nan_median(np.abs(full - nan_median(full)[:, None])))
