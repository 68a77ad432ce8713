"""EWMA and CUSUM: a grid of many streams steps through its columns, a grid of few runs along its
rows; both must give the same bits, and the same scores as a reading-by-reading loop."""

import math

import numpy as np
import pytest

from faultline.detectors import Cusum, Ewma
from faultline.detectors.drift import _WIDE

S = 10**9
N_STREAMS = _WIDE + 44


def fleet(rng, rounds=60, ragged=False):
    """Rounds of N_STREAMS streams (some with a step), optionally with readings dropped."""
    stream = np.tile(np.arange(N_STREAMS), rounds)
    shifted = (stream % 5 == 0) & (np.arange(len(stream)) > len(stream) // 2)
    value = 20 + rng.normal(0, 1, len(stream)) + np.where(shifted, 2.5, 0.0)
    keep = rng.random(len(stream)) > (0.3 if ragged else 0.0)
    return stream[keep], np.arange(keep.sum()) * S, value[keep]


def baseline_loop(
    stream, value, warmup, min_std, each, restart=lambda s: None, memory=None, learn_below=0.5, relearn_after=None
):
    """Per reading ``each(stream, value, mean, std, scored)`` against the trailing reference of the
    module docstring, learned a block of 16 readings at a time, written as plainly as possible."""
    block, memory = 16, memory or 10 * warmup
    relearn_after = warmup if relearn_after is None else relearn_after
    learnt_after = -(-warmup // block) * block
    st, out = {}, []
    for s, v in zip(stream.tolist(), value.tolist()):
        d = st.setdefault(
            s,
            {
                "n": 0,
                "since": 0,
                "sum": 0.0,
                "sumsq": 0.0,
                "mu": math.nan,
                "var": math.nan,
                "frozen": 0,
                "block": [],
                "max": 0.0,
            },
        )
        scored = d["n"] - d["since"] >= learnt_after
        sd = max(math.sqrt(max(d["var"], 0.0)), min_std) if scored else 1.0
        score = each(s, v, d["mu"], sd, scored)
        out.append(score)
        d["n"] += 1
        d["block"].append(v)
        d["max"] = max(d["max"], score)
        if len(d["block"]) < block:
            continue
        xs, count = d["block"], d["n"] - block
        if not scored:
            for x in xs:
                d["sum"] += x
            for x in xs:
                d["sumsq"] += x * x
            if count + block - d["since"] >= learnt_after:
                m = float(learnt_after)
                d["mu"] = d["sum"] / m
                d["var"] = max(d["sumsq"] - m * d["mu"] * d["mu"], 0.0) / (m - 1)
                d["frozen"] = 0
        else:
            mu, var = d["mu"], d["var"]
            xc = [min(max(x, mu - 4 * sd), mu + 4 * sd) for x in xs]
            w = min(1.0, block / memory)
            if d["max"] < learn_below:
                d["mu"] = mu + w * (np.mean(xc) - mu)
                d["var"] = var + w * (np.mean([(x - mu) ** 2 for x in xc]) - var)
                d["frozen"] = 0
            else:
                d["frozen"] += block
            if relearn_after and d["frozen"] >= relearn_after:
                d["since"], d["sum"], d["sumsq"], d["frozen"] = count + block, 0.0, 0.0, 0
                restart(s)
        d["block"], d["max"] = [], 0.0
    return np.array(out)


def ewma_loop(stream, value, alpha, limit_sigmas, warmup, min_std=1e-6, **kw):
    z = {}

    def each(s, v, mean, std, scored):
        z[s] = v if s not in z else alpha * v + (1 - alpha) * z[s]
        return abs(z[s] - mean) / (limit_sigmas * std * math.sqrt(alpha / (2 - alpha))) if scored else 0.0

    return baseline_loop(stream, value, warmup, min_std, each, **kw)


def cusum_loop(stream, value, k, h, warmup, direction="both", clip=None, min_std=1e-6, **kw):
    up, down = {}, {}

    def each(s, v, mean, std, scored):
        if scored:
            y = (v - mean) / std
            y = y if clip is None else min(max(y, -clip), clip)
            up[s] = max(0.0, up.get(s, 0.0) + y - k)
            down[s] = max(0.0, down.get(s, 0.0) - y - k)
        u, d = up.get(s, 0.0), down.get(s, 0.0)
        return {"both": max(u, d), "up": u, "down": d}[direction] / h

    def restart(s):
        up[s] = down[s] = 0.0

    return baseline_loop(stream, value, warmup, min_std, each, restart, **kw)


FACTORIES = {
    "ewma": lambda: Ewma(alpha=0.1, limit_sigmas=3.0, warmup=15),
    "cusum both": lambda: Cusum(k=0.5, h=5.0, warmup=15),
    "cusum up, clipped": lambda: Cusum(k=0.5, h=5.0, warmup=15, direction="up", clip=3.0),
    "cusum down": lambda: Cusum(k=0.25, h=5.0, warmup=15, direction="down"),
}
LOOPS = {
    "ewma": lambda s, v: ewma_loop(s, v, 0.1, 3.0, 15),
    "cusum both": lambda s, v: cusum_loop(s, v, 0.5, 5.0, 15),
    "cusum up, clipped": lambda s, v: cusum_loop(s, v, 0.5, 5.0, 15, "up", 3.0),
    "cusum down": lambda s, v: cusum_loop(s, v, 0.25, 5.0, 15, "down"),
}


@pytest.mark.parametrize("ragged", [False, True], ids=["full rows", "ragged rows"])
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_many_streams_at_once_equal_few_streams_at_a_time(kind, ragged):
    stream, ts, value = fleet(np.random.default_rng(31), ragged=ragged)
    factory = FACTORIES[kind]
    whole = factory().update(stream, ts, value)  # N_STREAMS rows: the column path
    assert (whole >= 1).any() and (whole == 0).any()
    few = np.empty_like(whole)
    det = factory()
    for first in range(0, N_STREAMS, 40):  # 40 rows at a time: along the rows
        mine = (stream >= first) & (stream < first + 40)
        few[mine] = det.update(stream[mine], ts[mine], value[mine])
    np.testing.assert_array_equal(whole, few)
    # and split into batches mid-warm-up and mid-drift, each batch wide again
    det = factory()
    cuts = [N_STREAMS * 7 + 3, N_STREAMS * 30 + 100, len(ts) - 500]
    parts = [det.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("width", [N_STREAMS, 40], ids=["many streams", "few streams"])
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_agrees_with_a_reading_by_reading_loop(kind, width):
    stream, ts, value = fleet(np.random.default_rng(32))
    mine = stream < width
    stream, ts, value = stream[mine], ts[mine], value[mine]
    expected = LOOPS[kind](stream, value)
    det = FACTORIES[kind]()
    cuts = [width * 5, width * 20 + 7]  # a batch of warm-up only, then one that ends warm-up
    got = np.concatenate(
        [det.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("width", [N_STREAMS, 40], ids=["many streams", "few streams"])
def test_cusum_columns_where_every_stream_learns_are_skipped_exactly(width):
    """Skipping the leading all-warm-up columns gives what stepping through them gives, whatever the
    carried (C, M), here set by hand: stream 0 learns on, while another stream, already scored, makes
    the detector step through every column."""
    rng = np.random.default_rng(33)
    det = Cusum(k=0.5, h=5.0, warmup=15)
    det._ensure(width + 1)
    det.state_["n"][:width] = 3
    det.state_["up_c"][:width], det.state_["up_m"][:width] = rng.normal(0, 1, width), rng.normal(0, 1, width)
    det.state_["n"][width], det.state_["sum"][width], det.state_["sumsq"][width] = 15, 15 * 20.0, 15 * 401.0
    saved = det.to_dict()
    stream = np.tile(np.arange(width), 30)
    value = 20 + rng.normal(0, 1, len(stream))
    alone = Cusum.from_dict(saved).update(stream, np.arange(len(stream)) * S, value)
    stepped = Cusum.from_dict(saved)
    both = stepped.update(np.r_[stream, width], np.arange(len(stream) + 1) * S, np.r_[value, 20.0])
    np.testing.assert_array_equal(alone, both[:-1])


@pytest.mark.parametrize(
    "factory, swing",
    [
        (lambda: Cusum(k=0.5, h=8.0, warmup=200, direction="up", memory=200, relearn_after=0), 0.25),
        # an EWMA chart's limit is a fraction of sigma: it follows only what moves well inside it
        (lambda: Ewma(alpha=0.05, limit_sigmas=3.0, warmup=200, memory=200, relearn_after=0), 0.0),
    ],
    ids=["cusum", "ewma"],
)
def test_a_slow_fault_is_not_learned_as_normal_but_a_wandering_level_is(factory, swing):
    rng = np.random.default_rng(34)
    n = 6000
    wander = 10 + swing * np.sin(np.arange(n) * 2 * np.pi / 12000)  # a slow swing of over a sigma
    healthy = wander + rng.normal(0, 0.2, n)
    det = factory()
    s = det.update(np.zeros(n, int), np.arange(n) * S, healthy)
    assert (s >= 1).mean() < 0.01  # the trailing level follows it
    fault = 10 + rng.normal(0, 0.2, n)
    fault[3000:] += np.linspace(0, 3, 3000)  # a fault that develops slowly
    det = factory()
    s = det.update(np.zeros(n, int), np.arange(n) * S, fault)
    assert (s[:3000] < 1).mean() > 0.99 and (s[-500:] >= 1).all()  # frozen once it rose: still alarming
    mean, _, learnt = det.baseline(np.array([0]))
    assert learnt[0] and abs(mean[0] - 10) < 0.5  # the fault was not learned


def test_a_new_operating_point_is_learned_after_relearn_after_readings():
    rng = np.random.default_rng(35)
    x = 5 + rng.normal(0, 0.1, 4000)
    x[1000:] += 1.0  # a load step that holds
    det = Cusum(k=0.5, h=8.0, warmup=160, relearn_after=320)
    s = det.update(np.zeros(len(x), int), np.arange(len(x)) * S, x)
    assert s[1000:1100].max() >= 1  # reported
    assert (s[1000 + 320 + 16 + 160 + 100 :] >= 1).mean() < 0.01  # then learned: quiet again
    mean, _, _ = det.baseline(np.array([0]))
    assert abs(mean[0] - 6.0) < 0.05
