"""The generic checks' promises: re-learning, frozen while abnormal, a scale that cannot collapse,
data quality kept out of the combined score, a multivariate model that follows a new operating point."""

from __future__ import annotations

import numpy as np

from faultline.detectors import AdaptiveDrift, AdaptiveLevel, DetectorsConfig, Engine
from faultline.detectors.calibration import ExceedanceTail, alarm_level, rarity

S = 10**9


def _run(det, x):
    return det.update(np.zeros(len(x), int), np.arange(len(x)) * S, x)


def test_an_operating_point_step_is_flagged_briefly_then_accepted():
    rng = np.random.default_rng(1)
    x = 10 + rng.normal(0, 0.2, 800)
    x[400:] += 5  # a set point changed, for good
    s = _run(AdaptiveLevel(relearn=10), x)
    assert s[400] >= 1
    assert (s[400:420] >= 1).sum() <= 10  # accepted after 10 abnormal readings
    assert (s[450:] >= 1).mean() < 0.01


def test_a_fault_is_not_learnt_while_it_lasts():
    rng = np.random.default_rng(2)
    x = 10 + rng.normal(0, 0.2, 600)
    x[300:329] += 4  # 29 readings: shorter than relearn
    s = _run(AdaptiveLevel(relearn=30), x)
    assert (s[300:329] >= 1).all()  # flagged throughout, not absorbed
    assert (s[335:] >= 1).mean() < 0.01  # and calm again after it


def test_resolution_floor_on_a_coarse_sensor():
    rng = np.random.default_rng(3)
    x = np.round(70 + rng.normal(0, 0.2, 3000))  # whole degrees: mostly one value
    s = _run(AdaptiveLevel(), x)
    assert (s >= 1).sum() == 0
    x[2000] += 6
    assert _run(AdaptiveLevel(), x)[2000] >= 1


def test_drift_ignores_a_step_but_not_a_climb():
    rng = np.random.default_rng(4)
    x = 20 + rng.normal(0, 0.3, 2000)
    step = x.copy()
    step[1000:] += 4
    climb = x.copy()
    climb[1000:] += np.linspace(0, 20, 1000)
    assert (_run(AdaptiveDrift(), step)[1000:] >= 1).mean() < 0.02
    assert (_run(AdaptiveDrift(), climb)[1000:1300] >= 1).any()


def test_tail_calibration_learns_a_heavy_tail():
    tail = ExceedanceTail()
    u, beta = tail.start(1)
    rng = np.random.default_rng(5)
    for z in np.abs(rng.standard_t(3, 5000)):
        tail.learn(np.array([z]), u, beta, np.array([True]))
    z = np.abs(rng.standard_t(3, 200_000))
    p = tail.p(z, u, beta)
    # at the 1e-3 level the learnt tail is within a factor of a few of the truth
    assert 0.2e-3 < (rarity(p) >= 1).mean() < 5e-3
    assert alarm_level(1) == 1.0


def _config(multivariate=None):
    return DetectorsConfig.model_validate(
        {
            "multivariate_every": 0,
            "classes": {
                "default": {
                    "checks": {
                        "level": {"sensor": "*", "detector": "adaptive_level", "fault_mode": "anomaly"},
                        "stuck": {
                            "sensor": "*",
                            "detector": "stuck_sensor",
                            "fault_mode": "stuck_sensor",
                            "params": {"window": 5},
                        },
                    },
                    "multivariate": multivariate or {},
                }
            },
        }
    )


def test_data_quality_checks_stay_out_of_the_combined_score():
    engine = Engine(_config())
    sid = engine.stream_id("A", "valve")
    r = engine.process(np.full(100, sid), np.arange(100) * S, np.full(100, 3.0))  # constant: stuck
    assert np.nanmax(r.scores["stuck"]) >= 1
    assert r.score.max() == 0.0  # the level check sees nothing odd
    assert any(f.fault_mode == "stuck_sensor" for f in r.findings)


def test_relation_follows_a_new_operating_point_and_names_the_culprit():
    mv = {
        "relation": {
            "sensors": ["flow", "pressure"],
            "detector": "mahalanobis",
            "baseline": 100,
            "refresh": 25,
            "relearn": 15,
        }
    }
    engine = Engine(_config(mv))
    ids = [engine.stream_id("P", s) for s in ("flow", "pressure")]
    rng = np.random.default_rng(6)
    n = 1200
    load = np.where(np.arange(n) < 500, 1.0, 1.3) + rng.normal(0, 0.01, n)
    flow = 30 * load + rng.normal(0, 0.3, n)
    pressure = 0.5 * load + rng.normal(0, 0.005, n)
    pressure[900:960] += 0.08  # the relation breaks: pressure alone
    s = np.tile(ids, n)
    t = np.repeat(np.arange(n) * S, 2)
    v = np.column_stack([flow, pressure]).ravel()
    r = engine.process(s, t, v)
    rel = r.scores["relation"][::2]  # a row's score sits on its first sensor
    assert (rel[560:880] >= alarm_level(3)).mean() < 0.02  # the new operating point was accepted
    assert (rel[900:915] >= 1).any()
    culprit = r.blame["relation"][::2][900:915]
    assert engine.stream(int(culprit[np.argmax(rel[900:915])]))[1] == "pressure"


def test_a_reading_far_past_any_tail_scores_finite():
    x = np.full(200, 5.0)
    x[150] = 5e6  # a constant sensor, then a wild reading
    s = _run(AdaptiveLevel(), x)
    assert np.isfinite(s).all() and s[150] >= 1
