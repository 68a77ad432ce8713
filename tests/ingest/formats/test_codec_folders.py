"""Every codec folder has its README and a sample configuration that validates; the shipped
configuration routes every format, Sparkplug's ``spBv1.0/#`` included, without any setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faultline.ingest.codecs.routes import ROUTABLE
from faultline.service.settings import load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[3]
FOLDERS = sorted(p for p in (ROOT / "ingest/codecs").iterdir() if (p / "__init__.py").exists())


def test_the_formats_of_the_issue_each_have_a_folder():
    assert [p.name for p in FOLDERS] == [
        "batch",
        "binary_waveform",
        "flat_json",
        "gateway_json",
        "sparkplug_b",
        "thingsboard_gateway",
        "waveform",
    ]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_each_folder_has_a_readme_and_a_valid_sample(folder):
    assert len((folder / "README.md").read_text().split()) > 40, "the README says what the format is"
    sample = yaml.safe_load((folder / "sample.yaml").read_text())
    settings_from_dict(sample, str(folder / "sample.yaml"), env={})
    if folder.name in ROUTABLE:
        assert folder.name in {r["codec"] for r in sample["mqtt"]["codecs"]}


def test_the_shipped_configuration_understands_every_format():
    settings = load_settings(ROOT / "config/faultline.yaml", env={})
    routes = {codec: topic for topic, codec, _ in settings.mqtt.codec_routes()}
    assert routes == {"sparkplug_b": "spBv1.0/#", "thingsboard_gateway": "v1/gateway/telemetry"}
    assert set(settings.mqtt.topic_filters()) >= {"faultline/+/+/+", "spBv1.0/#", "v1/gateway/telemetry"}
