"""The service under test: a `Runtime` on files in a temporary directory, and the real app over it.

No MQTT here (the end-to-end tests add the real broker): batches are handed to detection the way the
ingest pipeline hands written batches, after writing them to the embedded store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from faultline.ingest.readings import Readings, SeriesKey

SITE = "north"
# one check: bearing temperature over 90 °C for two readings opens a "high" finding
DETECTORS = {
    "classes": {
        "default": {
            "checks": {
                "hot": {
                    "sensor": "bearing_temp",
                    "detector": "static_limit",
                    "params": {"high": 90},
                    "fault_mode": "overheating",
                    "rule": {
                        "alarm": 1.0,
                        "clear": 0.95,
                        "n": 2,
                        "m": 2,
                        "severity_levels": {"high": 1.0, "critical": 1.5},
                    },
                }
            }
        }
    }
}


def service_settings(tmp: Path, detectors: dict | None = None, **sections):
    from faultline.service.settings import settings_from_dict
    from faultline.ticketing import default_ticketing_config

    ticketing = default_ticketing_config().model_dump(mode="json")
    ticketing.update(store_url=f"sqlite:///{tmp / 'orders.sqlite'}", asset_criticality={"P-1": "A", "P-2": "C"})
    data = {
        "store": {"path": str(tmp / "readings.sqlite")},
        "spool": {"path": str(tmp / "spool")},
        "ingest": {"dead_letter_path": str(tmp / "dead.sqlite")},
        "metrics": {"port": 0},
        "detectors": DETECTORS if detectors is None else detectors,
        "ticketing": ticketing,
        "service": {"state_path": str(tmp / "service.sqlite")},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return settings_from_dict(data, "test", env={})


def batch(asset: str, sensor: str, start_s: int, values, period_s: int = 60, site: str = SITE) -> Readings:
    """Readings of one stream, one every ``period_s`` from epoch second ``start_s``."""
    values = np.asarray(values, dtype=np.float64)
    ts = (start_s + period_s * np.arange(len(values))) * 1_000_000_000
    return Readings.single_series(
        SeriesKey.of("telemetry", {"site": site, "asset": asset, "sensor": sensor}), ts, values
    )


T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


@dataclass
class Api:
    client: object
    runtime: object
    tokens: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def ingest(self, readings: Readings) -> None:
        """Write to the store and detect, as the pipeline does for a written batch."""
        from faultline.ingest.writers import SqliteStore

        store = SqliteStore(self.runtime.settings.store.path)
        store.write(readings)
        store.close()
        self.runtime.detection.handle(readings)


ROLES = ("junior_engineer", "mid_engineer", "senior_engineer", "reliability_engineer", "manager", "admin")


@pytest.fixture
def api(tmp_path):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime

    settings = service_settings(tmp_path)
    runtime = Runtime(settings)
    tokens = {role: runtime.tokens.create(role, f"{role}-1", runtime.clock.now())[1] for role in ROLES}
    with TestClient(create_app(settings, runtime)) as client:
        yield Api(client, runtime, tokens)
    runtime.close()
