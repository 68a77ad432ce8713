"""Fault injection: severity curves of developing machine faults, sensor misbehaviour, random faults.

Machine faults never draw random numbers, so a run with and without a fault shares every noise
sample and the difference between the two is exactly the fault's signature (the tests use this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from faultline.simulators.fleet import Asset, EquipmentFault, Fleet, GatewayFault, HardMode, RandomFaults, SensorFault

__all__ = [
    "Label",
    "severity",
    "severity_curve",
    "apply_sensor_fault",
    "draw_random_faults",
    "harden_faults",
    "harden_fleet",
    "draw_freezes",
    "draw_outages",
]

NS = 1_000_000_000


@dataclass(frozen=True)
class Label:
    """Ground truth for one injected fault.

    Attributes
    ----------
    asset : str or None
        The asset, or None for a gateway fault (which hits every asset the gateway carries).
    site : str
    sensors : tuple of str
        The sensors where the fault shows (or, for gateway faults, the topics' sensors it touched).
    fault_mode : str
        One of the shared fault-mode names (``bearing_outer_race``, ``stuck_sensor``, ``offline``...).
    kind : str
        ``equipment``, ``sensor`` or ``gateway``.
    onset : datetime
        When the fault starts (UTC).
    failure : datetime or None
        When an equipment fault reaches severity 1 (the machine must stop); None otherwise.
    end : datetime or None
        End of a sensor or gateway fault window; None for equipment faults.
    severity_curve : str
        How severity grows from onset to failure, e.g. ``exponential(rate=4)``; ``window`` for
        sensor and gateway faults.
    params : dict
        Mode parameters, and for gateway faults what was deliberately dropped, duplicated or
        corrupted (``messages``, ``readings``). Hard mode adds ``magnitude`` (the severity an
        equipment fault reaches at failure) and ``drawn: True`` on frozen sensors and outages it
        drew (not written in the fleet file).
    gateway : str or None
        The gateway, for gateway faults.
    """

    asset: str | None
    site: str
    sensors: tuple[str, ...]
    fault_mode: str
    kind: str
    onset: datetime
    failure: datetime | None
    end: datetime | None
    severity_curve: str
    params: dict = field(default_factory=dict)
    gateway: str | None = None

    def as_record(self) -> dict:
        """A flat, JSON-ready dict (times as ISO 8601 UTC)."""

        def iso(t):
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {
            "asset": self.asset,
            "site": self.site,
            "gateway": self.gateway,
            "sensors": list(self.sensors),
            "fault_mode": self.fault_mode,
            "kind": self.kind,
            "onset": iso(self.onset),
            "failure": iso(self.failure),
            "end": iso(self.end),
            "severity_curve": self.severity_curve,
            "params": self.params,
        }


def severity_curve(fault: EquipmentFault) -> str:
    """The label's description of a fault's growth curve."""
    if fault.growth == "exponential":
        return f"exponential(rate={fault.rate:g})"
    return fault.growth


def severity(fault: EquipmentFault, elapsed_ns: np.ndarray) -> np.ndarray:
    """Severity of a fault in [0, 1] at times since the start of the run.

    Parameters
    ----------
    fault : EquipmentFault
    elapsed_ns : ndarray of int64, shape (n,)
        Nanoseconds since the start of the run.

    Returns
    -------
    ndarray of float64, shape (n,)
        0 before onset, 1 from failure on; between them linear, a step (1 at onset) or
        ``(exp(rate·x) − 1) / (exp(rate) − 1)`` with ``x`` the share of the fault's life elapsed —
        the slow start and fast end of a spalling bearing. All of it times ``fault.magnitude``
        (1 unless the fault is meant to stay subtle).
    """
    onset = fault.onset.total_seconds()
    life = fault.failure.total_seconds() - onset
    x = np.clip((elapsed_ns / NS - onset) / life, 0.0, 1.0)
    if fault.growth == "step":
        s = (elapsed_ns / NS >= onset).astype(np.float64)
    elif fault.growth == "linear":
        s = x
    else:
        s = np.expm1(fault.rate * x) / np.expm1(fault.rate)
    # a subtle fault (hard mode) grows to its magnitude, not to the zone C/D boundary
    return s if fault.magnitude == 1.0 else s * fault.magnitude


# Typical sensor-fault sizes when the fleet file gives magnitude 0: spike height and drift per day.
_SPIKE = {"vibration_rms": 25.0, "vibration_axial_rms": 25.0, "bearing_temp": 60.0, "motor_current": 80.0}
_DRIFT_PER_DAY = {"vibration_rms": 0.4, "vibration_axial_rms": 0.4, "bearing_temp": 1.5, "motor_current": 2.0}


def apply_sensor_fault(
    fault: SensorFault, elapsed_ns: np.ndarray, values: np.ndarray, rng: np.random.Generator
) -> dict:
    """Corrupt ``values`` in place as the faulty sensor would; return the label's parameters.

    Parameters
    ----------
    fault : SensorFault
    elapsed_ns : ndarray of int64, shape (n,)
        Time of each sample since the start of the run.
    values : ndarray of float64, shape (n,)
        The sensor's readings; a dropout writes NaN (no reading is produced).
    rng : numpy.random.Generator
        Draws spike positions and signs.
    """
    start, end = fault.start.total_seconds() * NS, fault.end.total_seconds() * NS
    lo, hi = np.searchsorted(elapsed_ns, [start, end])
    params: dict = {"samples": int(hi - lo)}
    if hi <= lo:
        return params
    if fault.mode == "stuck_sensor":
        values[lo:hi] = values[lo]
        params["value"] = float(values[lo])
    elif fault.mode == "dropout":
        values[lo:hi] = np.nan
    elif fault.mode == "spike":
        hours = (end - start) / NS / 3600
        count = min(int(rng.poisson(fault.rate_per_hour * hours)), int(hi - lo))
        where = np.sort(rng.choice(np.arange(lo, hi), size=count, replace=False))
        height = fault.magnitude or _SPIKE[fault.sensor]
        values[where] += height
        params.update(count=count, magnitude=height)
    elif fault.mode == "drift":
        per_day = fault.magnitude or _DRIFT_PER_DAY[fault.sensor]
        values[lo:hi] += per_day * (elapsed_ns[lo:hi] - start) / NS / 86400
        params["per_day"] = per_day
    return params


def draw_random_faults(
    spec: RandomFaults, assets: tuple[Asset, ...], duration: timedelta, rng: np.random.Generator
) -> dict[str, list[EquipmentFault]]:
    """Draw ``spec.count`` equipment faults on random assets, onsets within the configured share.

    Returns a dict asset id → list of extra faults. The failure time falls 20–90 % of the remaining
    run after onset, so every drawn fault fails within the run.
    """
    extra: dict[str, list[EquipmentFault]] = {}
    if spec.count == 0 or not assets:
        return extra
    total = duration.total_seconds()
    for _ in range(spec.count):
        asset = assets[int(rng.integers(len(assets)))]
        mode = spec.modes[int(rng.integers(len(spec.modes)))]
        onset = total * rng.uniform(spec.earliest, spec.latest)
        failure = onset + (total - onset) * rng.uniform(0.2, 0.9)
        growth = ("exponential", "linear", "step")[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
        extra.setdefault(asset.id, []).append(
            EquipmentFault(
                mode=mode,
                onset=timedelta(seconds=round(onset)),
                failure=timedelta(seconds=round(failure)),
                growth=growth,
                rate=float(round(rng.uniform(2.0, 6.0), 2)),
            )
        )
    return extra


def harden_faults(
    faults: tuple[EquipmentFault, ...], hard: HardMode, rng: np.random.Generator
) -> tuple[EquipmentFault, ...]:
    """Hard mode: each equipment fault with a drawn final magnitude, growth constant and onset shift.

    The fault keeps its mode, growth shape and life (failure − onset); its onset moves by up to
    ``hard.onset_jitter`` either way (never before half its configured onset). Three draws per
    fault, always.
    """
    out = []
    jitter = hard.onset_jitter.total_seconds()
    for fault in faults:
        magnitude = float(round(rng.uniform(*hard.fault_magnitude), 3))
        rate = float(round(rng.uniform(*hard.fault_rate), 2))
        shift = rng.uniform(-jitter, jitter)
        # never earlier than half the configured onset: a fault present from the first reading would
        # be learnt as the machine's normal by any baseline, which no engineer would count as a miss
        onset = max(fault.onset.total_seconds() / 2, fault.onset.total_seconds() + shift)
        life = (fault.failure - fault.onset).total_seconds()
        out.append(
            fault.model_copy(
                update={
                    "magnitude": magnitude,
                    "rate": rate if fault.growth == "exponential" else fault.rate,
                    "onset": timedelta(seconds=round(onset)),
                    "failure": timedelta(seconds=round(onset + life)),
                }
            )
        )
    return tuple(out)


def _weekly_windows(
    rate_per_week: float, hours: tuple[float, float], duration: timedelta, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """Event windows (start, end in seconds since the start), drawn one week at a time so that a
    shorter run's events are the first of a longer run's; windows starting after the run are dropped."""
    total = duration.total_seconds()
    out = []
    for week in range(int(np.ceil(total / 604800.0))):
        k = int(rng.poisson(rate_per_week))
        starts = rng.uniform(week * 604800.0, (week + 1) * 604800.0, k)
        lengths = rng.uniform(hours[0], hours[1], k) * 3600.0
        out += [(float(a), float(a + b)) for a, b in zip(starts, lengths) if a < total]
    return sorted(out)


def draw_freezes(
    asset: Asset, hard: HardMode, duration: timedelta, rng: np.random.Generator
) -> tuple[SensorFault, ...]:
    """Hard mode: frozen sensors (the reading repeats its last value) on an asset, as sensor faults.

    About ``hard.freezes_per_asset_week``, each on one of the asset's scalar sensors for
    ``hard.freeze_hours``; they are labelled like a configured ``stuck_sensor``.
    """
    sensors = asset.scalar_sensors
    windows = _weekly_windows(hard.freezes_per_asset_week, hard.freeze_hours, duration, rng)
    picks: np.ndarray | list[int] = rng.integers(len(sensors), size=len(windows)) if sensors else []
    return tuple(
        SensorFault(
            mode="stuck_sensor",
            sensor=sensors[int(i)],
            start=timedelta(seconds=round(a)),
            end=timedelta(seconds=round(b)),
        )
        for (a, b), i in zip(windows, picks)
    )


def draw_outages(hard: HardMode, duration: timedelta, rng: np.random.Generator) -> tuple[GatewayFault, ...]:
    """Hard mode: gateway outages (everything the gateway carries is lost), as ``offline`` faults."""
    return tuple(
        GatewayFault(mode="offline", start=timedelta(seconds=round(a)), end=timedelta(seconds=round(b)))
        for a, b in _weekly_windows(hard.outages_per_gateway_week, hard.outage_hours, duration, rng)
    )


def harden_fleet(fleet: Fleet, duration: timedelta, rng_for) -> Fleet:
    """The fleet as hard mode runs it: faults made subtle or not, frozen sensors and outages added.

    ``rng_for(*key)`` gives the random stream for a key, so every asset and gateway draws from its
    own stream (adding one changes no other).
    """
    hard = fleet.hard
    assets = tuple(
        a.model_copy(
            update={
                "faults": harden_faults(a.faults, hard, rng_for("hard-faults", a.id)),
                "sensor_faults": a.sensor_faults + draw_freezes(a, hard, duration, rng_for("hard-freezes", a.id)),
            }
        )
        for a in fleet.assets
    )
    gateways = tuple(
        g.model_copy(update={"faults": g.faults + draw_outages(hard, duration, rng_for("hard-outages", g.id))})
        for g in fleet.gateways
    )
    return fleet.model_copy(update={"assets": assets, "gateways": gateways})
