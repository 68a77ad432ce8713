"""The compiled loops (detectors/_kernels.py) against the numpy code they replace on the batch path.

trend_to_limit, no_data, stuck_sensor and robust_z keep their numpy ``_update`` as the reference: the compiled loop must give
the same bits, on one batch and split across batches. CUSUM and EWMA learn their reference from
sums over 16 readings that numpy adds pairwise and the loop adds in order, so those agree to
rounding; their split invariance and a plain loop are checked in test_drift.
"""

import numpy as np
import pytest

from faultline.detectors import Cusum, Ewma, NoData, RobustZ, SpikeBursts, StuckSensor, TrendToLimit
from faultline.detectors.streams import StreamingDetector

S = 10**9


def numpy_path(cls):
    """The detector with the numpy grid path (the base class's batch handling) instead of the loop."""
    return type(
        f"Numpy{cls.__name__}",
        (cls,),
        {"_update_split": StreamingDetector._update_split, "_kernel": None, "_compiled": False},
    )


def fleet(seed, streams=60, rounds=150):
    rng = np.random.default_rng(seed)
    stream = np.tile(np.arange(streams), rounds)
    pace = 1 + stream % 5 * 20  # streams at their own cadence
    ts = (np.repeat(np.arange(rounds), streams) * pace + rng.integers(0, 3, len(stream))) * S
    ts += rng.integers(0, S, len(stream))
    ts[::41] -= 7 * S  # late readings
    ts[::67] += 2000 * S  # holes
    value = 5 + rng.normal(0, 0.3, len(stream))
    value += np.where(stream % 3 == 0, np.repeat(np.arange(rounds), streams) * 0.05, 0.0)  # rising
    value[(stream % 7 == 2) & (np.arange(len(stream)) > len(stream) // 2)] += 2.0  # a step
    keep = rng.random(len(stream)) > 0.2  # ragged
    return stream[keep], ts[keep], value[keep]


CASES = {
    "trend": lambda cls: cls(limit=20.0, horizon_h=12.0, window=24),
    "trend every 3": lambda cls: cls(limit=20.0, horizon_h=12.0, window=24, every=3),
    "trend exponential": lambda cls: cls(limit=30.0, horizon_h=48.0, window=10, min_points=5, growth="exponential"),
    "no_data": lambda cls: cls(max_gap_s=120.0),
    "no_data slow memory": lambda cls: cls(max_gap_s=30.0, intervals=3.0, memory=20),
    "stuck tolerant": lambda cls: cls(window=5, tolerance=0.3),
    "stuck warm-up": lambda cls: cls(window=4, tolerance=0.2, factor=2.0, warmup=20),
    "robust": lambda cls: cls(window=20),
    "robust up, short memory": lambda cls: cls(window=7, min_periods=3, direction="up", noise_memory=10),
    "robust down, no floors": lambda cls: cls(window=10, direction="down", resolution_floor=0.0, noise_floor=0.0),
}
CLASSES = {"trend": TrendToLimit, "no_data": NoData, "stuck": StuckSensor, "robust": RobustZ}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_loop_gives_the_numpy_paths_bits(case):
    cls = CLASSES[case.split()[0]]
    stream, ts, value = fleet(41)
    compiled, reference = CASES[case](cls), CASES[case](numpy_path(cls))
    got, want = compiled.update(stream, ts, value), reference.update(stream, ts, value)
    assert (want > 0).any() and (want >= 1).any()
    np.testing.assert_array_equal(got, want)
    for name in compiled.state_:
        np.testing.assert_array_equal(compiled.state_[name], reference.state_[name])
    for name in reference.last_extras_:
        np.testing.assert_array_equal(compiled.last_extras_[name], reference.last_extras_[name])
    # split anywhere (mid-block, one reading, one stream at a time): the same bits
    cuts = [3, 250, 251, 2000, 5000]
    split = CASES[case](cls)
    parts = [
        split.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))
    ]
    np.testing.assert_array_equal(np.concatenate(parts), want)
    alone, out = CASES[case](cls), np.empty_like(want)
    for i in np.unique(stream):
        mine = stream == i
        out[mine] = alone.update(stream[mine], ts[mine], value[mine])
    np.testing.assert_array_equal(out, want)


def test_spike_bursts_scores_its_spikes_with_the_compiled_robust_z():
    stream, ts, value = fleet(41)
    kw = dict(window=7, min_periods=3, threshold=5.0, spikes=2)
    compiled, reference = SpikeBursts(**kw), numpy_path(SpikeBursts)(**kw)
    want = reference.update(stream, ts, value)
    assert (want >= 1).any()
    np.testing.assert_array_equal(compiled.update(stream, ts, value), want)
    for name in compiled.state_:
        np.testing.assert_array_equal(compiled.state_[name], reference.state_[name])
    # split anywhere, including batches that lack a stream whose spike is waiting for its next
    # reading: the same scores
    cuts = [3, 250, 251, 2000, 5000]
    split = SpikeBursts(**kw)
    parts = [
        split.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))
    ]
    np.testing.assert_array_equal(np.concatenate(parts), want)


@pytest.mark.parametrize(
    "cls, kw",
    [
        (Cusum, dict(k=0.5, h=5.0, warmup=30, relearn_after=64)),
        (Cusum, dict(k=0.5, h=5.0, warmup=20, direction="up", clip=3.0)),
        (Ewma, dict(alpha=0.1, warmup=30)),
    ],
    ids=["cusum", "cusum up clipped", "ewma"],
)
def test_cusum_and_ewma_loop_agree_with_the_numpy_path(cls, kw):
    stream, ts, value = fleet(42)
    det, ref = cls(**kw), numpy_path(cls)(**kw)
    got, want = det.update(stream, ts, value), ref.update(stream, ts, value)
    assert (want >= 1).any() and (want == 0).any()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
