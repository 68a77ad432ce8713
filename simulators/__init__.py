"""A fleet of virtual pumps, motors and fans with labelled faults and misbehaving gateways.

The simulator is a gateway emulator: it speaks Faultline's MQTT payload formats and never imports
``ingest``. Offline, it hands detectors plain numpy arrays and the ground truth::

    from datetime import datetime, timedelta, timezone
    from faultline.simulators import Fleet, simulate_offline

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

Live, `publish_run` sends a run over MQTT (QoS 1, at most ``window`` messages unacknowledged) in
each asset's payload format, through each gateway's wire faults, in real time or accelerated, and
returns the labels with what the wire faults did. `write_fleet` generates and writes one asset at a
time (CSV or Parquet), `write_run` writes an in-memory run, `write_labels` the label file.
`read_recording` and `recording_messages` replay a recorded CSV.

Hard mode (``mode: hard`` in the fleet file, or ``simulate_offline(..., mode="hard")``) gives the
data the properties of real plant data — quantised sensors, load cycles, stops and speed changes
that are not faults, Student-t noise and glitches, faults of drawn subtlety, labelled frozen sensors
and gateway outages; see `HardMode`. ``fleet.seeds`` names the tuning and the evaluation seeds.

Determinism: every asset draws from its own random streams keyed by the seed and its id, so the
same seed and fleet give identical readings and labels, and adding an asset changes no other.
"""

from faultline.simulators.faults import Label, severity
from faultline.simulators.fleet import (
    ASSET_TYPES,
    EQUIPMENT_FAULTS,
    GATEWAY_FAULTS,
    SENSOR_FAULTS,
    Asset,
    BearingGeometry,
    Fleet,
    FleetError,
    HardMode,
    Seeds,
)
from faultline.simulators.output import read_labels, write_fleet, write_labels, write_run
from faultline.simulators.physics import ISO_20816_ZONES
from faultline.simulators.publish import BrokerError, MqttPublisher, PublishReport, publish_run
from faultline.simulators.replay import ReplayError, read_recording, recording_messages
from faultline.simulators.run import MODES, AssetTable, SimulationRun, iter_assets, simulate_offline

__all__ = [
    "ASSET_TYPES",
    "EQUIPMENT_FAULTS",
    "GATEWAY_FAULTS",
    "ISO_20816_ZONES",
    "MODES",
    "SENSOR_FAULTS",
    "Asset",
    "AssetTable",
    "BearingGeometry",
    "BrokerError",
    "Fleet",
    "FleetError",
    "HardMode",
    "Label",
    "Seeds",
    "MqttPublisher",
    "PublishReport",
    "ReplayError",
    "SimulationRun",
    "iter_assets",
    "publish_run",
    "read_labels",
    "read_recording",
    "recording_messages",
    "severity",
    "simulate_offline",
    "write_fleet",
    "write_labels",
    "write_run",
]
