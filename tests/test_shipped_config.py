"""The shipped config/ files describe one plant: every site and asset the fleet and the detectors can
produce is a ticketing site with the same criticality; a mismatch stops `run` with the mapping named."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_files_agree():
    from faultline.service.cli import app

    result = CliRunner().invoke(
        app, ["check-config", str(ROOT / "config/faultline.yaml"), "--fleet", str(ROOT / "config/fleet.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_a_fleet_site_ticketing_does_not_know_is_named(tmp_path):
    from faultline.service.cli import app

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text((ROOT / "config/fleet.yaml").read_text().replace("site: south", "site: east"))
    result = CliRunner().invoke(app, ["check-config", str(ROOT / "config/faultline.yaml"), "--fleet", str(fleet)])
    assert result.exit_code == 2
    assert "fleet assets.F-201.site: 'east' is not a ticketing site (configured: north, south)" in result.output


def test_run_refuses_to_start_on_a_detector_asset_of_an_unknown_site(tmp_path):
    from faultline.service.compose import StartupError, build_service
    from faultline.service.settings import default_detectors_config, settings_from_dict

    detectors = default_detectors_config().model_dump(mode="json", by_alias=True)
    detectors["assets"]["P-101"]["site"] = "plant-a"
    settings = settings_from_dict(
        {"detectors": detectors, "service": {"state_path": str(tmp_path / "s.sqlite")}}, "test", env={}
    )
    with pytest.raises(
        StartupError,
        match=r"^detectors.assets.P-101.site: 'plant-a' is not a ticketing site "
        r"\(configured: north, south\)",
    ):
        build_service(settings)


def test_run_says_so_in_one_line_and_exits_2(tmp_path):
    from faultline.service.cli import app
    from faultline.service.settings import default_detectors_config

    detectors = default_detectors_config().model_dump(mode="json", by_alias=True)
    detectors["assets"]["P-101"]["site"] = "plant-a"
    config = tmp_path / "faultline.yaml"
    config.write_text(
        yaml.safe_dump(
            {"detectors": detectors, "metrics": {"port": 0}, "service": {"state_path": str(tmp_path / "s.sqlite")}}
        )
    )
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "faultline: cannot start: detectors.assets.P-101.site: 'plant-a' is not a ticketing site (configured: north, "
        "south); add it under ticketing.sites or set ticketing.default_site"
    ]
