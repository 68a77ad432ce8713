"""The commented ``attachments:`` sample in config/faultline.yaml and the ``preventive:`` example of
docs/engineer.md validate, and the limits docs/engineer.md states are the code's defaults."""

import re
from pathlib import Path

import yaml

from faultline.ticketing.attachments import AttachmentSettings
from faultline.ticketing.preventive import PreventiveSettings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "config" / "faultline.yaml").read_text()
DOC = (ROOT / "docs" / "engineer.md").read_text()


def commented_section(name: str) -> dict:
    lines = SAMPLE[SAMPLE.index(f"# {name}:") :].splitlines()
    block = []
    for line in lines:
        if not line.startswith("#") or (block and re.match(r"#\s*$", line)):
            break
        block.append(re.sub(r"\s+# .*$", "", line[2:]))
    return yaml.safe_load("\n".join(block))[name]


def test_the_commented_samples_validate():
    AttachmentSettings(**commented_section("attachments"))
    PreventiveSettings(**commented_section("preventive"))


def test_the_documented_preventive_example_validates():
    block = re.search(r"```yaml\n(preventive:.*?)```", DOC, re.S).group(1)
    settings = PreventiveSettings(**yaml.safe_load(block)["preventive"])
    assert [s.name for s in settings.schedules] == ["regrease", "seal-check"]
    assert settings.schedules[1].meter.every_hours == 500


def test_the_sample_attachment_limits_are_the_defaults_and_the_doc_says_them():
    defaults = AttachmentSettings()
    assert AttachmentSettings(**commented_section("attachments")).max_bytes == defaults.max_bytes
    for kind, limit in defaults.max_bytes.items():
        assert f"| {kind} | {limit:,} bytes" in DOC, kind
    assert f"{defaults.max_order_bytes:,} bytes" in DOC
