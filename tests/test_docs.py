"""The README and the docs site stay short, linked and current.

`mkdocs build --strict` (run by scripts/test.sh) checks the links between the site's pages; these
tests check what it cannot: the generated configuration reference matches the models, the README's
and the package READMEs' relative links point at files that exist, each top-level package says
what it may import, and every detector plot the Detectors page shows was drawn.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "detectors", "ticketing", "simulators", "service")


def test_the_configuration_reference_is_generated_from_the_current_models():
    run = subprocess.run(
        [sys.executable, "scripts/config_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_the_reference_has_every_section_of_the_settings():
    from faultline.service.settings import Settings

    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"## `{name}`" in page, name


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 170


@pytest.mark.parametrize("readme", ["README.md", *(f"{p}/README.md" for p in PACKAGES)])
def test_relative_links_point_at_files_that_exist(readme):
    path = ROOT / readme
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    relative = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert relative, "no links at all"
    missing = [t for t in relative if not (path.parent / t).exists()]
    assert not missing, missing


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_says_what_it_owns_and_may_import(package):
    text = (ROOT / package / "README.md").read_text()
    assert "May import" in text
    if package in ("ingest", "detectors", "ticketing"):
        others = {"ingest", "detectors", "ticketing"} - {package}
        never = text.split("**Never**", 1)[1].split(".")[0]
        assert all(f"`{o}`" in never for o in others), never


def test_the_readme_quick_start_is_included_in_the_docs_site():
    readme = (ROOT / "README.md").read_text()
    assert re.search(
        r"--8<-- \[start:quickstart\] -->\n<!-- quick-start:.*?-->\n```sh\n.*?```\n<!-- --8<-- \[end:quickstart\]",
        readme,
        re.S,
    )
    assert '--8<-- "README.md:quickstart"' in (ROOT / "docs" / "quick-start.md").read_text()


def test_every_plot_the_detectors_page_shows_exists():
    page = (ROOT / "docs" / "detectors.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((img/detectors/[^)]+\.png)\)", page)
    assert len(images) >= 8
    for image in images:
        assert (ROOT / "docs" / image).stat().st_size > 5_000, image
