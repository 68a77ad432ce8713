"""Labels, assets and episodes for tests of `service.evaluate.score`, made by hand on a day scale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from faultline.service.evaluate import Episode

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)


@dataclass
class FakeLabel:
    """What `score` reads of a simulator label."""

    asset: str | None
    sensors: tuple
    fault_mode: str
    kind: str
    onset: datetime
    failure: datetime | None
    end: datetime | None
    gateway: str | None = None


@dataclass
class FakeAsset:
    """What `score` reads of an asset: the gateway it reports through."""

    gateway: str | None


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


def ep(asset: str, sensor: str, start: float, mode: str = "anomaly", data_quality=None) -> Episode:
    """An episode of rule ``rule``, severity low, opened on day ``start`` and still open."""
    return Episode(asset, sensor, "rule", mode, "low", day(start), None, data_quality)
