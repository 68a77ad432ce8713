"""Detector evaluation: simulate a fleet offline, run the live engine over it, score the findings.

How findings are matched to the simulator's labels (docs/evaluate.md repeats this):

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
- Findings are of two kinds. A **data-quality** finding (``no_data``, ``stuck_sensor``,
  ``out_of_range``, ``clock_skew``, or any finding whose ``kind`` says so) is about the
  measurement, not the machine; every other finding is an **anomaly** finding.
- An anomaly finding is a **true alarm** if it starts inside a labelled window it can belong to: an
  equipment window from onset to the end of the run on its asset (a failed machine stays failed),
  or a sensor window on its asset and sensor. Every other anomaly finding is a **false alarm**.
  Precision = true / all anomaly findings; false alarms per asset-week count these.
- A data-quality finding is scored against the data-quality labels only (sensor windows on its
  asset and sensor, an offline window on the gateway's assets), never against an equipment fault:
  a frozen sensor on a failing pump is still a frozen sensor. Those that match none are
  data-quality false alarms, reported on their own (``data_quality``), not among the equipment
  false alarms.
- **The healthy twin.** The simulator's machine faults draw no random numbers, so the same seed with
  the equipment faults taken out gives the same readings up to each onset and the same noise,
  glitches, stops, load cycles and data-quality events after it. `evaluate` runs the engine on that
  twin too. A finding that the twin also raises (same asset, sensor and rule, starting within
  ``TWIN_TOLERANCE``) would have happened without the fault: it neither detects the fault nor is
  explained by it. Without this, a detector that fires a few times a day on noise would "detect"
  every fault by chance within hours of its onset (hard mode, seed 1, showed exactly that: recall
  1.00 with a median lead of 0.97 at 7.6 false alarms per asset-week).
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

from faultline.detectors import DetectorsConfig, Engine, Finding
from faultline.vocabulary import SEVERITIES, feature_sensor

GRACE = timedelta(hours=2)
# a finding of the faulty run and one of its healthy twin are the same event if they are on the same
# stream and check and start this close (a fault can shift a detector's state, and with it the start)
TWIN_TOLERANCE = timedelta(hours=1)
# a no_data finding starts at the last reading before the hole, up to one sample period before the
# labelled onset; sensor and gateway windows open this much early
EARLY = timedelta(minutes=15)
# findings about the measurement rather than the machine (see the module docstring)
DATA_QUALITY_MODES = {"no_data", "stuck_sensor", "out_of_range", "clock_skew"}
HEALTH_MODES = DATA_QUALITY_MODES  # the earlier name
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
    data_quality: bool | None = None  # None: decide from the fault mode

    @property
    def is_data_quality(self) -> bool:
        return self.fault_mode in DATA_QUALITY_MODES if self.data_quality is None else self.data_quality


# names a finding's own ``kind`` may give a data-quality finding (the finding contract is the detectors')
DATA_QUALITY_KINDS = {"data_quality", "data-quality", "quality", "sensor_check", "health"}


def _finding_is_data_quality(f: Finding) -> bool:
    # a finding may carry its own kind (data-quality findings as their own kind); its fault mode also says
    return getattr(f, "kind", None) in DATA_QUALITY_KINDS or f.fault_mode in DATA_QUALITY_MODES


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
            entry.setdefault(
                "bearing",
                {
                    k: getattr(a.bearing, k)
                    for k in ("n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg")
                },
            )
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
    for (asset, _sensor), (t0, rate, blocks) in run.waveforms.items():
        prefix = engine.config.waveform_for(asset)
        for name, f in engine.block_features(asset, rate, blocks).items():
            assert prefix is not None  # an asset with waveform features has a waveform check
            ids.append(np.full(len(t0), engine.stream_id(asset, feature_sensor(prefix.sensor, name))))
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
        sev = f.severity if old is None else max(old.severity, f.severity, key=SEVERITIES.index)
        by_key[key] = Episode(
            f.asset,
            f.sensor,
            f.rule,
            f.fault_mode,
            sev,
            f.started_at,
            f.ended_at or (old.ended_at if old else None),
            _finding_is_data_quality(f),
        )
    return sorted(by_key.values(), key=lambda e: e.started_at)


def score(
    eps: list[Episode],
    labels: list[Any],
    assets: dict[str, Any],
    end: datetime,
    duration: timedelta,
    healthy: list[Episode] | None = None,
) -> dict[str, Any]:
    """Recall, precision, false alarms per asset-week and lead time, overall and per fault mode.

    ``overall`` is about equipment faults and anomaly findings; ``data_quality`` about sensor and
    gateway labels and data-quality findings (see the module docstring). ``healthy``: the episodes
    of the same run without its equipment faults (the healthy twin); a finding among them is not
    credited to an equipment fault.
    """
    twin_starts: dict[tuple, list[datetime]] = defaultdict(list)
    for h in healthy or ():
        twin_starts[(h.asset, h.sensor, h.rule)].append(h.started_at)

    def in_twin(e: Episode) -> bool:
        return any(abs(t - e.started_at) <= TWIN_TOLERANCE for t in twin_starts.get((e.asset, e.sensor, e.rule), ()))

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
            if e.asset != label.asset or e.is_data_quality or in_twin(e):
                return False
            if for_recall:
                return label.onset <= e.started_at <= label.failure
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
    dq_labels = dq_detected = 0
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
        if label.kind != "equipment":
            dq_labels += 1
            dq_detected += bool(hits)
        if label.kind == "equipment":
            equipment_total += 1
            span = (label.failure - label.onset).total_seconds()
            lead = (label.failure - hits[0].started_at).total_seconds() / span if hits else 0.0
            m["leads"].append(lead)
            equipment_leads.append(lead)
            equipment_detected += bool(hits)

    true_by_mode: defaultdict[str, int] = defaultdict(int)
    all_by_mode: defaultdict[str, int] = defaultdict(int)
    false: list[Any] = []
    dq_false: list[Any] = []
    for e in eps:
        ok = any(may_explain(label, e, for_recall=False) for label in labels)
        all_by_mode[e.fault_mode] += 1
        true_by_mode[e.fault_mode] += ok
        if not ok:
            (dq_false if e.is_data_quality else false).append(e)
    n_dq = sum(e.is_data_quality for e in eps)
    n_anomaly = len(eps) - n_dq
    asset_weeks = len(assets) * duration.total_seconds() / (7 * 86400)
    by_mode = {}
    for mode in sorted(set(per_mode) | set(all_by_mode)):
        m = per_mode.get(mode, {"labels": 0, "detected": 0, "leads": []})
        scored = m.get("scored", True) and m["labels"] > 0
        by_mode[mode] = {
            "labels": m["labels"],
            "detected": m["detected"] if scored else None,
            "recall": m["detected"] / m["labels"] if scored else None,
            "median_lead_fraction": float(np.median(m["leads"])) if m["leads"] else None,
            "findings": all_by_mode[mode],
            "false_alarms": all_by_mode[mode] - true_by_mode[mode],
            "precision": true_by_mode[mode] / all_by_mode[mode] if all_by_mode[mode] else None,
        }
    return {
        "overall": {
            "recall": equipment_detected / equipment_total if equipment_total else None,
            "precision": (n_anomaly - len(false)) / n_anomaly if n_anomaly else None,
            "false_alarms_per_asset_week": len(false) / asset_weeks if asset_weeks else None,
            "median_lead_fraction": float(np.median(equipment_leads)) if equipment_leads else None,
            "equipment_faults": equipment_total,
            "equipment_detected": equipment_detected,
            "findings": n_anomaly,
            "false_alarms": len(false),
            "asset_weeks": asset_weeks,
        },
        "data_quality": {
            "labels": dq_labels,
            "detected": dq_detected,
            "recall": dq_detected / dq_labels if dq_labels else None,
            "findings": n_dq,
            "false_alarms": len(dq_false),
            "precision": (n_dq - len(dq_false)) / n_dq if n_dq else None,
            "false_alarms_per_asset_week": len(dq_false) / asset_weeks if asset_weeks else None,
        },
        "by_fault_mode": by_mode,
        "false_alarms_by_rule": _by_rule(false),
        "data_quality_false_alarms_by_rule": _by_rule(dq_false),
        "false_alarms": [
            {
                "asset": e.asset,
                "sensor": e.sensor,
                "rule": e.rule,
                "fault_mode": e.fault_mode,
                "kind": "data_quality" if e.is_data_quality else "anomaly",
                "started_at": e.started_at.isoformat(),
            }
            for e in false + dq_false
        ],
    }


def _by_rule(eps: list[Episode]) -> dict[str, int]:
    """How many of these episodes each rule (check) raised, most first."""
    counts: dict[str, int] = defaultdict(int)
    for e in eps:
        counts[e.rule] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _added(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for d in dicts:
        for k, n in d.items():
            total[k] += n
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several seeds' results as one: counts added, then the ratios (not a mean of per-seed ratios).

    >>> one = {"overall": {"equipment_faults": 2, "equipment_detected": 1, "findings": 4, "false_alarms": 1,
    ...                    "asset_weeks": 1.0},
    ...        "data_quality": {"labels": 1, "detected": 1, "findings": 2, "false_alarms": 0}}
    >>> p = pooled([one, one])
    >>> p["recall"], p["precision"], p["false_alarms_per_asset_week"], p["data_quality_recall"]
    (0.5, 0.75, 1.0, 1.0)
    """

    def total(section: str, key: str) -> float:
        return sum(r[section].get(key, 0) or 0 for r in results)

    faults, found = total("overall", "equipment_faults"), total("overall", "equipment_detected")
    findings, false = total("overall", "findings"), total("overall", "false_alarms")
    weeks = total("overall", "asset_weeks")
    dq_labels, dq_found = total("data_quality", "labels"), total("data_quality", "detected")
    dq_findings, dq_false = total("data_quality", "findings"), total("data_quality", "false_alarms")
    modes: dict[str, dict[str, int]] = defaultdict(lambda: {"labels": 0, "detected": 0})
    for r in results:
        for mode, m in r.get("by_fault_mode", {}).items():
            if m.get("detected") is not None:
                modes[mode]["labels"] += m["labels"]
                modes[mode]["detected"] += m["detected"]
    return {
        "seeds": [r.get("seed") for r in results],
        "mode": results[0].get("mode") if results else None,
        "recall": found / faults if faults else None,
        "precision": (findings - false) / findings if findings else None,
        "false_alarms_per_asset_week": false / weeks if weeks else None,
        "equipment_faults": int(faults),
        "equipment_detected": int(found),
        "findings": int(findings),
        "false_alarms": int(false),
        "asset_weeks": weeks,
        "data_quality_recall": dq_found / dq_labels if dq_labels else None,
        "data_quality_precision": (dq_findings - dq_false) / dq_findings if dq_findings else None,
        "data_quality_false_alarms_per_asset_week": dq_false / weeks if weeks else None,
        "recall_by_fault_mode": {
            mode: {**m, "recall": m["detected"] / m["labels"] if m["labels"] else None}
            for mode, m in sorted(modes.items())
        },
        "false_alarms_by_rule": _added([r.get("false_alarms_by_rule", {}) for r in results]),
        "data_quality_false_alarms_by_rule": _added([r.get("data_quality_false_alarms_by_rule", {}) for r in results]),
    }


def healthy_twin(fleet: Any) -> Any:
    """The fleet without its equipment faults (configured or drawn); sensors and gateways unchanged."""
    return fleet.model_copy(
        update={
            "assets": tuple(a.model_copy(update={"faults": ()}) for a in fleet.assets),
            "random_faults": fleet.random_faults.model_copy(update={"count": 0}),
        }
    )


def evaluate(
    fleet: Any, seed: int, start: datetime, duration: timedelta, config: DetectorsConfig, mode: str | None = None
) -> dict[str, Any]:
    """Simulate ``fleet`` offline with ``seed``, run the engine, and score it (see the module docstring).

    ``mode`` (``easy`` or ``hard``) overrides the fleet file's.
    """
    from faultline.simulators import simulate_offline

    run = simulate_offline(fleet, seed=seed, start=start, duration=duration, mode=mode)
    engine = Engine(fleet_config(config, run.assets))
    eps = episodes(feed(engine, run))
    twin = simulate_offline(healthy_twin(fleet), seed=seed, start=start, duration=duration, mode=mode)
    healthy = episodes(feed(Engine(fleet_config(config, twin.assets)), twin))
    result = score(eps, run.labels, run.assets, start + duration, duration, healthy)
    result["seed"] = seed
    result["mode"] = run.mode
    result["config_version"] = engine.config_version
    return result
