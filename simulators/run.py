"""A whole simulated run, generated offline: readings, waveform blocks and ground-truth labels."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from faultline.simulators import physics
from faultline.simulators.faults import (
    Label,
    apply_sensor_fault,
    draw_random_faults,
    harden_faults,
    harden_fleet,
    severity,
    severity_curve,
)
from faultline.simulators.fleet import Asset, EquipmentFault, Fleet, Gateway, GatewayFault, HardMode
from faultline.simulators.gateway import offline_mask, skew_ns

__all__ = ["AssetTable", "MODES", "SimulationRun", "iter_assets", "simulate_offline", "rng_stream", "to_ns"]

NS = 1_000_000_000
DEFAULT_START = datetime(2026, 1, 5, tzinfo=timezone.utc)

# Where each equipment fault shows first or at all; a label lists those among the asset's sensors.
_SHOWS_IN = {
    "imbalance": ("vibration_rms", "accel"),
    "misalignment": ("vibration_rms", "vibration_axial_rms", "accel", "motor_current"),
    "bearing_outer_race": ("accel", "vibration_rms", "bearing_temp"),
    "bearing_inner_race": ("accel", "vibration_rms", "bearing_temp"),
    "lubrication_loss": ("bearing_temp", "accel", "vibration_rms", "motor_current"),
    "looseness": ("vibration_rms", "accel"),
}

# Sub-streams of an asset's seed; fixed positions so adding a stream later changes none of these.
_REGIME, _NOISE, _WAVEFORM, _SENSOR_FAULTS, _HARD_REGIME, _GLITCHES = range(6)
MODES = ("easy", "hard")


def rng_stream(seed: int, *key: str | int) -> np.random.Generator:
    """An independent random stream named by ``key`` (e.g. ``("asset", "P-101", 0)``).

    Streams are keyed by name, not by position in the fleet, so adding or removing an asset does not
    change any other asset's readings.
    """
    spawn_key = tuple(k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


def to_ns(when: datetime) -> int:
    """Epoch nanoseconds of an aware datetime, exactly (no float rounding)."""
    if when.tzinfo is None:
        raise ValueError(f"start {when.isoformat()} has no time zone; give e.g. 2026-01-05T00:00:00Z")
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


@dataclass
class AssetTable:
    """One asset's readings on its scalar grid, as its sensors produced them.

    Attributes
    ----------
    asset : Asset
    elapsed_ns : ndarray of int64, shape (n,)
        True sample time since the start of the run.
    ts_ns : ndarray of int64, shape (n,)
        Timestamp the gateway reports (epoch ns): true time plus any clock skew.
    columns : dict of str to ndarray of float64, shape (n,)
        One column per scalar sensor; NaN where the sensor produced no reading (dropout).
    lost : ndarray of bool, shape (n,)
        Taken while the gateway was offline: never delivered.
    waveform_t0_ns : ndarray of int64, shape (B,)
        Reported start of each acceleration block (epoch ns).
    waveform_elapsed_ns : ndarray of int64, shape (B,)
    waveform : ndarray of float32, shape (B, N)
        Acceleration (m/s²); empty if the asset has no ``accel`` sensor.
    waveform_rate_hz : float
    waveform_lost : ndarray of bool, shape (B,)
    """

    asset: Asset
    elapsed_ns: np.ndarray
    ts_ns: np.ndarray
    columns: dict[str, np.ndarray]
    lost: np.ndarray
    waveform_t0_ns: np.ndarray
    waveform_elapsed_ns: np.ndarray
    waveform: np.ndarray
    waveform_rate_hz: float
    waveform_lost: np.ndarray

    def delivered(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Timestamps (n',) and columns (n',) of the rows that reach the store."""
        if not self.lost.any():
            return self.ts_ns, self.columns
        keep = ~self.lost
        return self.ts_ns[keep], {s: v[keep] for s, v in self.columns.items()}


@dataclass
class SimulationRun:
    """The result of `simulate_offline`.

    Attributes
    ----------
    fleet : Fleet
    seed : int
    start : datetime
    duration : timedelta
    tables : dict of str to AssetTable
        Per asset, everything its sensors produced (before gateway losses).
    labels : list of Label
        Ground truth: one per equipment, sensor and gateway fault.
    mode : str
        ``easy`` or ``hard``. In hard mode `fleet` is the fleet as run: its faults carry their drawn
        magnitudes and onsets, and the drawn frozen sensors and gateway outages are among its faults.
    """

    fleet: Fleet
    seed: int
    start: datetime
    duration: timedelta
    tables: dict[str, AssetTable]
    labels: list[Label] = field(default_factory=list)
    mode: str = "easy"

    @property
    def assets(self) -> dict[str, Asset]:
        """Asset metadata by id (site, type, speed, ISO group, bearing, criticality, sensors)."""
        return {a.id: a for a in self.fleet.assets}

    @cached_property
    def scalars(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """``(asset, sensor)`` → (ts int64 ns shape (m,), values float64 shape (m,)) as the store would hold them.

        Dropouts and readings lost while a gateway was offline are absent; clock skew is in the
        timestamps, as a real store would have it.
        """
        out = {}
        for asset_id, table in self.tables.items():
            ts, columns = table.delivered()
            for sensor, values in columns.items():
                ok = ~np.isnan(values)
                out[(asset_id, sensor)] = (ts[ok], values[ok])
        return out

    @cached_property
    def waveforms(self) -> dict[tuple[str, str], tuple[np.ndarray, float, np.ndarray]]:
        """``(asset, "accel")`` → (t0 int64 ns shape (B,), rate_hz, samples float32 shape (B, N))."""
        out = {}
        for asset_id, table in self.tables.items():
            if len(table.waveform_t0_ns) or "accel" in table.asset.sensors:
                keep = ~table.waveform_lost
                out[(asset_id, "accel")] = (table.waveform_t0_ns[keep], table.waveform_rate_hz, table.waveform[keep])
        return out


def simulate_offline(
    fleet: Fleet,
    seed: int | None = None,
    start: datetime | None = None,
    duration: timedelta = timedelta(days=7),
    scalar_period: timedelta | None = None,
    mode: str | None = None,
) -> SimulationRun:
    """Generate a whole run in memory: every asset's readings, waveform blocks and the labels.

    Parameters
    ----------
    fleet : Fleet
    seed : int, optional
        Defaults to ``fleet.seed``. Same seed and fleet give identical arrays and labels.
    start : datetime, optional
        Aware start time; defaults to 2026-01-05T00:00Z.
    duration : timedelta
    scalar_period : timedelta, optional
        Overrides the fleet's and every asset's scalar sample period.
    mode : {"easy", "hard"}, optional
        Overrides the fleet's ``mode``. Easy is the default and is unchanged by hard mode's
        existence: the same seed gives the same bytes as before it.
    """
    seed = fleet.seed if seed is None else seed
    start = start or DEFAULT_START
    tables, labels = {}, []
    stream = iter_assets(fleet, seed, start, duration, scalar_period, mode)
    for table, asset_labels in stream:
        tables[table.asset.id] = table
        labels += asset_labels
    return SimulationRun(stream.fleet, seed, start, duration, tables, labels + stream.gateway_labels(), stream.mode)


class iter_assets:
    """Generate one asset at a time, so a long run can be written to files in bounded memory.

    Iterating yields ``(AssetTable, labels of that asset)``; afterwards `gateway_labels` gives the
    gateway faults' labels with the losses counted over every asset seen. ``fleet`` is the fleet as
    run (in hard mode with its drawn fault sizes and data-quality events).
    """

    def __init__(
        self,
        fleet: Fleet,
        seed: int,
        start: datetime,
        duration: timedelta,
        scalar_period: timedelta | None = None,
        mode: str | None = None,
    ):
        self.mode = mode or fleet.mode
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {MODES}")
        # configured fault counts: what lies beyond them was drawn (labels say so)
        self._configured = {a.id: (len(a.faults), len(a.sensor_faults)) for a in fleet.assets}
        self._configured_gateway = {g.id: len(g.faults) for g in fleet.gateways}
        if self.mode == "hard":
            fleet = harden_fleet(fleet, duration, lambda *key: rng_stream(seed, *key))
        self.fleet, self.seed, self.start, self.duration, self.scalar_period = (
            fleet,
            seed,
            start,
            duration,
            scalar_period,
        )
        self._counts: dict[tuple[str, int], int] = {}

    def __iter__(self) -> Iterator[tuple[AssetTable, list[Label]]]:
        fleet, seed, start = self.fleet, self.seed, self.start
        start_ns = to_ns(start)
        extra = draw_random_faults(fleet.random_faults, fleet.assets, self.duration, rng_stream(seed, "random-faults"))
        gateways = {g.id: g for g in fleet.gateways}
        hard = fleet.hard if self.mode == "hard" else None
        for asset in fleet.assets:
            gateway = gateways.get(asset.gateway) if asset.gateway else None
            drawn = tuple(extra.get(asset.id, ()))
            if hard is not None and drawn:
                drawn = harden_faults(drawn, hard, rng_stream(seed, "hard-random-faults", asset.id))
            n_faults, n_sensor_faults = self._configured[asset.id]
            table, labels = _simulate_asset(
                fleet,
                asset,
                gateway,
                asset.faults + drawn,
                n_faults,
                seed,
                start,
                start_ns,
                self.duration,
                self.scalar_period,
                hard,
                n_sensor_faults,
            )
            if gateway is not None:
                for i, fault in enumerate(gateway.faults):
                    key = (gateway.id, i)
                    self._counts[key] = self._counts.get(key, 0) + _readings_in_window(table, fault)
            yield table, labels

    def gateway_labels(self) -> list[Label]:
        """One label per gateway fault; offline losses and skewed readings are counted.

        Wire-only faults (duplicate, out-of-order, malformed) get their counts when published.
        """
        labels = []
        for gateway in self.fleet.gateways:
            carried = [a for a in self.fleet.assets if a.gateway == gateway.id]
            sensors = tuple(sorted({s for a in carried for s in a.sensors}))
            for i, fault in enumerate(gateway.faults):
                params: dict = {"assets": [a.id for a in carried]}
                if fault.mode == "offline":
                    params["lost_readings"] = self._counts.get((gateway.id, i), 0)
                elif fault.mode == "clock_skew":
                    params.update(
                        skewed_readings=self._counts.get((gateway.id, i), 0), offset_s=fault.offset.total_seconds()
                    )
                else:
                    params["rate"] = fault.rate
                    if fault.mode == "out_of_order":
                        params["delay_messages"] = fault.delay
                if i >= self._configured_gateway.get(gateway.id, 0):
                    params["drawn"] = True  # a hard-mode outage, not one written in the fleet file
                labels.append(
                    Label(
                        None,
                        gateway.site,
                        sensors,
                        fault.mode,
                        "gateway",
                        self.start + fault.start,
                        None,
                        self.start + fault.end,
                        "window",
                        params,
                        gateway=gateway.id,
                    )
                )
        return labels


def _readings_in_window(table: AssetTable, fault: GatewayFault) -> int:
    """Scalar readings plus waveform blocks an asset produced inside a fault's window."""
    lo, hi = fault.start.total_seconds() * NS, fault.end.total_seconds() * NS
    rows = (table.elapsed_ns >= lo) & (table.elapsed_ns < hi)
    count = sum(int(np.count_nonzero(~np.isnan(v[rows]))) for v in table.columns.values())
    return count + int(np.count_nonzero((table.waveform_elapsed_ns >= lo) & (table.waveform_elapsed_ns < hi)))


def _simulate_asset(
    fleet: Fleet,
    asset: Asset,
    gateway: Gateway | None,
    faults: tuple[EquipmentFault, ...],
    n_configured: int,
    seed: int,
    start: datetime,
    start_ns: int,
    duration: timedelta,
    scalar_period: timedelta | None,
    hard: HardMode | None = None,
    n_configured_sensor: int | None = None,
) -> tuple[AssetTable, list[Label]]:
    period_ns = int((scalar_period or fleet.period_of(asset)).total_seconds() * NS)
    duration_ns = int(duration.total_seconds() * NS)
    elapsed = np.arange(duration_ns // period_ns, dtype=np.int64) * period_ns
    ts = start_ns + elapsed

    regime_rng = rng_stream(seed, "asset", asset.id, _REGIME)
    ambient = physics.ambient_temperature(ts, fleet.ambient_mean_c, fleet.ambient_daily_swing_c)
    if hard is None:
        speed, load, since_start = physics.operating_regime(asset, elapsed, regime_rng)
    else:
        speed, load, since_start = physics.hard_regime(
            asset, elapsed, ts, hard, regime_rng, rng_stream(seed, "asset", asset.id, _HARD_REGIME)
        )
        # one weather per site: assets side by side feel the same afternoon
        ambient = ambient + physics.weather(
            len(elapsed), period_ns / NS, hard.weather_c, rng_stream(seed, "site-weather", asset.site)
        )
    levels: dict[str, np.ndarray] = {}
    labels = []
    for i, fault in enumerate(faults):
        s = severity(fault, elapsed)
        levels[fault.mode] = np.maximum(levels[fault.mode], s) if fault.mode in levels else s
        params: dict[str, Any] = {"growth": fault.growth, "random": i >= n_configured}
        if fault.magnitude != 1.0:
            params["magnitude"] = fault.magnitude  # severity reached at failure (hard mode)
        if fault.mode.startswith("bearing"):
            params.update({k: round(v, 3) for k, v in asset.defect_frequencies().items()})
        labels.append(
            Label(
                asset.id,
                asset.site,
                tuple(x for x in _SHOWS_IN[fault.mode] if x in asset.sensors),
                fault.mode,
                "equipment",
                start + fault.onset,
                start + fault.failure,
                None,
                severity_curve(fault),
                params,
            )
        )
    comp = physics.components(asset, speed, load, since_start, ambient, levels)
    noise_rng = rng_stream(seed, "asset", asset.id, _NOISE)
    if hard is None:
        columns = physics.scalar_readings(asset, comp, period_ns / NS, noise_rng)
    else:
        columns = physics.hard_scalar_readings(
            asset, comp, period_ns / NS, hard, noise_rng, rng_stream(seed, "asset", asset.id, _GLITCHES)
        )

    fault_rng = rng_stream(seed, "asset", asset.id, _SENSOR_FAULTS)
    sensor_labels = []
    for i, sensor_fault in enumerate(asset.sensor_faults):
        params = apply_sensor_fault(sensor_fault, elapsed, columns[sensor_fault.sensor], fault_rng)
        if n_configured_sensor is not None and i >= n_configured_sensor:
            params["drawn"] = True  # a hard-mode frozen sensor, not one written in the fleet file
        sensor_labels.append((sensor_fault, params))
    if hard is not None:
        # the transmitter reports in steps, whatever the sensor's fault did to the value
        resolution: dict[str, float] = dict(hard.resolution.items())
        for name in columns:
            columns[name] = physics.quantise(columns[name], resolution.get(name, 0.0))
        for sensor_fault, params in sensor_labels:
            if "value" in params:
                params["value"] = float(
                    physics.quantise(np.array([params["value"]]), resolution.get(sensor_fault.sensor, 0.0))[0]
                )
    for sensor_fault, params in sensor_labels:
        labels.append(
            Label(
                asset.id,
                asset.site,
                (sensor_fault.sensor,),
                sensor_fault.mode,
                "sensor",
                start + sensor_fault.start,
                None,
                start + sensor_fault.end,
                "window",
                params,
            )
        )

    wave = fleet.waveform_of(asset)
    if "accel" in asset.sensors and len(elapsed):
        every_ns = int(wave.every.total_seconds() * NS)
        span_ns = int(wave.samples / wave.rate_hz * NS)
        w_elapsed = np.arange(0, duration_ns - span_ns + 1, every_ns, dtype=np.int64)
        rows = np.clip(np.searchsorted(elapsed, w_elapsed, side="right") - 1, 0, len(elapsed) - 1)
        blocks = physics.waveform_blocks(asset, comp, rows, wave, rng_stream(seed, "asset", asset.id, _WAVEFORM))
    else:
        w_elapsed = np.empty(0, dtype=np.int64)
        blocks = np.empty((0, wave.samples), dtype=np.float32)

    table = AssetTable(
        asset,
        elapsed,
        ts + skew_ns(gateway, elapsed),
        columns,
        offline_mask(gateway, elapsed),
        start_ns + w_elapsed + skew_ns(gateway, w_elapsed),
        w_elapsed,
        blocks,
        wave.rate_hz,
        offline_mask(gateway, w_elapsed),
    )
    return table, labels
