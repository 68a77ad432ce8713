"""Wiring of the preventive schedules: the fleet they cover and running hours from stored telemetry.

`ticketing.preventive` decides what is due; it does not read telemetry or detector configuration
itself (ticketing imports neither). This module gives it both, from the runtime: the assets of a
class and their ticketing site from the detector configuration in force, and running hours counted
over the readings store (the embedded SQLite store or InfluxDB, through ``service.readers``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from faultline.ticketing.lifecycle import config_deadlines
from faultline.ticketing.preventive import MeterRule, PreventiveScheduler, hours_above


class DetectorFleet:
    """Assets of a class, and the ticketing site of an asset, from the runtime's detector configuration."""

    def __init__(self, runtime):
        self.runtime = runtime

    def assets_of_class(self, asset_class: str) -> list[str]:
        config = self.runtime.detection.engine.config
        return sorted(name for name, asset in config.assets.items() if asset.class_ == asset_class)

    def site_of(self, asset: str) -> str:
        """The detector configuration's site of the asset, else the one its telemetry came with."""
        site = self.runtime.detection.site_of(asset)
        if site == "default":
            stored = sorted({s.site for s in self.runtime.reader.series() if s.asset == asset and s.site})
            site = stored[0] if stored else site
        return self.runtime.ticketing_site(site)


class StoredRunningHours:
    """Running hours of an asset from the readings store (see `ticketing.preventive.RunningHours`)."""

    def __init__(self, reader):
        self.reader = reader

    def __call__(self, site: str, asset: str, rule: MeterRule, since: datetime | None, until: datetime) -> float:
        matching = [s for s in self.reader.series() if s.asset == asset and s.sensor == rule.sensor]
        if not matching:
            return 0.0
        # the stream of the asset's own site when the store names sites another way, the first one
        series = min(matching, key=lambda s: s.site != site)
        start_ns = 0 if since is None else int(since.timestamp() * 1e9)
        ts, values = self.reader.query(series, start_ns, int(until.timestamp() * 1e9))
        return hours_above(np.asarray(ts), np.asarray(values, dtype=np.float64), rule.running_above, rule.max_gap)


def preventive_scheduler(runtime) -> PreventiveScheduler | None:
    """The scheduler of the ``preventive:`` section over ``runtime``'s store (None without schedules)."""
    from faultline.ticketing.assignment import Assigner

    settings = runtime.settings.preventive
    if not settings.schedules:
        return None
    config = runtime.ticketing
    return PreventiveScheduler(
        settings,
        runtime.orders,
        runtime.clock,
        DetectorFleet(runtime),
        running_hours=StoredRunningHours(runtime.reader),
        deadlines=config_deadlines(config),
        assign=Assigner.from_config(config, runtime.orders).choose,
        notify=runtime.on_order_event,
    )
