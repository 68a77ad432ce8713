"""Detector configuration: class defaults, per-asset overrides, errors that name the key, versions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from faultline.detectors import ConfigHistory, DetectorsConfig
from faultline.vocabulary import parse_seconds

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "detectors.yaml"


def sample() -> dict:
    return yaml.safe_load(SAMPLE.read_text())["detectors"]


def errors(data) -> str:
    with pytest.raises(ValidationError) as info:
        DetectorsConfig.model_validate(data)
    return "\n".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors())


def test_sample_configuration_validates_and_resolves_per_asset():
    cfg = DetectorsConfig.model_validate(sample())
    pump = cfg.checks_for("P-101")
    check, extra = pump["bearing_temp_limit"]
    assert check.params == {"high": 80}  # the asset's override
    assert cfg.checks_for("P-999")["bearing_temp_limit"][0].params == {"high": 85}  # class default
    assert pump["vibration_zone"][1] == {"ab": 1.4, "bc": 2.8, "cd": 4.5}  # its ISO group
    assert "axial_drift" not in pump  # a motor check; P-101 is a pump
    assert "vibration_zone" not in cfg.checks_for("P-999")  # no ISO group known: no zone check


def test_override_merges_rule_keys_and_can_disable_a_check():
    data = sample()
    data["assets"]["M-7"] = {
        "class": "motor",
        "iso_group": "1-rigid",
        "checks": {
            "axial_drift": {"rule": {"min_duration": "2h"}},
            "vibration_spike": {"enabled": False},
            "extra_limit": {"sensor": "motor_current", "detector": "static_limit", "params": {"high": 500}},
        },
    }
    cfg = DetectorsConfig.model_validate(data)
    checks = cfg.checks_for("M-7")
    rule = checks["axial_drift"][0].rule
    assert rule.min_duration == 7200 and rule.clear_after == 6 * 3600 and rule.clear == 0.5
    assert "vibration_spike" not in checks
    assert checks["extra_limit"][0].params == {"high": 500}
    assert checks["vibration_zone"][1]["bc"] == 4.5


@pytest.mark.parametrize(
    "mutate, where, what",
    [
        (
            lambda d: d["classes"]["default"]["checks"]["accel_impacts"].update(detector="cusumm"),
            "classes.default.checks.accel_impacts.detector",
            "unknown detector 'cusumm'",
        ),
        (
            lambda d: d["classes"]["default"]["checks"]["accel_impacts"]["params"].update(kk=1),
            "classes.default.checks.accel_impacts",
            "unexpected keyword argument 'kk'",
        ),
        (
            lambda d: d["classes"]["default"]["checks"]["accel_impacts"]["rule"].update(clear=2.0),
            "classes.default.checks.accel_impacts.rule",
            "must be <= on",
        ),
        (
            lambda d: d["classes"]["default"]["checks"]["accel_impacts"].update(fault_mode="broken"),
            "classes.default.checks.accel_impacts.fault_mode",
            "unknown fault_mode 'broken'",
        ),
        (
            lambda d: d["classes"]["default"]["checks"]["accel_impacts"]["rule"].update({True: 1.0}),
            "classes.default.checks.accel_impacts.rule",
            "`alarm` and `clear`",
        ),
        (lambda d: d["assets"]["P-101"].update(colour="red"), "assets.P-101.colour", "Extra inputs"),
        (
            lambda d: d["assets"]["P-101"]["checks"]["bearing_temp_limit"]["params"].update(high="hot"),
            "",
            "assets.P-101.checks.bearing_temp_limit",
        ),
        (lambda d: d["assets"]["P-101"].update(iso_group="9"), "", "group '9'"),
        (lambda d: d["classes"]["pump"].update(extends="nope"), "", "classes.pump.extends"),
        (lambda d: d.update(silence_after="soon"), "silence_after", "not a duration: 'soon'"),
    ],
)
def test_errors_name_the_key_and_value(mutate, where, what):
    data = sample()
    mutate(data)
    text = errors(data)
    assert where in text and what in text, text


def test_versions_follow_content_not_layout():
    a = DetectorsConfig.model_validate(sample())
    reordered = dict(reversed(list(sample().items())))
    assert DetectorsConfig.model_validate(reordered).digest() == a.digest()
    changed = sample()
    changed["assets"]["P-101"]["checks"]["bearing_temp_limit"]["params"]["high"] = 79
    b = DetectorsConfig.model_validate(changed)
    assert b.digest() != a.digest()

    history = ConfigHistory()
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert history.record(a, t).label.startswith("v1-")
    assert history.record(a, t).number == 1
    assert history.record(b, t, note="P-101 runs hot").number == 2
    assert history.record(a, t).number == 3  # going back is a change too
    restored = ConfigHistory.from_list(history.to_list())
    assert [v.number for v in restored.versions] == [1, 2, 3] and restored.current.digest == a.digest()


def test_durations():
    assert parse_seconds("1d12h") == 129600 and parse_seconds("250ms") == 0.25 and parse_seconds(5) == 5
    for bad in ("soon", "-5", -5, "5 parsecs"):
        with pytest.raises(ValueError):
            parse_seconds(bad)


def test_service_settings_compose_the_detectors_section():
    from faultline.service.settings import settings_from_dict

    settings = settings_from_dict({"detectors": sample()})
    assert isinstance(settings.detectors, DetectorsConfig)
