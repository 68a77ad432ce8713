"""The fleet file: validation errors name the key and value; bearing kinematics; durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from faultline.vocabulary import parse_duration
from faultline.simulators import Fleet, FleetError
from tests.simulators.conftest import fleet_data, pump


def test_sample_fleet_covers_every_fault_mode():
    from faultline.simulators import EQUIPMENT_FAULTS, GATEWAY_FAULTS, SENSOR_FAULTS

    fleet = Fleet.from_yaml("config/fleet.yaml")
    modes = {f.mode for a in fleet.assets for f in a.faults + a.sensor_faults}
    modes |= {f.mode for g in fleet.gateways for f in g.faults}
    assert modes == set(EQUIPMENT_FAULTS) | set(SENSOR_FAULTS) | set(GATEWAY_FAULTS)
    assert {a.type for a in fleet.assets} == {"centrifugal_pump", "electric_motor", "fan"}


@pytest.mark.parametrize(
    "text, seconds", [("90m", 5400), ("2h", 7200), ("7d", 604800), ("1d12h", 129600), ("250ms", 0.25), (30, 30)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7 days", "5x", "1h30"])
def test_bad_durations_are_named(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_bpfo_bpfi_from_geometry_match_published_6205_values():
    # SKF publishes for the 6205: BPFO 3.585, BPFI 5.415, BSF 2.357 (×2 for ball spin in some
    # tables), FTF 0.398, as multiples of shaft speed.
    fleet = Fleet.from_dict(fleet_data(pump()))
    freqs = fleet.assets[0].bearing.defect_frequencies(1.0)
    assert freqs["bpfo"] == pytest.approx(3.585, abs=2e-3)
    assert freqs["bpfi"] == pytest.approx(5.415, abs=2e-3)
    assert freqs["ftf"] == pytest.approx(0.398, abs=2e-3)
    assert freqs["bsf"] == pytest.approx(2.357, abs=2e-3)


@pytest.mark.parametrize(
    "change, where",
    [
        ({"running_speed_hz": -3}, "assets.P-1.running_speed_hz"),
        ({"type": "compressor"}, "assets.P-1.type"),
        ({"criticality": "D"}, "assets.P-1.criticality"),
        ({"bearing": {"n_balls": 9, "ball_diameter_mm": 50, "pitch_diameter_mm": 40}}, "assets.P-1.bearing"),
        ({"faults": [{"mode": "imbalance", "onset": "3d", "failure": "1d"}]}, "assets.P-1.faults.[0]"),
        ({"faults": [{"mode": "rust", "onset": "1d", "failure": "3d"}]}, "assets.P-1.faults.[0].mode"),
        (
            {"sensor_faults": [{"mode": "stuck_sensor", "sensor": "accel", "start": "1d", "end": "2d"}]},
            "assets.P-1.sensor_faults.[0].sensor",
        ),
        ({"colour": "red"}, "assets.P-1.colour"),
        ({"gateway": "gw-9"}, "assets.P-1"),
    ],
)
def test_invalid_fleet_errors_name_the_key(change, where):
    with pytest.raises(FleetError) as info:
        Fleet.from_dict(fleet_data(pump(**change)))
    assert where in str(info.value)


def test_unknown_gateway_and_duplicate_ids_are_errors():
    with pytest.raises(FleetError, match="unknown gateway 'gw-9'"):
        Fleet.from_dict(fleet_data(pump(gateway="gw-9")))
    with pytest.raises(FleetError, match=r"duplicate id\(s\) \['P-1'\]"):
        Fleet.from_dict(fleet_data(pump(), pump()))


def test_broker_must_be_an_mqtt_address():
    assert Fleet.from_dict(fleet_data(pump(), broker="mqtt://10.0.0.5:1884")).broker == "mqtt://10.0.0.5:1884"
    with pytest.raises(FleetError, match="broker: .*got 'http://broker'"):
        Fleet.from_dict(fleet_data(pump(), broker="http://broker"))


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "fleet.yaml"
    bad.write_text("assets: [\n")
    with pytest.raises(FleetError, match="fleet.yaml: not valid YAML"):
        Fleet.from_yaml(bad)
    with pytest.raises(FleetError, match="cannot read fleet file"):
        Fleet.from_yaml(tmp_path / "missing.yaml")
