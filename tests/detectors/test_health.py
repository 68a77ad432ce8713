"""No-data (deadman) detection when readings arrive out of order."""

import numpy as np

from detectors import NoData

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
