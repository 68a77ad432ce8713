"""A short hard-mode run as a regression test: operating-point changes, glitches and heavy tails
raise no anomaly finding (before the spike and drift checks changed, seed 1 gave dozens in two days)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from faultline.detectors import DetectorsConfig
from faultline.service.evaluate import evaluate
from faultline.simulators import Fleet

ROOT = Path(__file__).resolve().parents[2]


def test_two_hard_days_of_a_tuning_seed_raise_no_false_alarm():
    fleet = Fleet.from_yaml(ROOT / "config" / "fleet.yaml")
    cfg = DetectorsConfig.model_validate(yaml.safe_load((ROOT / "config" / "detectors.yaml").read_text())["detectors"])
    assert 1 in fleet.seeds.tuning
    r = evaluate(fleet, 1, datetime(2026, 1, 5, tzinfo=timezone.utc), timedelta(days=2), cfg, mode="hard")
    assert r["false_alarms_by_rule"] == {}, r["false_alarms"]
    assert r["data_quality_false_alarms_by_rule"] == {}, r["false_alarms"]
