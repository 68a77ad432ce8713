"""Detector configuration: checks per asset class, overrides per asset, and a version per change.

The ``detectors:`` section of the service configuration. A *check* is one detector on one sensor
with its alert rule; an asset class (``pump``, ``motor``, ``fan``, or any name) holds the checks its
assets get by default, and an asset entry may override any part of a check by name or switch it off::

    detectors:
      iso_20816_zones:            # EXAMPLE values: replace with the limits for your machines
        group2: {ab: 1.4, bc: 2.8, cd: 4.5}
      classes:
        pump:
          checks:
            bearing_temp_limit:
              sensor: bearing_temp
              detector: static_limit
              params: {high: 85}
              fault_mode: overheating
              rule: {alarm: 1.0, clear: 0.97, min_duration: 10m}
      assets:
        P-101:
          class: pump
          checks:
            bearing_temp_limit: {params: {high: 80}}

Validation happens before anything runs, and every error names the key (``classes.pump.checks.
bearing_temp_limit.params``) and the bad value. The version of a configuration is the hash of its
validated content; ``ConfigHistory`` numbers the distinct versions in the order they were applied.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultline.vocabulary import Seconds, Severity

from faultline.detectors.adaptive import AdaptiveDrift, AdaptiveLevel
from faultline.detectors.drift import Cusum, EnvelopeCusum, Ewma
from faultline.detectors.health import NoData, OutOfRange, StuckSensor
from faultline.detectors.multivariate import HotellingT2, IsolationForestDetector, LoadResidual, ShrunkMahalanobis
from faultline.detectors.robust import RobustZ, SpikeBursts
from faultline.detectors.rules import AlertRule
from faultline.detectors.streams import StreamingDetector
from faultline.detectors.thresholds import IsoZones, StaticLimit
from faultline.detectors.trend import TrendToLimit

# what a multivariate check fits and scores with
MultivariateModel = HotellingT2 | IsolationForestDetector | LoadResidual | ShrunkMahalanobis

__all__ = [
    "DETECTORS",
    "FAULT_MODES",
    "AssetConfig",
    "CheckConfig",
    "ConfigHistory",
    "ConfigVersion",
    "DetectorsConfig",
    "MultivariateConfig",
    "RuleConfig",
    "WaveformConfig",
]

DETECTORS: dict[str, type[StreamingDetector]] = {
    cls.kind: cls
    for cls in (
        StaticLimit,
        IsoZones,
        RobustZ,
        SpikeBursts,
        Ewma,
        Cusum,
        EnvelopeCusum,
        TrendToLimit,
        NoData,
        StuckSensor,
        OutOfRange,
        AdaptiveLevel,
        AdaptiveDrift,
    )
}

FAULT_MODES = (
    "imbalance",
    "misalignment",
    "bearing_outer_race",
    "bearing_inner_race",
    "bearing_ball",
    "bearing_cage",
    "bearing_defect",
    "lubrication_loss",
    "looseness",
    "stuck_sensor",
    "dropout",
    "spike",
    "drift",
    "offline",
    "duplicate",
    "out_of_order",
    "clock_skew",
    "malformed",
    "overheating",
    "high_vibration",
    "anomaly",
    "no_data",
    "out_of_range",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleConfig(_Model):
    """The alert rule of a check; see :class:`detectors.rules.AlertRule`."""

    alarm: float = Field(1.0, description="score at or above which a reading is hot")
    clear: float = Field(0.8, description="score below which an open alert may close (hysteresis)")
    n: int = Field(1, ge=1, le=64)
    m: int = Field(1, ge=1, le=64)
    min_duration: Seconds = 0.0
    clear_after: Seconds = 0.0
    latch: bool = False
    severity_levels: dict[Severity, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(isinstance(k, bool) for k in data):
            raise ValueError(
                "a key read as true/false: YAML 1.1 turns `on`/`off`/`yes`/`no` into booleans; "
                "the rule's levels are `alarm` and `clear`"
            )
        return data

    @model_validator(mode="after")
    def _buildable(self) -> "RuleConfig":
        self.build()  # the rule's own checks (off <= on, n <= m, levels rising) with its message
        return self

    def build(self) -> AlertRule:
        return AlertRule(
            on=self.alarm,
            off=self.clear,
            n=self.n,
            m=self.m,
            min_duration_s=self.min_duration,
            clear_after_s=self.clear_after,
            latch=self.latch,
            severity_levels=None if self.severity_levels is None else dict(self.severity_levels.items()),
        )


class CheckConfig(_Model):
    """One detector on one sensor of an asset, with its alert rule."""

    sensor: str = Field(description='the sensor it watches; "*" = every scalar sensor of the asset')
    detector: str
    params: dict[str, Any] = Field(default_factory=dict)
    fault_mode: str = "anomaly"
    rule: RuleConfig = Field(default_factory=RuleConfig)
    skip_below: float | None = Field(
        None, description="readings below this are not scored (a stopped machine's vibration or current)"
    )
    enabled: bool = True

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, v: str) -> str:
        if v not in DETECTORS:
            raise ValueError(f"unknown detector {v!r}; known: {', '.join(sorted(DETECTORS))}")
        return v

    @field_validator("fault_mode")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        if v not in FAULT_MODES:
            raise ValueError(f"unknown fault_mode {v!r}; known: {', '.join(FAULT_MODES)}")
        return v

    @model_validator(mode="after")
    def _params_build(self) -> "CheckConfig":
        if self.detector != "iso_zones":  # zone limits come from the asset's group, checked per asset
            self.build()
        return self

    def build(self, extra: dict[str, Any] | None = None) -> StreamingDetector:
        params = {**self.params, **(extra or {})}
        try:
            return DETECTORS[self.detector](**params)
        except TypeError as exc:
            raise ValueError(f"bad params for detector {self.detector!r}: {exc}") from None


class WaveformConfig(_Model):
    """Features computed from each acceleration block; each becomes a stream ``<sensor>.<feature>``."""

    sensor: str = "accel"
    features: tuple[str, ...] = ("rms", "kurtosis", "crest_factor")
    defect_band_hz: tuple[float, float] | None = Field(
        None, description="band to demodulate for the bearing diagnosis; none = chosen per block by spectral kurtosis"
    )
    defect_frequencies: bool = Field(
        True,
        description="bearing diagnosis: bearing, bearing_mode and the bpfo/bpfi/"
        "bsf/ftf peak-to-floor ratios (needs bearing geometry)",
    )

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = {"rms", "peak", "crest_factor", "kurtosis", "skewness", "mean"}
        bad = [f for f in v if f not in known]
        if bad:
            raise ValueError(f"unknown waveform feature {bad[0]!r}; known: {', '.join(sorted(known))}")
        return v


class BearingConfig(_Model):
    n_balls: int = Field(gt=0)
    ball_diameter_mm: float = Field(gt=0)
    pitch_diameter_mm: float = Field(gt=0)
    contact_angle_deg: float = 0.0


class CheckOverride(_Model):
    """Per-asset change to a check of its class: any field; ``params`` and ``rule`` merge key by key."""

    sensor: str | None = None
    detector: str | None = None
    params: dict[str, Any] | None = None
    fault_mode: str | None = None
    rule: dict[str, Any] | None = None
    skip_below: float | None = None
    enabled: bool | None = None


class MultivariateConfig(_Model):
    """A model of several sensors of one asset together, fitted on that asset's first readings.

    Each reading of the first sensor makes a row of the latest value of every listed sensor; the
    first ``baseline`` rows fit the model (the asset is assumed healthy then), later rows are scored
    and the sensor contributing most is named in the finding. With ``refresh`` the model refits every
    ``refresh`` rows on the latest ``baseline`` rows it accepted as normal (score below 1.0), so it
    follows a plant that changes slowly without learning a fault; a departure that lasts ``relearn``
    rows is accepted as a new operating point. With ``hold``, that applies only to a departure the
    model explains as one (``mahalanobis``: several sensors moved, along their learnt relations);
    any other departure keeps alarming until it has lasted ``hold`` rows.
    """

    sensors: tuple[str, ...] = Field(min_length=2)
    detector: Literal["hotelling_t2", "isolation_forest", "load_residual", "mahalanobis"] = "hotelling_t2"
    params: dict[str, Any] = Field(default_factory=dict)
    baseline: int = Field(1440, ge=20)
    refresh: int = Field(
        0,
        ge=0,
        description="refit every this many rows on the latest `baseline` rows accepted "
        "as normal (0: keep the first fit)",
    )
    relearn: int = Field(
        0,
        ge=0,
        description="with refresh: rows of a sustained departure after which they are "
        "accepted as a new normal (0: never)",
    )
    smooth: float = Field(
        0.0,
        ge=0,
        description="score the rows' exponentially weighted mean over this many "
        "rows (half-life) instead of the rows: a sustained shift of "
        "a few noise scales stands out (0: the rows as they are)",
    )
    hold: int = Field(
        0,
        ge=0,
        description="with relearn: a departure the model does not explain as a new "
        "operating point (sensors moved together, as learnt) is accepted "
        "only after this many rows (0: after relearn rows, like any)",
    )
    fault_mode: str = "anomaly"
    rule: RuleConfig = Field(default_factory=RuleConfig)
    enabled: bool = True

    # mypy sees the decorated classmethod as a plain callable; reached through its class it is a bound
    # method, which has __func__
    _check_mode = field_validator("fault_mode")(CheckConfig._known_mode.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _params_build(self) -> "MultivariateConfig":
        self.build()
        return self

    def build(self) -> MultivariateModel:
        cls: type[MultivariateModel] = {
            "hotelling_t2": HotellingT2,
            "isolation_forest": IsolationForestDetector,
            "load_residual": LoadResidual,
            "mahalanobis": ShrunkMahalanobis,
        }[self.detector]
        try:
            return cls(**self.params)
        except TypeError as exc:
            raise ValueError(f"bad params for detector {self.detector!r}: {exc}") from None


class ClassConfig(_Model):
    """Checks every asset of a class gets; ``extends`` starts from another class's checks."""

    extends: str | None = None
    checks: dict[str, CheckConfig] = Field(default_factory=dict)
    multivariate: dict[str, MultivariateConfig] = Field(default_factory=dict)
    waveform: WaveformConfig | None = None


class AssetConfig(_Model):
    """What the detectors need to know about one asset, and its overrides."""

    class_: str = Field("default", alias="class")
    site: str | None = None
    iso_group: str | None = None
    running_speed_hz: float | None = Field(None, gt=0)
    bearing: BearingConfig | None = None
    checks: dict[str, CheckOverride] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("iso_group", mode="before")
    @classmethod
    def _group_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class ZoneLimits(_Model):
    ab: float
    bc: float
    cd: float

    @model_validator(mode="after")
    def _ordered(self) -> "ZoneLimits":
        if not 0 < self.ab < self.bc < self.cd:
            raise ValueError(f"zone boundaries must satisfy 0 < ab < bc < cd, got {self.ab}, {self.bc}, {self.cd}")
        return self


class DetectorsConfig(_Model):
    """The ``detectors:`` section: zone tables, checks per asset class, assets with overrides."""

    iso_20816_zones: dict[str, ZoneLimits] = Field(default_factory=dict)
    classes: dict[str, ClassConfig] = Field(default_factory=dict)
    assets: dict[str, AssetConfig] = Field(default_factory=dict)
    default_class: str = "default"
    silence_after: Seconds = Field(900.0, description="deadman: no stream is called silent sooner than this")
    silence_intervals: float = Field(
        10.0,
        ge=1.0,
        description="deadman: a stream is silent after this many of "
        "its own usual intervals between readings (and at least silence_after)",
    )
    multivariate_every: Seconds = Field(60.0, description="run multivariate checks on this much gathered data")

    @field_validator("iso_20816_zones", mode="before")
    @classmethod
    def _group_keys(cls, v: Any) -> Any:
        return {str(k): g for k, g in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _consistent(self) -> "DetectorsConfig":
        for cname, cls in self.classes.items():
            if cls.extends is not None and cls.extends not in self.classes:
                raise ValueError(f"classes.{cname}.extends: unknown class {cls.extends!r}")
            for check, c in cls.checks.items():
                group = c.params.get("group")
                if c.detector == "iso_zones" and group is not None and str(group) not in self.iso_20816_zones:
                    raise ValueError(
                        f"classes.{cname}.checks.{check}.params.group: no zone limits for "
                        f"group {group!r} in iso_20816_zones"
                    )
        for name, asset in self.assets.items():
            if asset.class_ not in self.classes and asset.class_ != self.default_class:
                raise ValueError(
                    f"assets.{name}.class: unknown class {asset.class_!r}; known: {', '.join(sorted(self.classes))}"
                )
            self.checks_for(name)  # builds every check, so a bad override fails here, naming the asset
        return self

    def asset(self, name: str) -> AssetConfig:
        """The asset's entry (an empty one of the default class if it is not listed)."""
        return self.assets.get(name) or AssetConfig(**{"class": self.default_class})

    def checks_for(self, name: str) -> dict[str, tuple[CheckConfig, dict[str, Any]]]:
        """The enabled checks of an asset, class defaults merged with its overrides.

        Returns
        -------
        dict of check name to (CheckConfig, extra detector params)
            The extra params are those that come from the asset itself (ISO zone limits).
        """
        asset = self.asset(name)
        merged = self._class_checks(asset.class_)
        for check, override in asset.checks.items():
            where = f"assets.{name}.checks.{check}"
            change = override.model_dump(exclude_none=True)
            if check not in merged:
                if override.sensor is None or override.detector is None:
                    raise ValueError(
                        f"{where}: class {asset.class_!r} has no check {check!r} to override "
                        f"(give sensor and detector to add a new one)"
                    )
                try:
                    merged[check] = CheckConfig(**change)
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
                continue
            base = merged[check].model_dump()
            for key in ("params", "rule"):
                if key in change:
                    change[key] = {**base[key], **change[key]}
            try:
                merged[check] = CheckConfig(**{**base, **change})
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        out = {}
        for check, c in merged.items():
            if not c.enabled:
                continue
            extra: dict[str, Any] = {}
            if c.detector == "iso_zones":
                group = c.params.get("group", asset.iso_group)
                if group is None:
                    continue  # no machine group known for this asset: its zones cannot be judged
                group = str(group)
                if group not in self.iso_20816_zones:
                    raise ValueError(
                        f"assets.{name}: check {check!r} needs ISO 20816 zone limits for group "
                        f"{group!r}; add it under iso_20816_zones or set iso_group"
                    )
                extra = self.iso_20816_zones[group].model_dump()
                c = c.model_copy(update={"params": {k: v for k, v in c.params.items() if k != "group"}})
            out[check] = (c, extra)
        return out

    def _class_chain(self, cls_name: str) -> list[ClassConfig]:
        """The class and the classes it extends, most general first."""
        chain: list[ClassConfig] = []
        seen: set[str] = set()
        name: str | None = cls_name
        while name is not None and name in self.classes and name not in seen:
            seen.add(name)
            chain.insert(0, self.classes[name])
            name = self.classes[name].extends
        return chain

    def _class_checks(self, cls_name: str) -> dict[str, CheckConfig]:
        merged: dict[str, CheckConfig] = {}
        for cls in self._class_chain(cls_name):
            merged.update(cls.checks)
        return merged

    def multivariate_for(self, name: str) -> dict[str, MultivariateConfig]:
        """The asset's enabled multivariate checks (from its class chain)."""
        merged: dict[str, MultivariateConfig] = {}
        for cls in self._class_chain(self.asset(name).class_):
            merged.update(cls.multivariate)
        return {k: m for k, m in merged.items() if m.enabled}

    def waveform_for(self, name: str) -> WaveformConfig | None:
        found = [c.waveform for c in self._class_chain(self.asset(name).class_) if c.waveform is not None]
        return found[-1] if found else None

    def digest(self) -> str:
        """SHA-256 of the validated content (key order and YAML layout do not matter)."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class ConfigVersion(_Model):
    number: int
    digest: str
    applied_at: datetime
    note: str = ""

    @property
    def label(self) -> str:
        """``v3-1a2b3c4d``: the number for people, the hash prefix to tell copies apart."""
        return f"v{self.number}-{self.digest[:8]}"


class ConfigHistory:
    """The numbered list of configuration versions, in the order they were applied.

    Pure bookkeeping: the caller stores ``to_list()`` where it likes and passes the time in.

    >>> from datetime import timezone
    >>> h = ConfigHistory()
    >>> cfg = DetectorsConfig()
    >>> h.record(cfg, datetime(2026, 1, 1, tzinfo=timezone.utc)).number
    1
    >>> h.record(cfg, datetime(2026, 1, 2, tzinfo=timezone.utc)).number   # unchanged: same version
    1
    >>> h.record(DetectorsConfig(silence_after="1h"), datetime(2026, 1, 3, tzinfo=timezone.utc)).number
    2
    """

    def __init__(self, versions: list[ConfigVersion] | None = None):
        self.versions: list[ConfigVersion] = list(versions or [])

    @property
    def current(self) -> ConfigVersion | None:
        return self.versions[-1] if self.versions else None

    def record(self, config: DetectorsConfig, applied_at: datetime, note: str = "") -> ConfigVersion:
        digest = config.digest()
        if self.current is not None and self.current.digest == digest:
            return self.current
        version = ConfigVersion(number=len(self.versions) + 1, digest=digest, applied_at=applied_at, note=note)
        self.versions.append(version)
        return version

    def to_list(self) -> list[dict[str, Any]]:
        return [v.model_dump(mode="json") for v in self.versions]

    @classmethod
    def from_list(cls, items: list[dict[str, Any]]) -> "ConfigHistory":
        return cls([ConfigVersion(**i) for i in items])
