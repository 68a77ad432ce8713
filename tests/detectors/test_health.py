"""Sensor health: no data (deadman) when readings arrive out of order, and both detectors against
a reading-by-reading loop on rounds and on shuffled batches, whole and split."""

import numpy as np
import pytest

from detectors import NoData, StuckSensor

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
    det = NoData(max_gap_s=120)
    scores = det.update(np.zeros(4, int), np.array([0, 100, 30, 160]) * S, np.ones(4))
    # 160 follows 100 (the newest seen), not 30: a 60 s gap, not 130 s
    np.testing.assert_allclose(scores, [0.0, 100 / 120, 0.0, 60 / 120])


def no_data_reference(stream, ts, max_gap_s):
    """Per reading: gap since the newest earlier timestamp of its stream (none yet, or negative: 0)."""
    newest, out = {}, []
    for s, t in zip(stream.tolist(), ts.tolist()):
        prev = newest.get(s, -1)
        out.append(max(t - prev, 0) / S / max_gap_s if prev >= 0 else 0.0)
        newest[s] = max(prev, t)
    return np.array(out)


def stuck_reference(stream, value, window, tolerance):
    last, run, out = {}, {}, []
    for s, v in zip(stream.tolist(), value.tolist()):
        run[s] = run.get(s, 0) + 1 if s in last and abs(v - last[s]) <= tolerance else 1
        last[s] = v
        out.append(run[s] / window)
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
            value[stream % 7 == 3] = 4.0                               # and some streams are frozen
            yield f"{layout}, {clock}", stream, ts, value


def in_batches(factory, stream, ts, value, rng):
    """Scores of the readings given in several batches: cut at random, a round at a time, three rounds."""
    for cuts in (np.sort(rng.choice(np.arange(1, len(ts)), size=5, replace=False)), np.arange(40, len(ts), 40),
                 np.arange(120, len(ts), 120)):
        det = factory()
        yield np.concatenate([det.update(s, t, v) for s, t, v in zip(np.split(stream, cuts), np.split(ts, cuts),
                                                                    np.split(value, cuts))])


@pytest.mark.parametrize("name, stream, ts, value", list(health_batches()), ids=[b[0] for b in health_batches()])
def test_no_data_agrees_with_a_reading_by_reading_loop(name, stream, ts, value):
    expected = no_data_reference(stream, ts, 120)
    np.testing.assert_array_equal(NoData(max_gap_s=120).update(stream, ts, value), expected)
    for got in in_batches(lambda: NoData(max_gap_s=120), stream, ts, value, np.random.default_rng(1)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("tolerance", [0.0, 0.6])
@pytest.mark.parametrize("name, stream, ts, value", list(health_batches()), ids=[b[0] for b in health_batches()])
def test_stuck_sensor_agrees_with_a_reading_by_reading_loop(name, stream, ts, value, tolerance):
    expected = stuck_reference(stream, value, 10, tolerance)
    assert expected.max() >= 1.0 and (expected == 0.1).mean() > 0.1   # long runs and no runs both occur
    np.testing.assert_array_equal(StuckSensor(window=10, tolerance=tolerance).update(stream, ts, value), expected)
    for got in in_batches(lambda: StuckSensor(window=10, tolerance=tolerance), stream, ts, value,
                          np.random.default_rng(2)):
        np.testing.assert_array_equal(got, expected)


def test_stuck_sensor_on_noisy_rounds_scores_every_reading_one_step():
    rng = np.random.default_rng(3)
    stream = np.tile(np.arange(50), 20)
    value = rng.normal(5, 0.3, len(stream))
    det = StuckSensor(window=30)
    np.testing.assert_array_equal(det.update(stream, np.arange(len(stream)) * S, value), np.full(len(stream), 1 / 30))
    np.testing.assert_array_equal(det.state_["run"][:50], 1)
