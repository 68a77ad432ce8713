"""Every streaming detector on a batch of rounds (a fleet polled every tick), whose grid is a
transposed view of the batch: the inputs stay untouched and the scores are those of the same
readings in any other arrival order or batch split."""

import copy

import numpy as np
import pytest

from faultline.detectors.streams import Grid
from tests.detectors.test_conformance import STREAMING

ROUND = np.array([7, 2, 11, 0, 5, 9, 3])


def fleet(rng, rounds=300):  # more than a tile of kernels.baseline_scan (128 readings per stream)
    stream = np.tile(ROUND, rounds)
    ts = (np.repeat(np.arange(rounds), len(ROUND)) * 60 + rng.integers(0, 5, len(stream))) * 10**9
    value = 5.0 + rng.normal(0, 0.3, len(stream))
    value[stream == 11] = 5 + np.linspace(0, 20, rounds)  # one stream climbs
    value[(stream == 3) & (np.arange(len(stream)) > len(stream) // 2)] = 4.0  # one freezes
    return stream, ts.astype(np.int64), value


@pytest.mark.parametrize("ordered", [False, True], ids=["round order", "ids ascending"])
@pytest.mark.parametrize("kind", sorted(STREAMING))
def test_rounds_score_as_any_other_arrival_order(kind, ordered):
    factory = STREAMING[kind][0]
    rng = np.random.default_rng(41)
    stream, ts, value = fleet(rng)
    if ordered:  # the same rounds, each listing the streams by id
        order = np.argsort(stream.reshape(-1, len(ROUND)), axis=1) + np.arange(0, len(stream), len(ROUND))[:, None]
        stream, ts, value = stream[order.ravel()], ts[order.ravel()], value[order.ravel()]
    assert Grid.of(stream).rounds
    before = copy.deepcopy((stream, ts, value))
    got = factory().update(stream, ts, value)
    for a, b in zip(before, (stream, ts, value)):
        np.testing.assert_array_equal(a, b)
    # each round listing the streams in its own order: not rounds any more, the same readings per stream
    shuffle = np.concatenate([i + rng.permutation(len(ROUND)) for i in range(0, len(stream), len(ROUND))])
    assert not Grid.of(stream[shuffle]).rounds
    np.testing.assert_array_equal(factory().update(stream[shuffle], ts[shuffle], value[shuffle]), got[shuffle])
    # one round per batch, and rounds in uneven batches
    for size in (len(ROUND), 5 * len(ROUND)):
        det = factory()
        parts = [
            det.update(stream[i : i + size], ts[i : i + size], value[i : i + size]) for i in range(0, len(stream), size)
        ]
        np.testing.assert_array_equal(np.concatenate(parts), got)
    # three rounds, then the rest in one batch (whose tiles then start mid-block)
    det, cut = factory(), 3 * len(ROUND)
    parts = [det.update(stream[:cut], ts[:cut], value[:cut]), det.update(stream[cut:], ts[cut:], value[cut:])]
    np.testing.assert_array_equal(np.concatenate(parts), got)
