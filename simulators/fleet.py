"""The fleet description: assets, their sensors and bearings, injected faults, gateways.

A fleet is one YAML file validated by the pydantic models below before anything is generated or
published; an error names the key path and the bad value. Fault times are *offsets from the start
of the run* (``onset: 3d``), so one fleet file serves any ``--start``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from faultline.vocabulary import Duration, parse_duration  # Duration is signed (a clock skew)

__all__ = [
    "ASSET_TYPES",
    "EQUIPMENT_FAULTS",
    "SENSOR_FAULTS",
    "GATEWAY_FAULTS",
    "SCALAR_SENSORS",
    "Asset",
    "BearingGeometry",
    "DutyCycle",
    "EquipmentFault",
    "Fleet",
    "FleetError",
    "Gateway",
    "GatewayFault",
    "HardMode",
    "RandomFaults",
    "Seeds",
    "SensorFault",
    "Waveform",
]

ASSET_TYPES = ("centrifugal_pump", "electric_motor", "fan")
SCALAR_SENSORS = ("vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current")
EquipmentMode = Literal[
    "imbalance", "misalignment", "bearing_outer_race", "bearing_inner_race", "lubrication_loss", "looseness"
]
EQUIPMENT_FAULTS: tuple[EquipmentMode, ...] = (
    "imbalance",
    "misalignment",
    "bearing_outer_race",
    "bearing_inner_race",
    "lubrication_loss",
    "looseness",
)
SENSOR_FAULTS = ("stuck_sensor", "dropout", "spike", "drift")
GATEWAY_FAULTS = ("offline", "duplicate", "out_of_order", "clock_skew", "malformed")


class FleetError(ValueError):
    """Raised when a fleet file cannot be read or does not validate; the message names the key."""


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError(f"must not be negative, got {value}")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be positive, got {value}")
    return value


Offset = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]  # since the start
Span = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearingGeometry(_Model):
    """Rolling-element bearing geometry, as on the bearing maker's data sheet."""

    n_balls: int = Field(gt=2)
    ball_diameter_mm: float = Field(gt=0)
    pitch_diameter_mm: float = Field(gt=0)
    contact_angle_deg: float = Field(default=0.0, ge=0, lt=90)

    @model_validator(mode="after")
    def _ball_fits(self):
        if self.ball_diameter_mm >= self.pitch_diameter_mm:
            raise ValueError(
                f"ball_diameter_mm {self.ball_diameter_mm} must be smaller than "
                f"pitch_diameter_mm {self.pitch_diameter_mm}"
            )
        return self

    def defect_frequencies(self, shaft_hz: float) -> dict[str, float]:
        """Bearing defect frequencies in Hz for a shaft speed, outer race stationary.

        Standard rolling-element bearing kinematics (e.g. Randall & Antoni, "Rolling element bearing
        diagnostics — a tutorial", MSSP 25 (2011), eq. 1-4)::

            FTF  = f_r/2 · (1 − d/D·cos φ)
            BPFO = n·f_r/2 · (1 − d/D·cos φ)
            BPFI = n·f_r/2 · (1 + d/D·cos φ)
            BSF  = D/(2d) · f_r · (1 − (d/D·cos φ)²)
        """
        ratio = self.ball_diameter_mm / self.pitch_diameter_mm * math.cos(math.radians(self.contact_angle_deg))
        n = self.n_balls
        return {
            "ftf": shaft_hz / 2 * (1 - ratio),
            "bpfo": n * shaft_hz / 2 * (1 - ratio),
            "bpfi": n * shaft_hz / 2 * (1 + ratio),
            "bsf": self.pitch_diameter_mm / (2 * self.ball_diameter_mm) * shaft_hz * (1 - ratio * ratio),
        }


class DutyCycle(_Model):
    """How the asset is operated: load levels it dwells at, and unplanned/planned stops."""

    load_levels: tuple[float, ...] = (0.55, 0.75, 0.95)
    mean_dwell: Span = timedelta(hours=6)
    stops_per_day: float = Field(default=0.3, ge=0)
    mean_stop: Span = timedelta(minutes=40)

    @model_validator(mode="after")
    def _levels(self):
        if not self.load_levels or any(not 0 < x <= 1.2 for x in self.load_levels):
            raise ValueError(f"load_levels {self.load_levels} must be non-empty fractions in (0, 1.2]")
        return self


class EquipmentFault(_Model):
    """A developing machine fault: severity grows from 0 at ``onset`` to 1 at ``failure``.

    Severity 1 is the point where the machine must be stopped: vibration reaches the ISO 20816 zone
    C/D boundary (or the bearing temperature its alarm rise).
    """

    mode: Literal[
        "imbalance", "misalignment", "bearing_outer_race", "bearing_inner_race", "lubrication_loss", "looseness"
    ]
    onset: Offset
    failure: Offset
    growth: Literal["exponential", "linear", "step"] = "exponential"
    rate: float = Field(default=4.0, gt=0, description="exponential growth constant (per fault life)")
    magnitude: float = Field(
        default=1.0, gt=0, le=1, description="severity reached at failure; below 1 the fault stays subtle"
    )

    @model_validator(mode="after")
    def _order(self):
        if self.failure <= self.onset:
            raise ValueError(f"failure {self.failure} must come after onset {self.onset}")
        return self


class _Window(_Model):
    """A fault active from ``start`` to ``end`` (offsets from the start of the run)."""

    start: Offset
    end: Offset

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must come after start {self.start}")
        return self


class SensorFault(_Window):
    """A sensor misbehaving between ``start`` and ``end`` (the machine itself is fine)."""

    mode: Literal["stuck_sensor", "dropout", "spike", "drift"]
    sensor: Literal["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current"]
    rate_per_hour: float = Field(default=2.0, gt=0, description="spikes per hour (spike)")
    magnitude: float = Field(default=0.0, description="spike height, or drift per day; 0 = sensor default")


class GatewayFault(_Window):
    """A gateway misbehaving on the wire between ``start`` and ``end``."""

    mode: Literal["offline", "duplicate", "out_of_order", "clock_skew", "malformed"]
    rate: float = Field(default=0.02, ge=0, le=1, description="share of messages affected")
    offset: Duration = Field(default=timedelta(0), description="clock skew added to timestamps")
    delay: int = Field(default=3, ge=1, description="messages an out-of-order message is held back")


class Gateway(_Model):
    """An edge box that forwards several assets' readings; its faults hit everything it carries."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    site: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    faults: tuple[GatewayFault, ...] = ()


class Waveform(_Model):
    """Acceleration waveform capture: ``samples`` at ``rate_hz`` every ``every``."""

    every: Span = timedelta(minutes=10)
    rate_hz: float = Field(default=10240.0, ge=5000)
    samples: int = Field(default=2048, ge=256)
    resonance_hz: float | None = Field(default=None, gt=0, description="structural resonance; type default")


class Asset(_Model):
    """One machine and its sensors."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    site: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["centrifugal_pump", "electric_motor", "fan"]
    running_speed_hz: float = Field(gt=0, le=500)
    iso_group: Literal[1, 2] = 2
    foundation: Literal["rigid", "flexible"] = "rigid"
    criticality: Literal["A", "B", "C"] = "B"
    bearing: BearingGeometry
    rated_current_a: float = Field(default=50.0, gt=0)
    sensors: tuple[Literal["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current", "accel"], ...] = (
        "vibration_rms",
        "bearing_temp",
        "motor_current",
        "accel",
    )
    payload: Literal["single", "batch", "gateway"] = "single"
    batch_size: int = Field(default=60, ge=1, description="readings per batch or gateway message")
    gateway: str | None = None
    scalar_period: Span | None = None
    waveform: Waveform | None = None
    duty: DutyCycle = DutyCycle()
    faults: tuple[EquipmentFault, ...] = ()
    sensor_faults: tuple[SensorFault, ...] = ()

    @model_validator(mode="after")
    def _consistent(self):
        if len(set(self.sensors)) != len(self.sensors):
            raise ValueError(f"sensors {self.sensors} lists a sensor twice")
        if self.payload == "gateway" and not self.gateway:
            raise ValueError("payload 'gateway' needs a gateway: <id>")
        for f in self.sensor_faults:
            if f.sensor not in self.sensors:
                raise ValueError(f"sensor_faults: sensor {f.sensor!r} is not among this asset's sensors {self.sensors}")
        return self

    @property
    def scalar_sensors(self) -> tuple[str, ...]:
        return tuple(s for s in self.sensors if s != "accel")

    def defect_frequencies(self) -> dict[str, float]:
        """BPFO, BPFI, BSF and FTF (Hz) at running speed; see `BearingGeometry.defect_frequencies`."""
        return self.bearing.defect_frequencies(self.running_speed_hz)


class RandomFaults(_Model):
    """Extra equipment faults drawn from the seed: ``count`` faults on randomly chosen assets."""

    count: int = Field(default=0, ge=0)
    modes: tuple[
        Literal[
            "imbalance", "misalignment", "bearing_outer_race", "bearing_inner_race", "lubrication_loss", "looseness"
        ],
        ...,
    ] = EQUIPMENT_FAULTS
    earliest: float = Field(default=0.1, ge=0, lt=1, description="onset no earlier than this share of the run")
    latest: float = Field(default=0.6, gt=0, le=1, description="onset no later than this share of the run")


def _range(low_min: float | None = None):
    """Validator for a ``[low, high]`` pair with ``low <= high`` (and ``low >= low_min``)."""

    def check(value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f"range {list(value)}: the first value must not exceed the second")
        if low_min is not None and low < low_min:
            raise ValueError(f"range {list(value)} must start at {low_min} or above")
        return value

    return check


_RESOLUTION: dict[Literal["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current"], float] = {
    "vibration_rms": 0.01,
    "vibration_axial_rms": 0.01,
    "bearing_temp": 0.1,
    "motor_current": 0.1,
}


class HardMode(_Model):
    """What ``mode: hard`` adds to make the simulator look like real plant data.

    Every property has a knob here so a test (or a user) can switch one on alone; the defaults are
    what ``faultline evaluate --mode hard`` scores against. None of the operating-point changes is
    a fault and none is labelled; every drawn data-quality event is labelled (kind ``sensor`` or
    ``gateway``), as are the equipment faults.
    """

    # sensors report in steps of their resolution (a 4-20 mA loop through a 12-bit converter, an RTD
    # transmitter reporting 0.1 °C); a sensor not named keeps its default, 0 means not quantised
    resolution: Annotated[
        dict[
            Literal["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current"],
            Annotated[float, Field(ge=0)],
        ],
        BeforeValidator(lambda v: {**_RESOLUTION, **v} if isinstance(v, dict) else v),
    ] = _RESOLUTION
    # operating point: load follows the working day and the week; pumps and fans on a variable-speed
    # drive change speed set-point; some nights the machine is switched off
    daily_load_swing: float = Field(default=0.3, ge=0, lt=1, description="load share lost in the small hours")
    weekend_load: float = Field(default=0.7, gt=0, le=1, description="load factor on Saturday and Sunday")
    night_stop_share: float = Field(default=0.25, ge=0, le=1, description="share of nights the machine is off")
    speed_levels: tuple[float, ...] = Field(default=(0.8, 0.9, 1.0), description="drive set-points (share of speed)")
    speed_dwell: Span = timedelta(hours=8)
    variable_speed_types: tuple[Literal["centrifugal_pump", "electric_motor", "fan"], ...] = ("centrifugal_pump", "fan")
    # weather on top of the daily ambient cycle: a slow random walk (AR(1), two-day memory)
    weather_c: float = Field(default=3.0, ge=0, description="standard deviation of the weather term (°C)")
    # noise: Student-t (heavy tails) with this many degrees of freedom, scaled to the easy mode's
    # standard deviation; the bearing temperature has a quiet transmitter, so its 0.1 °C steps show
    noise_df: float = Field(default=4.0, gt=2)
    temp_noise_c: float = Field(default=0.03, ge=0)
    glitches_per_day: float = Field(default=1.0, ge=0, description="single-sample glitches per sensor per day")
    # equipment faults of varied subtlety: final severity, growth constant and onset drawn per fault
    fault_magnitude: Annotated[tuple[float, float], AfterValidator(_range(0.05))] = (0.3, 1.0)
    fault_rate: Annotated[tuple[float, float], AfterValidator(_range(0.1))] = (1.5, 6.0)
    onset_jitter: Offset = timedelta(days=1)
    # data-quality events, drawn and labelled: a frozen sensor, a gateway outage
    freezes_per_asset_week: float = Field(default=0.5, ge=0)
    freeze_hours: Annotated[tuple[float, float], AfterValidator(_range(0.1))] = (2.0, 12.0)
    outages_per_gateway_week: float = Field(default=0.5, ge=0)
    outage_hours: Annotated[tuple[float, float], AfterValidator(_range(0.05))] = (0.3, 4.0)

    @model_validator(mode="after")
    def _levels(self):
        # at most 1: the waveform model sizes its impact trains for the running speed
        if not self.speed_levels or any(not 0.3 <= x <= 1.0 for x in self.speed_levels):
            raise ValueError(f"speed_levels {self.speed_levels} must be non-empty shares in [0.3, 1.0]")
        return self


class Seeds(_Model):
    """Seeds to tune detectors on, and seeds kept for evaluation only.

    Tune thresholds on ``tuning``; report ``evaluation`` as the figure. A setting chosen by looking
    at the evaluation seeds overstates how it does on a plant it has never seen.
    """

    tuning: tuple[int, ...] = (1, 2, 3, 4, 5)
    evaluation: tuple[int, ...] = (101, 102, 103, 104, 105, 106, 107, 108, 109, 110)

    @model_validator(mode="after")
    def _disjoint(self):
        shared = sorted(set(self.tuning) & set(self.evaluation))
        if shared:
            raise ValueError(f"seed(s) {shared} are in both tuning and evaluation; keep the sets apart")
        if not self.tuning or not self.evaluation:
            raise ValueError("tuning and evaluation must each list at least one seed")
        return self


class Fleet(_Model):
    """The whole simulated fleet (the top level of ``config/fleet.yaml``)."""

    seed: int = 1
    broker: str | None = Field(default=None, pattern=r"^(mqtt|tcp)://[^/:]+(:\d+)?/?$")
    topic_template: str = "faultline/{site}/{asset}/{sensor}"
    gateway_topic_template: str = "faultline/{site}/_gateway/{gateway}"
    scalar_period: Span = timedelta(seconds=60)
    waveform: Waveform = Waveform()
    ambient_mean_c: float = 22.0
    ambient_daily_swing_c: float = 6.0
    gateways: tuple[Gateway, ...] = ()
    assets: tuple[Asset, ...]
    random_faults: RandomFaults = RandomFaults()
    mode: Literal["easy", "hard"] = Field(default="easy", description="hard: the properties of real plant data")
    hard: HardMode = HardMode()
    seeds: Seeds = Seeds()

    @model_validator(mode="after")
    def _references(self):
        ids = [a.id for a in self.assets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"assets: duplicate id(s) {dup}")
        gateways = {g.id: g for g in self.gateways}
        if len(gateways) != len(self.gateways):
            raise ValueError("gateways: duplicate id")
        for a in self.assets:
            if a.gateway is not None and a.gateway not in gateways:
                raise ValueError(f"assets.{a.id}.gateway: unknown gateway {a.gateway!r} (known: {sorted(gateways)})")
            if a.gateway is not None and gateways[a.gateway].site != a.site:
                raise ValueError(
                    f"assets.{a.id}.gateway: gateway {a.gateway!r} is at site "
                    f"{gateways[a.gateway].site!r}, asset at {a.site!r}"
                )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Fleet":
        """Read and validate a fleet file; raises `FleetError` naming the bad key and value."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise FleetError(f"cannot read fleet file {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise FleetError(f"{path}: not valid YAML{where}: {what}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "fleet") -> "Fleet":
        """Validate a fleet given as plain data (as loaded from YAML)."""
        if not isinstance(data, dict):
            raise FleetError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FleetError(f"{source}: invalid fleet:\n{_describe(exc, data)}") from exc

    def asset(self, asset_id: str) -> Asset:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise KeyError(asset_id)

    def gateway(self, gateway_id: str) -> Gateway:
        for g in self.gateways:
            if g.id == gateway_id:
                return g
        raise KeyError(gateway_id)

    def period_of(self, asset: Asset) -> timedelta:
        return asset.scalar_period or self.scalar_period

    def waveform_of(self, asset: Asset) -> Waveform:
        return asset.waveform or self.waveform


def _describe(exc: ValidationError, data: dict) -> str:
    """One line per error with a readable key path (asset ids instead of list positions)."""
    lines = []
    for err in exc.errors():
        path: list[str] = []
        node: object = data
        for part in err["loc"]:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                item = node[part]
                label = item.get("id") if isinstance(item, dict) else None
                path.append(str(label) if label else f"[{part}]")
                node = item
            else:
                path.append(str(part))
                node = node.get(part) if isinstance(node, dict) else None
        where = ".".join(path) or "(top level)"
        shown = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        lines.append(f"  {where}: {err['msg']}{shown}")
    return "\n".join(lines)
