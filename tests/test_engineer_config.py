"""The commented ``attachments:`` and ``preventive:`` samples in config/faultline.yaml validate, and
the defaults docs/engineer.md states are the code's."""

import re
from pathlib import Path

import pytest
import yaml

from ticketing.attachments import AttachmentSettings
from ticketing.preventive import PreventiveSettings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "config" / "faultline.yaml").read_text()
DOC = (ROOT / "docs" / "engineer.md").read_text()


def commented_section(name: str) -> dict:
    lines = SAMPLE[SAMPLE.index(f"# {name}:"):].splitlines()
    block = []
    for line in lines:
        if not line.startswith("#") or (block and re.match(r"#\s*$", line)):
            break
        block.append(re.sub(r"\s+# .*$", "", line[2:]))
    return yaml.safe_load("\n".join(block))[name]


@pytest.mark.parametrize("name, model", [("attachments", AttachmentSettings), ("preventive", PreventiveSettings)])
def test_the_commented_sample_validates(name, model):
    model(**commented_section(name))


def test_the_sample_attachment_limits_are_the_defaults_and_the_doc_says_them():
    defaults = AttachmentSettings()
    assert AttachmentSettings(**commented_section("attachments")).max_bytes == defaults.max_bytes
    for kind, limit in defaults.max_bytes.items():
        assert f"| {kind} | {limit:,} bytes" in DOC, kind
    assert f"{defaults.max_order_bytes:,} bytes" in DOC
