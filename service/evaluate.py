"""Detector evaluation: simulate a fleet offline, run the live engine over it, score the findings.

How findings are matched to the simulator's labels (the README repeats this):

- A finding is an *episode*: one alert of one check on one (asset, sensor), from opened to closed.
- **Equipment fault** (asset, onset, failure): *detected* if an episode on that asset, on any sensor,
  starts between onset and failure (health findings — ``no_data``, ``stuck_sensor`` — do not count).
  Lead fraction = (failure − first such start) / (failure − onset); an undetected fault counts 0.
- **Sensor fault** (asset, sensor, window): detected if an episode on that asset and sensor starts
  within the window (from ``EARLY`` before it, since a no-data finding starts at the last reading
  before the hole, to ``GRACE`` after it, for detectors that need a few readings).
- **Gateway fault**: only ``offline`` leaves a trace in stored data (a hole), so it is detected by a
  ``no_data`` episode on one of the gateway's assets within its window (+ grace). Duplicates,
  reordering, clock skew and malformed payloads are ingest's to absorb; they are listed without a
  recall.
- A finding is a **true alarm** if it starts inside a labelled window it can belong to: an equipment
  window from onset to the end of the run on its asset (a failed machine stays failed), a sensor
  window on its asset and sensor, an offline window (no_data findings) on the gateway's assets.
  Every other finding is a **false alarm**. Precision = true / all findings.
- The overall recall (the ≥ 0.95 target) is over equipment faults; sensor and gateway recall are
  reported per fault mode. Labels whose onset lies after the end of the run are left out; an
  equipment fault that has not failed by the end is still scored against its labelled failure time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from detectors import DetectorsConfig, Engine, Finding

GRACE = timedelta(hours=2)
# a no_data finding starts at the last reading before the hole, up to one sample period before the
# labelled onset; sensor and gateway windows open this much early
EARLY = timedelta(minutes=15)
HEALTH_MODES = {"no_data", "stuck_sensor"}
# simulator machine types → the asset classes of the detector configuration
CLASS_OF_TYPE = {"centrifugal_pump": "pump", "electric_motor": "motor", "fan": "fan"}


@dataclass(frozen=True)
class Episode:
    asset: str
    sensor: str
    rule: str
    fault_mode: str
    severity: str
    started_at: datetime
    ended_at: datetime | None


def fleet_config(base: DetectorsConfig, assets: dict[str, Any]) -> DetectorsConfig:
    """The base configuration with an entry per simulated asset (class, site, ISO group, bearing).

    An asset already listed in ``base`` keeps its own overrides; what the simulator knows fills in
    the rest.
    """
    data = base.model_dump(by_alias=True, exclude_none=True)
    for name, a in assets.items():
        entry = data["assets"].get(name, {})
        entry.setdefault("class", CLASS_OF_TYPE.get(a.type, base.default_class))
        entry.setdefault("site", a.site)
        entry.setdefault("iso_group", f"{a.iso_group}-{a.foundation or 'rigid'}")
        entry.setdefault("running_speed_hz", a.running_speed_hz)
        if a.bearing is not None:
            entry.setdefault("bearing", {k: getattr(a.bearing, k) for k in
                                         ("n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg")})
        data["assets"][name] = entry
    return DetectorsConfig.model_validate(data)


def feed(engine: Engine, run: Any, step: timedelta = timedelta(hours=1)) -> list[Finding]:
    """Replay a run through the engine in time order, ``step`` at a time, as the live service would.

    Waveform features are computed once per asset over all its blocks (vectorised) and then fed as
    the feature streams alongside the scalar readings. ``Engine.replay`` drives the engine, as it
    drives backtest and ``faultline score``: the deadman is checked at the end of each step, never
    past the end of the run (silence after the run is not the run's).
    """
    ids, ts, vals = [], [], []
    for (asset, sensor), (t, v) in run.scalars.items():
        ids.append(np.full(len(t), engine.stream_id(asset, sensor)))
        ts.append(t)
        vals.append(v)
    for (asset, sensor), (t0, rate, blocks) in run.waveforms.items():
        prefix = engine.config.waveform_for(asset)
        for name, f in engine.block_features(asset, rate, blocks).items():
            ids.append(np.full(len(t0), engine.stream_id(asset, f"{prefix.sensor}.{name}")))
            ts.append(t0)
            vals.append(f)
    s, t, v = np.concatenate(ids), np.concatenate(ts), np.concatenate(vals)
    end_ns = int((run.start + run.duration).timestamp() * 1e6) * 1000
    findings: list[Finding] = []
    for _, result in engine.replay(s, t, v, int(step.total_seconds() * 1e9), end_ns=end_ns):
        findings += result.findings
    return findings


def episodes(findings: list[Finding]) -> list[Episode]:
    """Collapse opened / escalated / closed findings into one episode per alert."""
    by_key: dict[tuple, Episode] = {}
    for f in findings:
        key = (f.asset, f.sensor, f.rule, f.started_at)
        old = by_key.get(key)
        sev = f.severity if old is None else max(old.severity, f.severity, key=_SEV.index)
        by_key[key] = Episode(f.asset, f.sensor, f.rule, f.fault_mode, sev, f.started_at,
                              f.ended_at or (old.ended_at if old else None))
    return sorted(by_key.values(), key=lambda e: e.started_at)


_SEV = ["low", "medium", "high", "critical"]


def score(eps: list[Episode], labels: list[Any], assets: dict[str, Any], end: datetime,
          duration: timedelta) -> dict[str, Any]:
    """Recall, precision, false alarms per asset-week and lead time, overall and per fault mode."""
    gateway_assets = defaultdict(set)
    for name, a in assets.items():
        if a.gateway:
            gateway_assets[a.gateway].add(name)

    def window(label) -> tuple[datetime, datetime]:
        if label.kind == "equipment":
            return label.onset, label.failure
        return label.onset - EARLY, (label.end or end) + GRACE

    def may_explain(label, e: Episode, for_recall: bool) -> bool:
        if label.kind == "equipment":
            if e.asset != label.asset:
                return False
            if for_recall:
                return e.fault_mode not in HEALTH_MODES and label.onset <= e.started_at <= label.failure
            return label.onset <= e.started_at
        lo, hi = window(label)
        if not lo <= e.started_at <= hi:
            return False
        if label.kind == "sensor":
            return e.asset == label.asset and e.sensor in label.sensors
        return label.fault_mode == "offline" and e.fault_mode == "no_data" and e.asset in gateway_assets[label.gateway]

    labels = [label for label in labels if label.onset < end]  # faults that begin after the run are not in it
    per_mode: dict[str, dict[str, Any]] = defaultdict(lambda: {"labels": 0, "detected": 0, "leads": []})
    equipment_leads, equipment_detected, equipment_total = [], 0, 0
    for label in labels:
        m = per_mode[label.fault_mode]
        scorable = label.kind != "gateway" or label.fault_mode == "offline"
        if not scorable:
            m["labels"] += 1
            m["scored"] = False
            continue
        m["labels"] += 1
        hits = [e for e in eps if may_explain(label, e, for_recall=True)]
        if hits:
            m["detected"] += 1
        if label.kind == "equipment":
            equipment_total += 1
            span = (label.failure - label.onset).total_seconds()
            lead = (label.failure - hits[0].started_at).total_seconds() / span if hits else 0.0
            m["leads"].append(lead)
            equipment_leads.append(lead)
            equipment_detected += bool(hits)

    true_by_mode, all_by_mode = defaultdict(int), defaultdict(int)
    false = []
    for e in eps:
        ok = any(may_explain(label, e, for_recall=False) for label in labels)
        all_by_mode[e.fault_mode] += 1
        true_by_mode[e.fault_mode] += ok
        if not ok:
            false.append(e)
    asset_weeks = len(assets) * duration.total_seconds() / (7 * 86400)
    by_mode = {}
    for mode in sorted(set(per_mode) | set(all_by_mode)):
        m = per_mode.get(mode, {"labels": 0, "detected": 0, "leads": []})
        scored = m.get("scored", True) and m["labels"] > 0
        by_mode[mode] = {
            "labels": m["labels"], "detected": m["detected"] if scored else None,
            "recall": m["detected"] / m["labels"] if scored else None,
            "median_lead_fraction": float(np.median(m["leads"])) if m["leads"] else None,
            "findings": all_by_mode[mode], "false_alarms": all_by_mode[mode] - true_by_mode[mode],
            "precision": true_by_mode[mode] / all_by_mode[mode] if all_by_mode[mode] else None,
        }
    n_true = sum(true_by_mode.values())
    return {
        "overall": {
            "recall": equipment_detected / equipment_total if equipment_total else None,
            "precision": n_true / len(eps) if eps else None,
            "false_alarms_per_asset_week": len(false) / asset_weeks if asset_weeks else None,
            "median_lead_fraction": float(np.median(equipment_leads)) if equipment_leads else None,
            "equipment_faults": equipment_total, "findings": len(eps), "false_alarms": len(false),
            "asset_weeks": asset_weeks,
        },
        "by_fault_mode": by_mode,
        "false_alarms": [{"asset": e.asset, "sensor": e.sensor, "rule": e.rule, "fault_mode": e.fault_mode,
                          "started_at": e.started_at.isoformat()} for e in false],
    }


def evaluate(fleet: Any, seed: int, start: datetime, duration: timedelta, config: DetectorsConfig) -> dict[str, Any]:
    """Simulate ``fleet`` offline with ``seed``, run the engine, and score it (see the module docstring)."""
    from simulators import simulate_offline

    run = simulate_offline(fleet, seed=seed, start=start, duration=duration)
    engine = Engine(fleet_config(config, run.assets))
    eps = episodes(feed(engine, run))
    result = score(eps, run.labels, run.assets, start + duration, duration)
    result["seed"] = seed
    result["config_version"] = engine.config_version
    return result
