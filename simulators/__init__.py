"""A fleet of virtual pumps, motors and fans with labelled faults and misbehaving gateways.

The simulator is a gateway emulator: it speaks Faultline's MQTT payload formats and never imports
``ingest``. Offline, it hands detectors plain numpy arrays and the ground truth::

    from datetime import datetime, timedelta, timezone
    from simulators import Fleet, simulate_offline

    fleet = Fleet.from_yaml("config/fleet.yaml")          # validated; errors name the key
    run = simulate_offline(fleet, seed=1, start=datetime(2026, 1, 5, tzinfo=timezone.utc),
                           duration=timedelta(days=14))     # scalar_period=timedelta(seconds=1) for live rates

    run.scalars    # {(asset, sensor): (ts int64 ns (m,), values float64 (m,))}
                   #   sensors: vibration_rms (mm/s), vibration_axial_rms (mm/s, where fitted),
                   #   bearing_temp (°C), motor_current (A); as the store would hold them
                   #   (dropouts and gateway-offline losses absent, clock skew in ts)
    run.waveforms  # {(asset, "accel"): (t0 int64 ns (B,), rate_hz float, samples float32 (B, N))}
    run.labels     # [Label]: asset, site, sensors, fault_mode, kind (equipment|sensor|gateway),
                   #   onset, failure (None unless an equipment fault), end, severity_curve, params, gateway
    run.assets     # {asset id: Asset}: site, type, running_speed_hz, iso_group, foundation,
                   #   criticality, bearing (BearingGeometry), defect_frequencies(), sensors
    run.tables     # {asset id: AssetTable}: the per-asset grid before gateway losses

Live, `publish_run` sends a run over MQTT (QoS 1, windowed acknowledgements) in the per-asset payload
format, through each gateway's wire faults, in real time or accelerated; `write_run` writes CSV or
Parquet files and `write_labels` the label file; `replay_csv` publishes a recorded CSV.

Determinism: every asset draws from its own random streams keyed by the seed and its id, so the
same seed and fleet give identical readings and labels, and adding an asset changes no other.
"""

from simulators.faults import Label, severity
from simulators.fleet import (ASSET_TYPES, EQUIPMENT_FAULTS, GATEWAY_FAULTS, SENSOR_FAULTS, Asset,
                              BearingGeometry, Fleet, FleetError, parse_duration)
from simulators.physics import ISO_20816_ZONES
from simulators.run import AssetTable, SimulationRun, simulate_offline

__all__ = [
    "ASSET_TYPES", "EQUIPMENT_FAULTS", "GATEWAY_FAULTS", "ISO_20816_ZONES", "SENSOR_FAULTS",
    "Asset", "AssetTable", "BearingGeometry", "Fleet", "FleetError", "Label", "SimulationRun",
    "parse_duration", "severity", "simulate_offline",
]
