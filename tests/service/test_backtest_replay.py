"""The backtest's replay: the multivariate checks also see the last minute of the window."""

from __future__ import annotations

import numpy as np


def test_replay_flushes_the_multivariate_checks_at_the_end():
    from faultline.detectors import DetectorsConfig
    from faultline.service.backtest import replay

    config = DetectorsConfig.model_validate(
        {
            "classes": {
                "default": {
                    "checks": {},
                    "multivariate": {
                        "pair": {
                            "sensors": ["a", "b"],
                            "detector": "hotelling_t2",
                            "params": {"alpha": 1e-9},
                            "baseline": 60,
                            "fault_mode": "anomaly",
                            "rule": {"alarm": 1.0, "clear": 0.5, "n": 2, "m": 2},
                        }
                    },
                }
            }
        }
    )
    rng = np.random.default_rng(1)
    n = 363  # an hour, then the 30 s the last replay step holds
    t = (1_763_700_000 + 10 * np.arange(n)) * 10**9
    a = rng.normal(50, 1, n)
    b = a + rng.normal(0, 0.1, n)
    b[-3:] += 20  # b leaves a in the last three rows only
    findings = replay(config, "v1", [("P-1", "a", t, a), ("P-1", "b", t, b)], int(t[-1]) + 1)
    assert [(f.asset, f.rule, f.status) for f in findings] == [("P-1", "pair", "opened")]
    assert findings[0].started_at.timestamp() * 1e9 >= t[-3]  # found in the last minute
