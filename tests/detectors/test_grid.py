"""The batch grid: each row holds one stream's readings in arrival order, whichever path built it."""

import numpy as np
import pytest

from faultline.detectors.streams import Grid


def batches():
    rng = np.random.default_rng(21)
    yield "interleaved, full rows", np.tile(np.arange(7), 5)
    yield "sorted, full rows", np.repeat(np.arange(7), 5)
    yield "sorted, ragged", np.repeat(np.arange(7), rng.integers(1, 6, 7))
    yield "shuffled, ragged", rng.integers(0, 9, 60)
    yield "ids past 16 bits", rng.choice([3, 70_000, 65_536, 12], 40)
    yield "one reading", np.array([4])
    yield "one reading per stream, ascending", np.array([0, 3, 4, 70_000])
    yield "one reading per stream, shuffled", np.array([4, 0, 70_000, 3])
    yield "rounds, ids ascending", np.tile(np.arange(3, 10), 4)
    yield "rounds, ids in another order", np.tile(np.array([5, 2, 9, 0, 70_000]), 6)
    yield "rounds longer than the first look", np.tile(np.arange(5000)[::-1], 2)
    yield "one stream", np.full(9, 3)
    yield "a stream twice in each round", np.tile(np.array([1, 2, 1, 3]), 4)
    yield "rounds, then a partial round", np.r_[np.tile(np.arange(3), 3), [0, 1]]
    yield "periodic, but rounds differ", np.r_[np.tile(np.arange(3), 2), [0, 2, 1]]


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
        assert np.array_equal(g[r, : len(mine)], mine)  # arrival order kept
        assert np.isnan(g[r, len(mine) :]).all()  # padding after
        assert grid.last(g)[r] == mine[-1]
    assert np.array_equal(grid.valid(), ~np.isnan(g))
    assert np.array_equal(grid.gather(g), x)
    assert np.array_equal(grid.gather(grid.spread(stream, -1)), stream)


def test_rounds_are_recognised_without_sorting():
    """A batch of rounds of the same distinct streams gets the transposed-view grid."""
    assert Grid.of(np.tile(np.array([4, 1, 7]), 5)).rounds
    assert Grid.of(np.array([2, 5, 9, 11])).rounds  # one reading per stream, ascending: one round
    for stream in (
        np.tile(np.array([1, 2, 1, 3]), 4),
        np.r_[np.tile(np.arange(3), 3), [0, 1]],
        np.array([2, 9, 5, 11]),
        np.array([2, 5, 5, 11]),
    ):
        assert not Grid.of(stream).rounds


@pytest.mark.parametrize("name, stream", list(batches()), ids=[n for n, _ in batches()])
def test_an_empty_grid_filled_cell_by_cell_gathers_back(name, stream):
    stream = stream.astype(np.int64)
    x = np.arange(len(stream), dtype=np.float64) * 3.0
    grid = Grid.of(stream)
    g = grid.empty()
    assert g.shape == grid.shape
    g[...] = grid.spread(x)
    assert np.array_equal(grid.gather(g), x)


@pytest.mark.parametrize("name, stream", list(batches()), ids=[n for n, _ in batches()])
def test_scores_grid_lands_in_the_target_in_input_order(name, stream):
    stream = stream.astype(np.int64)
    x = np.arange(len(stream), dtype=np.float64) - 7.0
    target = np.full(len(stream), np.nan)
    grid = Grid.of(stream, target=target)
    g = grid.scores()
    g[...] = grid.spread(x)
    back = grid.gather(g)
    assert np.array_equal(back, x)
    # where the layout allows, the grid is the target itself: gathering it back copies nothing
    direct = grid.order is None and grid.cell is None and grid.perm is None
    assert np.shares_memory(g, target) == direct
    if direct:
        assert np.array_equal(target, x) and np.shares_memory(back, target)
