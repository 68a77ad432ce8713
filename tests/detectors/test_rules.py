"""Alert rules: N-of-M, minimum duration, hysteresis, flap suppression, latching, escalation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from faultline.detectors import AlertRule

MIN = 60 * 10**9


def run(rule, scores, stream=None, minutes=None):
    scores = np.asarray(scores, dtype=float)
    ts = (np.arange(len(scores)) if minutes is None else np.asarray(minutes)) * MIN
    stream = np.zeros(len(scores), int) if stream is None else np.asarray(stream)
    return rule.update(stream, ts, scores, scores * 10)


def spans(alerts):
    return [(a.status, a.started_at_ns // MIN, None if a.ended_at_ns is None else a.ended_at_ns // MIN) for a in alerts]


def test_single_hot_reading_opens_and_first_cold_one_closes():
    alerts = run(AlertRule(on=1.0, off=0.8), [0.1, 1.2, 0.9, 0.7, 0.1])
    assert spans(alerts) == [("opened", 1, None), ("closed", 1, 3)]  # 0.9 is above the clear level


def test_n_of_m_ignores_isolated_hot_readings():
    rule = AlertRule(on=1.0, off=0.8, n=3, m=5)
    assert run(rule, [1.5, 0, 0, 1.5, 0, 0, 1.5, 0, 0]) == []
    assert spans(run(rule, [1.5, 0, 1.5, 1.5, 0.9, 0.2])) == [("opened", 3, None), ("closed", 3, 5)]


def test_minimum_duration_holds_back_short_excursions():
    rule = AlertRule(on=1.0, off=0.8, min_duration_s=5 * 60)
    assert run(rule, [0, 2, 2, 2, 0, 0]) == []  # 3 minutes hot: not enough
    alerts = run(rule, [0, 2, 2, 2, 2, 2, 2, 2, 0])
    assert spans(alerts) == [("opened", 1, None), ("closed", 1, 8)]
    assert alerts[0].evidence["n"] == 6  # readings 1..6 when it opened


def test_flap_suppression_keeps_one_alert_through_short_dips():
    flappy = [2, 0, 2, 0, 2, 0, 0, 0, 0, 0]
    assert [a.status for a in run(AlertRule(on=1.0, off=0.8), flappy)].count("opened") == 3
    alerts = run(AlertRule(on=1.0, off=0.8, clear_after_s=3 * 60), flappy)
    assert spans(alerts) == [("opened", 0, None), ("closed", 0, 5)]


def test_latched_alert_waits_for_acknowledgement():
    rule = AlertRule(on=1.0, off=0.8, latch=True)
    assert spans(run(rule, [2, 0, 0])) == [("opened", 0, None)]
    assert run(rule, [0, 0], minutes=[3, 4]) == []
    rule.acknowledge(np.array([0]))
    assert spans(run(rule, [0], minutes=[5])) == [("closed", 0, 5)]


def test_severity_escalates_once_per_level():
    rule = AlertRule(on=1.0, off=0.8, severity_levels={"low": 1.0, "high": 3.0, "critical": 6.0})
    alerts = run(rule, [1.1, 2.0, 3.5, 3.0, 7.0, 0.1])
    assert [(a.status, a.severity) for a in alerts] == [
        ("opened", "low"),
        ("escalated", "high"),
        ("escalated", "critical"),
        ("closed", "critical"),
    ]
    assert alerts[-1].evidence == {
        "min": 11.0,
        "max": 70.0,
        "mean": pytest.approx(33.2),
        "last": 70.0,
        "n": 5,
        "window_start_ns": 0,
        "window_end_ns": 5 * MIN,
    }


def test_rule_is_batch_split_invariant_and_survives_restart():
    rng = np.random.default_rng(3)
    n = 3000
    stream = rng.integers(0, 5, n)
    scores = np.abs(rng.normal(0.5, 0.4, n))
    scores[1000:1400][stream[1000:1400] == 2] = 2.5
    ts = np.arange(n) * MIN

    def new():
        return AlertRule(
            on=1.0,
            off=0.7,
            n=2,
            m=3,
            min_duration_s=120,
            clear_after_s=300,
            severity_levels={"low": 1.0, "medium": 2.0},
        )

    whole = new().update(stream, ts, scores)
    assert any(a.stream == 2 and a.severity == "medium" for a in whole)
    rule, parts = new(), []
    for cut in np.array_split(np.arange(n), 37):
        parts += rule.update(stream[cut], ts[cut], scores[cut])
        rule = AlertRule.from_dict(json.loads(json.dumps(rule.to_dict())))

    def canonical(alerts):  # the position in the batch naturally differs; order across streams may too
        return sorted((replace(a, index=-1) for a in alerts), key=lambda a: (a.stream, a.at_ns, a.status))

    assert canonical(parts) == canonical(whole)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"on": 1.0, "off": 1.2}, "off"),
        ({"n": 4, "m": 3}, "n <= m"),
        ({"severity_levels": {"low": 2.0, "high": 1.0}}, "rise"),
        ({"severity_levels": {"urgent": 2.0}}, "urgent"),
    ],
)
def test_bad_rule_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AlertRule(**kwargs)
