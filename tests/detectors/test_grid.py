"""The batch grid: each row holds one stream's readings in arrival order, whichever path built it."""

import numpy as np
import pytest

from detectors.streams import Grid


def batches():
    rng = np.random.default_rng(21)
    yield "interleaved, full rows", np.tile(np.arange(7), 5)
    yield "sorted, full rows", np.repeat(np.arange(7), 5)
    yield "sorted, ragged", np.repeat(np.arange(7), rng.integers(1, 6, 7))
    yield "shuffled, ragged", rng.integers(0, 9, 60)
    yield "ids past 16 bits", rng.choice([3, 70_000, 65_536, 12], 40)
    yield "one reading", np.array([4])


@pytest.mark.parametrize("name, stream", list(batches()), ids=[n for n, _ in batches()])
def test_grid_rows_are_streams_in_arrival_order(name, stream):
    stream = stream.astype(np.int64)
    x = np.arange(len(stream), dtype=np.float64) + 0.5
    grid = Grid.of(stream)
    g = grid.spread(x)
    assert np.array_equal(grid.streams, np.unique(stream))
    for r, sid in enumerate(grid.streams):
        mine = x[stream == sid]
        assert grid.counts[r] == len(mine)
        assert np.array_equal(g[r, :len(mine)], mine)          # arrival order kept
        assert np.isnan(g[r, len(mine):]).all()                # padding after
        assert grid.last(g)[r] == mine[-1]
    assert np.array_equal(grid.valid(), ~np.isnan(g))
    assert np.array_equal(grid.gather(g), x)
    assert np.array_equal(grid.gather(grid.spread(stream, -1)), stream)
