"""A configuration without ``detectors:`` or ``ticketing:`` runs the shipped samples, and says so."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_defaults_are_the_sample_files():
    from faultline.detectors import DetectorsConfig
    from faultline.service.settings import default_detectors_config, default_detectors_path
    from faultline.ticketing.config import default_config_path

    assert default_detectors_path().read_bytes() == (ROOT / "config" / "detectors.yaml").read_bytes()
    assert default_config_path().read_bytes() == (ROOT / "config" / "ticketing.yaml").read_bytes()
    sample = yaml.safe_load((ROOT / "config" / "detectors.yaml").read_text())["detectors"]
    assert default_detectors_config() == DetectorsConfig.model_validate(sample)


def test_without_detectors_and_ticketing_sections_the_shipped_samples_are_in_force(tmp_path, caplog):
    from faultline.service.runtime import Runtime
    from faultline.service.settings import default_detectors_config, settings_from_dict
    from faultline.ticketing import default_ticketing_config

    settings = settings_from_dict(
        {
            "store": {"kind": "sqlite", "path": str(tmp_path / "readings.sqlite")},
            "spool": {"path": str(tmp_path / "spool")},
            "ingest": {"dead_letter_path": str(tmp_path / "dead.sqlite")},
            "metrics": {"port": 0},
            "service": {"state_path": str(tmp_path / "service.sqlite")},
        },
        "test",
        env={},
    )
    assert settings.detectors is None and settings.ticketing is None
    with caplog.at_level(logging.INFO, logger="faultline.service.runtime"):
        runtime = Runtime(settings)
    try:
        engine = runtime.detection.engine
        assert engine.config == default_detectors_config()
        assert {"bearing_defect", "vibration_zone"} <= set(engine.config.checks_for("P-101"))
        assert runtime.ticketing.model_dump() == default_ticketing_config().model_dump()
        text = caplog.text
        assert "no detectors: section in the configuration; using the shipped sample" in text
        assert "detector configuration in force: v1 (from the shipped sample" in text
        assert "no ticketing: section in the configuration; the shipped sample" in text
        assert "nothing is detected" not in text
    finally:
        runtime.close()


def test_the_shipped_sample_gives_p101_its_bearing_defect_ratios():
    import numpy as np

    from faultline.service.commands.ingest import _detectors_config
    from faultline.service.settings import Settings
    from faultline.service.waveforms import waveform_features

    features = waveform_features(lambda: _detectors_config(Settings()))  # as `faultline ingest` without a file
    blocks = np.random.default_rng(0).normal(size=(2, 2048))
    tags = {"site": "north", "sensor": "accel"}
    assert {"bearing_defect", "bearing_mode", "bpfo", "bpfi", "bsf"} <= set(
        features(blocks, 10240.0, {**tags, "asset": "P-101"})
    )
    assert "bpfo" not in features(blocks, 10240.0, {**tags, "asset": "F-999"})  # no bearing known
