"""EWMA and CUSUM: a grid of many streams steps through its columns, a grid of few runs along its
rows; both must give the same bits, and the same scores as a reading-by-reading loop."""

import math

import numpy as np
import pytest

from detectors import Cusum, Ewma
from detectors.drift import _WIDE

S = 10**9
N_STREAMS = _WIDE + 44


def fleet(rng, rounds=60, ragged=False):
    """Rounds of N_STREAMS streams (some with a step), optionally with readings dropped."""
    stream = np.tile(np.arange(N_STREAMS), rounds)
    value = 20 + rng.normal(0, 1, len(stream)) + np.where((stream % 5 == 0) & (np.arange(len(stream)) > len(stream) // 2),
                                                          2.5, 0.0)
    keep = rng.random(len(stream)) > (0.3 if ragged else 0.0)
    return stream[keep], np.arange(keep.sum()) * S, value[keep]


def ewma_loop(stream, value, alpha, limit_sigmas, warmup, min_std):
    state, z, out = {}, {}, []
    for s, v in zip(stream.tolist(), value.tolist()):
        n, total, total_sq = state.get(s, (0, 0.0, 0.0))
        if n < warmup:
            total, total_sq = total + v, total_sq + v * v
        n += 1
        state[s] = (n, total, total_sq)
        k = min(n, warmup)
        mean = total / k
        std = max(math.sqrt(max((total_sq - k * mean * mean) / max(k - 1, 1), 0.0)), min_std)
        z[s] = v if s not in z else alpha * v + (1 - alpha) * z[s]
        out.append(abs(z[s] - mean) / (limit_sigmas * std * math.sqrt(alpha / (2 - alpha))) if n > warmup else 0.0)
    return np.array(out)


FACTORIES = {
    "ewma": lambda: Ewma(alpha=0.1, limit_sigmas=3.0, warmup=15),
    "cusum both": lambda: Cusum(k=0.5, h=5.0, warmup=15),
    "cusum up, clipped": lambda: Cusum(k=0.5, h=5.0, warmup=15, direction="up", clip=3.0),
    "cusum down": lambda: Cusum(k=0.25, h=5.0, warmup=15, direction="down"),
}


@pytest.mark.parametrize("ragged", [False, True], ids=["full rows", "ragged rows"])
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_many_streams_at_once_equal_few_streams_at_a_time(kind, ragged):
    stream, ts, value = fleet(np.random.default_rng(31), ragged=ragged)
    factory = FACTORIES[kind]
    whole = factory().update(stream, ts, value)            # N_STREAMS rows: the column path
    assert (whole >= 1).any() and (whole == 0).any()
    few = np.empty_like(whole)
    det = factory()
    for first in range(0, N_STREAMS, 40):                   # 40 rows at a time: along the rows
        mine = (stream >= first) & (stream < first + 40)
        few[mine] = det.update(stream[mine], ts[mine], value[mine])
    np.testing.assert_array_equal(whole, few)
    # and split into batches mid-warm-up and mid-drift, each batch wide again
    det = factory()
    cuts = [N_STREAMS * 7 + 3, N_STREAMS * 30 + 100, len(ts) - 500]
    parts = [det.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_ewma_on_many_streams_agrees_with_a_reading_by_reading_loop():
    stream, ts, value = fleet(np.random.default_rng(32))
    got = Ewma(alpha=0.1, limit_sigmas=3.0, warmup=15).update(stream, ts, value)
    np.testing.assert_allclose(got, ewma_loop(stream, value, 0.1, 3.0, 15, 1e-6), rtol=1e-9, atol=1e-12)
