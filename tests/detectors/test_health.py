"""Sensor health: no data (deadman) when readings arrive out of order, and both detectors against
a reading-by-reading loop on rounds and on shuffled batches, whole and split."""

import numpy as np
import pytest

from faultline.detectors import NoData, StuckSensor

S = 10**9


def test_a_late_reading_does_not_make_a_live_stream_silent():
    det = NoData(max_gap_s=120)
    det.update(np.zeros(3, int), np.array([0, 60, 120]) * S, np.ones(3))
    late = det.update(np.zeros(1, int), np.array([-1800]) * S, np.ones(1))  # half an hour late
    assert late[0] == 0.0
    ids, _ = det.silent(now_ns=150 * S)
    assert ids.size == 0
    assert det.state_["last_ts"][0] == 120 * S


def test_the_reading_after_a_late_one_is_measured_from_the_newest():
    det = NoData(max_gap_s=120, intervals=1)
    scores = det.update(np.zeros(4, int), np.array([0, 100, 30, 160]) * S, np.ones(4))
    # 160 follows 100 (the newest seen), not 30: a 60 s gap, not 130 s
    np.testing.assert_allclose(scores, [0.0, 100 / 120, 0.0, 60 / 120])


def no_data_reference(stream, ts, max_gap_s, intervals, memory):
    """Per reading: gap since the newest earlier timestamp of its stream (none yet, or negative: 0), over
    the silence allowed before it (the stream's geometric-mean interval times ``intervals``)."""
    newest, ew, out = {}, {}, []
    a = 1.0 / memory
    for s, t in zip(stream.tolist(), ts.tolist()):
        prev = newest.get(s, -1)
        gap = max(t - prev, 0) / S if prev >= 0 else 0.0
        log_sum, w_sum = ew.get(s, (0.0, 0.0))
        cadence = 10.0 ** (log_sum / w_sum) if w_sum > 0 else 0.0
        out.append(gap / max(max_gap_s, intervals * cadence) if prev >= 0 else 0.0)
        w = 1.0 if gap > 0 else 0.0
        ew[s] = (a * (np.log10(gap) if gap > 0 else 0.0) + (1 - a) * log_sum, a * w + (1 - a) * w_sum)
        newest[s] = max(prev, t)
    return np.array(out)


def stuck_reference(stream, value, window, tolerance, factor=3.0, warmup=0):
    """Run length over max(window, factor x the longest normal run that ended before), 0 in warm-up;
    a run is normal when it ended below that limit, or in warm-up."""
    last, run, longest, n, out = {}, {}, {}, {}, []
    for s, v in zip(stream.tolist(), value.tolist()):
        limit = max(window, factor * longest.get(s, 0))
        if s in last and abs(v - last[s]) <= tolerance:
            run[s] += 1
        else:
            if run.get(s, 0) and (run[s] < limit or n[s] < warmup):
                longest[s] = max(longest.get(s, 0), run[s])
            run[s] = 1
        limit = max(window, factor * longest.get(s, 0))
        out.append(run[s] / limit if n.get(s, 0) >= warmup else 0.0)
        last[s] = v
        n[s] = n.get(s, 0) + 1
    return np.array(out)


def health_batches():
    """Rounds of a fleet (the fast layout), shuffled readings, clocks that jump back, negative times."""
    rng = np.random.default_rng(8)
    for layout in ("rounds", "shuffled"):
        for clock in ("forward", "late readings", "before 1970"):
            stream = np.tile(rng.permutation(40), 30)
            if layout == "shuffled":
                stream = rng.permutation(stream)
            ts = np.cumsum(rng.integers(50, 70, len(stream))) * S
            if clock == "late readings":
                late = rng.random(len(ts)) < 0.02
                ts[late] -= rng.integers(100, 1000, late.sum()) * S
            elif clock == "before 1970":
                ts -= ts[len(ts) // 3]
            value = np.round(rng.normal(5, 0.5, len(stream)) * 2) / 2  # quantised: repeats are common
            value[stream % 7 == 3] = 4.0  # and some streams are frozen
            yield f"{layout}, {clock}", stream, ts, value


def in_batches(factory, stream, ts, value, rng):
    """Scores of the readings given in several batches: cut at random, a round at a time, three rounds."""
    for cuts in (
        np.sort(rng.choice(np.arange(1, len(ts)), size=5, replace=False)),
        np.arange(40, len(ts), 40),
        np.arange(120, len(ts), 120),
    ):
        det = factory()
        yield np.concatenate(
            [det.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts), np.split(value, cuts))]
        )


@pytest.mark.parametrize("name, stream, ts, value", list(health_batches()), ids=[b[0] for b in health_batches()])
def test_no_data_agrees_with_a_reading_by_reading_loop(name, stream, ts, value):
    # a floor below the cadence, so the learned cadence decides
    expected = no_data_reference(stream, ts, 30, 1.5, 5)
    whole = NoData(max_gap_s=30, intervals=1.5, memory=5).update(stream, ts, value)
    np.testing.assert_allclose(whole, expected, rtol=1e-12)
    assert (expected > 0).mean() > 0.5 and expected.max() > 1.0
    for got in in_batches(
        lambda: NoData(max_gap_s=30, intervals=1.5, memory=5), stream, ts, value, np.random.default_rng(1)
    ):
        np.testing.assert_array_equal(got, whole)  # exactly, however split


@pytest.mark.parametrize("warmup", [0, 7])
@pytest.mark.parametrize("tolerance", [0.0, 0.6])
@pytest.mark.parametrize("name, stream, ts, value", list(health_batches()), ids=[b[0] for b in health_batches()])
def test_stuck_sensor_agrees_with_a_reading_by_reading_loop(name, stream, ts, value, tolerance, warmup):
    expected = stuck_reference(stream, value, 10, tolerance, warmup=warmup)
    assert expected.max() >= 1.0 and (expected < 1.0).mean() > 0.3  # long runs and no runs both occur
    assert ((expected > 0) & (expected < 0.1)).any()  # and runs learned as some streams' normal

    def det():
        return StuckSensor(window=10, tolerance=tolerance, warmup=warmup)

    np.testing.assert_array_equal(det().update(stream, ts, value), expected)
    for got in in_batches(det, stream, ts, value, np.random.default_rng(2)):
        np.testing.assert_array_equal(got, expected)


def test_stuck_sensor_noisy_batch_with_factor_above_window_follows_the_loop():
    # every run 1 long: the first reading of a new stream is judged against the window alone (no run
    # learned yet), the later ones against factor x 1 (the runs of 1 that ended before them)
    rng = np.random.default_rng(4)
    stream = np.tile(np.arange(5), 8)
    value = rng.normal(0, 1, len(stream))
    expected = stuck_reference(stream, value, 2, 0.0, factor=5.0)
    np.testing.assert_array_equal(expected[:5], 0.5)
    np.testing.assert_array_equal(StuckSensor(window=2, factor=5.0).update(stream, stream * S, value), expected)


def test_stuck_sensor_learns_a_quantised_sensors_repeats_but_still_catches_a_hang():
    rng = np.random.default_rng(11)
    level = np.repeat(np.round(20 + np.cumsum(rng.choice([-0.1, 0.1], 300)), 1), rng.integers(5, 25, 300))
    x = np.concatenate([level[:2500], np.full(400, level[2499])])  # then the transmitter hangs
    det = StuckSensor(window=30, factor=3, warmup=500)
    s = det.update(np.zeros(len(x), int), np.arange(len(x)) * S, x)
    assert s[:2500].max() < 1.0  # its own repeats: no stuck finding
    assert s[-1] >= 1.0


def test_stuck_sensor_on_noisy_rounds_scores_every_reading_one_step():
    rng = np.random.default_rng(3)
    stream = np.tile(np.arange(50), 20)
    value = rng.normal(5, 0.3, len(stream))
    det = StuckSensor(window=30)
    np.testing.assert_array_equal(det.update(stream, np.arange(len(stream)) * S, value), np.full(len(stream), 1 / 30))
    np.testing.assert_array_equal(det.state_["run"][:50], 1)
