"""Small fleets for the simulator tests, built as plain data so each test states what it varies."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

START = datetime(2026, 1, 5, tzinfo=timezone.utc)

# SKF 6205-class deep-groove bearing: 9 balls of 7.94 mm on a 39.04 mm pitch circle.
BEARING_6205 = {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04, "contact_angle_deg": 0}


def pump(asset_id: str = "P-1", **overrides) -> dict:
    """A pump at one steady load that never stops, so only the fault under test changes its signals."""
    asset = {
        "id": asset_id,
        "site": "plant",
        "type": "centrifugal_pump",
        "running_speed_hz": 25.0,
        "iso_group": 2,
        "criticality": "A",
        "bearing": dict(BEARING_6205),
        "rated_current_a": 50,
        "duty": {"load_levels": [0.8], "stops_per_day": 0},
    }
    asset.update(overrides)
    return asset


def fleet_data(*assets: dict, **top) -> dict:
    data = {
        "seed": 7,
        "scalar_period": "60s",
        "ambient_daily_swing_c": 0.0,
        "waveform": {"every": "1h", "rate_hz": 10240, "samples": 4096},
        "assets": list(assets),
    }
    data.update(top)
    return copy.deepcopy(data)


@pytest.fixture
def start() -> datetime:
    return START
