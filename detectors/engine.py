"""The engine: configured detectors and alert rules over batches of readings, producing findings.

The same object serves the live service (one call per ingested batch), a backtest over stored
history and ``faultline score`` over a CSV file, so what is measured offline is what runs live.

Streams are ``(asset, sensor)`` pairs, numbered as they are first seen (``stream_id``). Every check
of an asset's configuration is a *slot*: one detector instance and one alert rule shared by all the
streams whose resolved check is identical, so ten thousand pumps with the class defaults cost one
vectorised call per check, not ten thousand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import numpy as np
from scipy import signal

from faultline.vocabulary import StreamKey, feature_sensor

from faultline.detectors.calibration import DATA_QUALITY_MODES, combine
from faultline.detectors.config import CheckConfig, DetectorsConfig, MultivariateConfig
from faultline.detectors.drift import Cusum, Ewma
from faultline.detectors.health import NoData
from faultline.detectors.rules import Alert, AlertRule
from faultline.detectors.streams import StreamingDetector, check_batch
from faultline.detectors.thresholds import IsoZones, iso_zone
from faultline.detectors.trend import TrendToLimit
from faultline.detectors.waveform import (
    BEARING_MODES,
    BearingGeometry,
    bearing_frequencies,
    block_features,
    diagnose_bearing,
)

__all__ = ["BEARING_FAULT_MODES", "BatchResult", "Engine", "Finding", "bearing_defect_features"]

# a multivariate row scoring below the alarm level is taken as normal when refreshing: leaving out more
# (all rows over the clear level, say) would fit a lighter tail each time, and alarm more each time
_ACCEPT_BELOW = 1.0
# rows below the clear level that end a multivariate departure (until then its rows are not learnt)
_CALM_ROWS = 5


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


@dataclass(frozen=True)
class Finding:
    """What an alert rule says about one sensor of one asset (detectors → ticketing, via the wiring).

    ``status`` is ``opened``, ``escalated`` (severity rose) or ``closed``; ``ended_at`` is None
    until closed. ``score`` is the peak score so far (1.0 = the detector's alarm level).
    ``thresholds`` holds the detector parameters and the rule in force; ``evidence`` summarises
    the readings since the start (min, max, mean, last, n, window_start, window_end) plus what the
    detector adds (ISO zone, hours to limit).

    ``kind`` says what the finding is about: ``anomaly`` (the machine) or ``data_quality`` (the
    data: a stuck or silent sensor). A data-quality finding asks for a sensor check, not a repair,
    and its detector's score is never part of ``BatchResult.score``.
    """

    site: str | None
    asset: str
    sensor: str
    fault_mode: str
    severity: str
    score: float
    started_at: datetime
    ended_at: datetime | None
    detector: str
    detector_version: str
    rule: str
    config_version: str
    thresholds: dict[str, Any]
    evidence: dict[str, Any]
    status: str = "opened"
    kind: str = "anomaly"

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 UTC)."""
        d = dict(vars(self))
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return d


@dataclass
class BatchResult:
    """Scores of one batch and the findings it produced.

    Attributes
    ----------
    scores : dict of check name to ndarray of float64, shape (n,)
        Each check's score per reading; NaN where the check does not apply to the reading.
    score : ndarray of float64, shape (n,)
        The combined score per reading (0 where none applies): 1 + the largest excess of one of the
        reading's anomaly checks over its own alarm level, never below 0 (``detectors.calibration.
        combine``), so 1.0 is where a check alarms; with every alarm at 1.0 it is the largest score.
        Data-quality checks (stuck sensor, no data) do not enter it. Higher is more abnormal.
    findings : list of Finding
    rejected : ndarray of int64
        Positions of readings that were not scored because their value is not finite (NaN, inf);
        their score is NaN. The wiring counts or dead-letters them.
    blame : dict of check name to ndarray of int64, shape (n,)
        For multivariate checks: the stream id of the sensor most to blame for each scored row
        (-1 elsewhere). A row's score sits on its first sensor's reading; this names the culprit.
    """

    scores: dict[str, np.ndarray]
    score: np.ndarray
    findings: list[Finding] = field(default_factory=list)
    rejected: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    blame: dict[str, np.ndarray] = field(default_factory=dict)


class _Slot:
    """One resolved check: a detector and its rule, and which streams it watches."""

    def __init__(self, name: str, check: CheckConfig, extra: dict[str, Any]):
        self.name, self.check, self.extra = name, check, extra
        self.detector: StreamingDetector = check.build(extra)
        self.rule: AlertRule = check.rule.build()
        self.kind = self.detector.finding_kind
        self.member = np.zeros(0, dtype=bool)
        self.thresholds = {**self.detector.params(), "rule": check.rule.model_dump(mode="json")}

    @staticmethod
    def key(name: str, check: CheckConfig, extra: dict[str, Any]) -> str:
        return json.dumps([name, check.model_dump(mode="json"), extra], sort_keys=True)

    def watch(self, stream_id: int) -> None:
        if stream_id >= len(self.member):
            self.member = np.concatenate([self.member, np.zeros(max(stream_id + 1 - len(self.member), 64), bool)])
        self.member[stream_id] = True

    def mask(self, stream: np.ndarray, value: np.ndarray) -> np.ndarray:
        inside = stream < len(self.member)
        m = np.zeros(len(stream), dtype=bool)
        m[inside] = self.member[stream[inside]]
        if self.check.skip_below is not None:
            m &= value >= self.check.skip_below
        return m


class _AssetModel:
    """One multivariate check on one asset: the latest value per sensor, the baseline, the model."""

    def __init__(self, asset: str, name: str, cfg: MultivariateConfig, ids: list[int]):
        self.asset, self.name, self.cfg = asset, name, cfg
        self.ids = np.asarray(ids, dtype=np.int64)  # stream id per sensor; ids[0] drives rows
        self.held = np.full(len(ids), np.nan)
        self.baseline: list[np.ndarray] = []
        self.n_baseline = 0
        self.model: Any = None
        self.reference: Any = None  # the model of the warm-up, when the asset is taken as healthy
        self.blamed = cfg.sensors[0]  # the sensor named by the open alert
        self.accepted = np.empty((0, len(ids)))  # with refresh: the latest rows accepted as normal
        self.run: list[np.ndarray] = []  # rows of the departure going on now
        self.before: np.ndarray | None = None  # the mean of the rows accepted right before it
        self.onset: np.ndarray | None = None  # its sudden changes from them, in robust scales
        self.mark: np.ndarray | None = None  # the rows' change from them when last looked at
        self.mark_n = 0  # the departure's rows then
        self.calm = 0  # rows below the clear level at its end
        self.smoothed: np.ndarray | None = None  # with smooth: the last smoothed row
        self.ahead = 0  # rows since the last row the model was fitted on
        self.gap = 0  # rows since the last row accepted as normal
        self.seen = 0  # rows since the warm-up (the reference's fit)
        self.since_fit = 0

    def rows(self, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, ts, rows (k, p)): a row of the latest values at each reading of the first sensor."""
        pos = np.flatnonzero(np.isin(s, self.ids))
        if not len(pos):
            return pos, pos, np.empty((0, len(self.ids)))
        col = np.searchsorted(self.ids, s[pos], sorter=np.argsort(self.ids))
        col = np.argsort(self.ids)[col]
        k, p = len(pos), len(self.ids)
        seen = np.full((k, p), -1)
        seen[np.arange(k), col] = np.arange(k)
        seen = np.maximum.accumulate(seen, axis=0)  # latest reading of each sensor so far
        latest = np.where(seen >= 0, v[pos][np.maximum(seen, 0)], self.held[None, :])
        self.held = latest[-1].copy()
        drive = (col == 0) & np.isfinite(latest).all(axis=1)
        return pos[drive], t[pos][drive], latest[drive]

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (k,) and top sensor (k,) of the rows; rows that complete the baseline fit the model."""
        if self.cfg.smooth and len(x):
            x = self._smooth(x)
        score = np.zeros(len(x))
        top = np.zeros(len(x), dtype=np.int64)
        start = 0
        if self.model is None:
            take = min(self.cfg.baseline - self.n_baseline, len(x))
            self.baseline.append(x[:take])
            self.n_baseline += take
            start = take
            if self.n_baseline == self.cfg.baseline:
                self.model = self.reference = self.cfg.build().fit(np.vstack(self.baseline))
                self.accepted = np.vstack(self.baseline)
                self.baseline = []
        # with refresh, rows go in pieces that end where the model may refit, so the scores do not
        # depend on how the rows were batched
        piece = self.cfg.refresh and max(1, min(self.cfg.refresh, self.cfg.relearn or self.cfg.refresh) // 4)
        i = start
        while self.model is not None and i < len(x):
            j = len(x) if not piece else min(len(x), i + piece - self.since_fit % piece)
            kw = {"ahead": self.ahead} if hasattr(self.model, "trend_") else {}
            score[i:j] = self.model.score(x[i:j], **kw)
            top[i:j] = self.model.top_feature(x[i:j], **kw)
            self.ahead += j - i
            if self.cfg.refresh:
                self._learn(x[i:j], score[i:j])
            i = j
        return score, top

    def _smooth(self, x: np.ndarray) -> np.ndarray:
        """Rows → their exponentially weighted mean over ``smooth`` rows (half-life), carried across calls."""
        a = 1.0 - 0.5 ** (1.0 / self.cfg.smooth)
        start = x[0] if self.smoothed is None else self.smoothed
        out = signal.lfilter([a], [1.0, a - 1.0], x, axis=0, zi=((1.0 - a) * start)[None, :])[0]
        self.smoothed = out[-1].copy()
        return out

    def _came_back(self, recent: np.ndarray, ahead: int) -> bool:
        """Have the latest rows of a long departure gone most of the way back to where they were?

        Yes when they have undone more than half of the change that made the departure, and have
        settled (`_settled`): that change is the one from the rows accepted right before the
        departure to its rows after the transition into it (rows ``relearn`` to ``2 relearn``),
        plus any later sudden change away from those rows (a sensor moving by more than three
        robust scales in ``relearn`` rows: a second fault); the latest rows' own change from the
        rows before is projected on it, in the model's metric (Mahalanobis: a move along the learnt
        relations, a load swinging, counts for little). A level that crept on in other sensors while
        the model was frozen (a motor warming, a load wandering) is not part of that change, and
        must not keep an episode open after the sensors that departed came back.

        Yes too when the mean of ``recent`` sits less than half as far from the model (in robust
        scales) as the body of the departure (its rows after the first ``relearn``), or the warm-up
        model takes them as normal.
        """
        relearn = self.cfg.relearn
        scale = getattr(self.model, "scale_", None)
        metric = getattr(self.model, "precision_", None)
        if scale is not None and metric is not None and self.before is not None and len(self.run) >= 3 * relearn:
            now = (recent.mean(axis=0) - self.before) / scale
            if self.onset is None:
                self.onset = (np.mean(self.run[relearn : 2 * relearn], axis=0) - self.before) / scale
                self.mark, self.mark_n = now, len(self.run)
            elif self.mark is not None and len(self.run) - self.mark_n >= relearn:
                step = now - self.mark
                if np.abs(step).max() > 3.0 and 2.0 * float(now @ step) > float(step @ step):
                    self.onset = self.onset + step
                self.mark, self.mark_n = now, len(self.run)
            size = float(self.onset @ metric @ self.onset)
            if size > 0 and float(now @ metric @ self.onset) < 0.5 * size and self._settled(recent):
                return True
        shift = getattr(self.model, "shift", None)
        body = self.run[relearn : -len(recent)]
        if shift is not None and len(body) >= relearn:
            away = float(np.linalg.norm(shift(np.vstack(body), ahead=ahead - len(body))))
            if float(np.linalg.norm(shift(recent, ahead=ahead))) < 0.5 * away:
                return True
        return self.reference is not None and bool(
            np.median(self.reference.score(recent, ahead=self.seen - len(recent))) < _ACCEPT_BELOW
        )

    def _settled(self, recent: np.ndarray) -> bool:
        """Has no sensor moved by more than three robust scales from the first third of ``recent`` to its last?"""
        scale = getattr(self.model, "scale_", None)
        if scale is None:
            return False
        third = max(1, len(recent) // 3)
        return bool((np.abs(recent[-third:].mean(axis=0) - recent[:third].mean(axis=0)) / scale).max() <= 3.0)

    def _learn(self, x: np.ndarray, score: np.ndarray) -> None:
        """Keep the rows accepted as normal; refit every ``refresh`` rows on the latest of them.

        A departure (a row at the alarm level) is frozen out of the fit until it has ended: the
        score has stayed below the clear level for ``_CALM_ROWS`` rows. A departure that lasts
        ``relearn`` rows is accepted as a new operating point, and refitted on at once, when the
        model says the sensors moved together the way they were seen to (``new_operating_point``),
        or, with ``hold``, only once it has lasted ``hold`` rows if they did not.
        """
        keep = [self.accepted]
        clear = self.cfg.rule.clear
        judge = getattr(self.model, "new_operating_point", None) if self.cfg.hold else None
        for row, sc in zip(x, score):  # a few rows per piece: sequential by nature (runs)
            self.gap += 1
            self.seen += 1
            if not self.run:
                if sc < _ACCEPT_BELOW:
                    keep.append(row[None, :])
                    self.gap = 0
                    continue
                self.calm = 0
                last = np.vstack(keep)[-max(1, self.cfg.relearn) :]
                self.before = last.mean(axis=0) if len(last) else None
                self.onset = self.mark = None
            self.run.append(row)
            self.calm = self.calm + 1 if sc < clear else 0
            if self.calm >= _CALM_ROWS:  # the departure is over: none of it is learnt
                self.run, self.calm = [], 0
                continue
            n = len(self.run)
            if not self.cfg.relearn or n < self.cfg.relearn:
                continue
            anchor = False
            if self.cfg.hold and n < self.cfg.hold:
                if n % max(1, self.cfg.relearn // 3):
                    continue
                recent = np.vstack(self.run[-self.cfg.relearn :])
                ahead = self.gap - len(recent)
                # the episode is over (its body is not learnt), or it is a new operating point
                back = self._came_back(recent, ahead)
                if not back and not (judge is not None and judge(recent, ahead=ahead)):
                    continue
                anchor = back and self.before is not None and self._settled(recent)
                self.run = self.run[-self.cfg.relearn :]  # the new point, not the transition to it
            if anchor:
                # a departure that ended, the rows settled: the rows kept from before it move by
                # what changed meanwhile (a motor warmed, a load wandered while the model was frozen)
                # to where the latest of them are, so that the refit model is where the sensors are
                latest = self.run[-max(1, len(self.run) // 3) :]
                keep = [np.vstack(keep) + (np.mean(latest, axis=0) - self.before)]
            keep.append(np.vstack(self.run))  # a new operating point, or the rows after a departure
            self.run, self.calm, self.gap = [], 0, 0
            self.since_fit = self.cfg.refresh - 1  # refit at the end of this piece
        self.accepted = np.vstack(keep)[-self.cfg.baseline :]
        self.since_fit += len(x)
        if self.since_fit >= self.cfg.refresh and len(self.accepted) >= min(self.cfg.baseline, 20):
            self.model = self.cfg.build().fit(self.accepted)
            self.since_fit, self.ahead = 0, self.gap

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": self.held.tolist(),
            "n_baseline": self.n_baseline,
            "blamed": self.blamed,
            "accepted": self.accepted.tolist(),
            "run": [r.tolist() for r in self.run],
            "before": None if self.before is None else self.before.tolist(),
            "onset": None if self.onset is None else self.onset.tolist(),
            "mark": None if self.mark is None else self.mark.tolist(),
            "mark_n": self.mark_n,
            "since_fit": self.since_fit,
            "calm": self.calm,
            "ahead": self.ahead,
            "gap": self.gap,
            "seen": self.seen,
            "smoothed": None if self.smoothed is None else self.smoothed.tolist(),
            "baseline": np.vstack(self.baseline).tolist() if self.baseline else [],
            "model": None if self.model is None else self.model.to_dict(),
            "reference": None if self.reference is None else self.reference.to_dict(),
        }

    def load(self, d: dict[str, Any]) -> None:
        self.held = np.asarray(d["held"], dtype=np.float64)
        self.n_baseline = int(d["n_baseline"])
        self.blamed = d["blamed"]
        self.accepted = np.asarray(d.get("accepted", []), dtype=np.float64).reshape(-1, len(self.ids))
        self.run = [np.asarray(r, dtype=np.float64) for r in d.get("run", [])]
        self.before, self.onset, self.mark = (
            None if d.get(k) is None else np.asarray(d[k], dtype=np.float64) for k in ("before", "onset", "mark")
        )
        self.mark_n = int(d.get("mark_n", 0))
        self.since_fit = int(d.get("since_fit", 0))
        self.calm = int(d.get("calm", 0))
        self.ahead, self.gap, self.seen = (int(d.get(k, 0)) for k in ("ahead", "gap", "seen"))
        self.smoothed = None if d.get("smoothed") is None else np.asarray(d["smoothed"], dtype=np.float64)
        rows = np.asarray(d["baseline"], dtype=np.float64).reshape(-1, len(self.ids))
        self.baseline = [rows] if len(rows) else []
        if d["model"] is not None:
            self.model = type(self.cfg.build()).from_dict(d["model"])
        if d.get("reference") is not None:
            self.reference = type(self.cfg.build()).from_dict(d["reference"])


#: The bearing diagnosis' streams under the waveform sensor (``accel.bearing_defect`` ...), and the fault
#: mode each code of ``bearing_mode`` names. A check whose fault_mode is ``bearing_defect`` watches
#: ``<sensor>.bearing``; its findings take the mode of the block that opened them.
BEARING_FAULT_MODES = {1: "bearing_outer_race", 2: "bearing_inner_race", 3: "bearing_ball", 4: "bearing_cage"}
_BEARING_RATIOS = BEARING_MODES


def bearing_defect_features(
    config: DetectorsConfig, asset: str, rate_hz: float, blocks: np.ndarray
) -> dict[str, np.ndarray]:
    """The bearing diagnosis of each block (see `diagnose_bearing`), as its configuration gives it.

    Parameters
    ----------
    config : DetectorsConfig
        Gives the asset's waveform settings (``defect_frequencies``, ``defect_band_hz``, none = chosen
        by spectral kurtosis), bearing geometry and running speed.
    asset : str
    rate_hz : float
        Sampling rate of the blocks.
    blocks : ndarray, shape (n_blocks, n_samples)
        Acceleration blocks of the asset's waveform sensor.

    Returns
    -------
    dict of str to ndarray, shape (n_blocks,)
        ``bearing_defect``: the best-matching mode's strength (1.0 = a defect tone clear of its local floor);
        ``bearing_mode``: its code (0 none, 1 outer race, 2 inner race, 3 ball, 4 cage);
        ``bpfo``, ``bpfi``, ``bsf``, ``ftf``: each mode's peak-to-local-floor amplitude ratio (about
        1 when healthy; a mode the blocks are too short to resolve, often the cage, is left out).
        Empty when the asset has no waveform settings, defect frequencies are off, or its bearing or
        running speed is not known.
    """
    wf = config.waveform_for(asset)
    info = config.asset(asset)
    if wf is None or not wf.defect_frequencies or info.bearing is None or not info.running_speed_hz or not len(blocks):
        return {}
    defect_hz = bearing_frequencies(BearingGeometry(**info.bearing.model_dump()), info.running_speed_hz)
    d = diagnose_bearing(
        blocks,
        rate_hz,
        {k: float(f) for k, f in defect_hz.items()},
        float(info.running_speed_hz),
        band_hz=wf.defect_band_hz,
    )
    out = {"bearing_defect": d.strength, "bearing_mode": d.mode.astype(np.float64)}
    out.update({k: r for k, r in d.ratios.items() if np.isfinite(r).any()})
    return out


def _name_bearing_faults(
    engine: Engine, events: list[tuple[int, Finding]], s: np.ndarray, t: np.ndarray, v: np.ndarray
) -> list[tuple[int, Finding]]:
    """Give each ``bearing_defect`` finding the mode its block named, and every mode's ratio as evidence.

    The diagnosis of one block arrives as several streams with the block's time (``accel.bearing_defect``,
    ``accel.bearing_mode``, ``accel.bpfo`` ...), in the same batch. An alert keeps the mode of the
    block that opened it through its escalations and its close, so a bearing has one work order.
    """
    out = []
    for at_ns, f in events:
        if f.fault_mode != "bearing_defect":
            out.append((at_ns, f))
            continue
        prefix = f.sensor.rsplit(".", 1)[0]
        key = (f.asset, f.sensor, f.started_at)
        seen = {}
        for name in ("bearing_mode", *_BEARING_RATIOS):
            sid = engine._ids.get((f.asset, f"{prefix}.{name}"))
            if sid is not None:
                at = np.flatnonzero((s == sid) & (t == at_ns))
                if len(at):
                    seen[name] = float(v[at[-1]])
        mode = engine._bearing_named.get(key) or BEARING_FAULT_MODES.get(int(seen.get("bearing_mode", 0)))
        if f.status == "opened" and mode:
            engine._bearing_named[key] = mode
        elif f.status == "closed":
            engine._bearing_named.pop(key, None)
        f.evidence.update(bearing_mode=mode, peak_to_floor={k: seen[k] for k in _BEARING_RATIOS if k in seen})
        out.append((at_ns, replace(f, fault_mode=mode) if mode else f))
    return out


class Engine:
    """Runs the configured checks over batches of readings.

    Parameters
    ----------
    config : DetectorsConfig
    config_version : str, optional
        Label of the configuration version (from ``ConfigHistory``), carried by every finding;
        default ``sha-<first 12 hex of the digest>``.

    Examples
    --------
    >>> cfg = DetectorsConfig(classes={"default": {"checks": {"hot": {
    ...     "sensor": "bearing_temp", "detector": "static_limit", "params": {"high": 90},
    ...     "fault_mode": "overheating", "rule": {"alarm": 1.0, "clear": 0.95, "n": 2, "m": 3}}}}})
    >>> engine = Engine(cfg, config_version="v1")
    >>> sid = engine.stream_id("P-101", "bearing_temp")
    >>> temp = np.array([60.0, 61, 92, 93, 95, 70])
    >>> result = engine.process(np.full(6, sid), np.arange(6) * 60 * 10**9, temp)
    >>> [(f.status, f.fault_mode, f.severity, f.evidence["max"]) for f in result.findings]
    [('opened', 'overheating', 'low', 93.0), ('closed', 'overheating', 'low', 95.0)]
    """

    def __init__(self, config: DetectorsConfig, config_version: str | None = None):
        self.config = config
        self.config_version = config_version or f"sha-{config.digest()[:12]}"
        self._streams: list[StreamKey] = []
        self._ids: dict[tuple[str, str], int] = {}
        self._slots: dict[str, _Slot] = {}
        self._deadman = self._new_deadman(config)
        self._silent = np.zeros(0, dtype=bool)
        self._live_since_start = False
        self._models: dict[tuple[str, str], _AssetModel] = {}
        self._building: set[tuple[str, str]] = set()  # models whose sensors are being registered
        self._model_rules: dict[str, AlertRule] = {}
        self._model_member = np.zeros(0, dtype=bool)  # stream id → feeds some multivariate check
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._blame: dict[str, np.ndarray] = {}  # the batch in hand: multivariate culprits (BatchResult.blame)
        self.fresh_checks: list[str] = []  # after from_dict: checks that could not resume
        self._bearing_named: dict[
            tuple[str, str, datetime], str
        ] = {}  # open bearing alerts → the mode they were opened with

    @staticmethod
    def _new_deadman(config: DetectorsConfig) -> NoData:
        return NoData(max_gap_s=config.silence_after, intervals=config.silence_intervals)

    # --- streams -----------------------------------------------------------------------------
    def stream_id(self, asset: str, sensor: str) -> int:
        """The id of stream (asset, sensor), registering it and its checks on first sight."""
        key = StreamKey(asset, sensor)
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self._streams)
            self._streams.append(key)
            for name, (check, extra) in self.config.checks_for(asset).items():
                if check.sensor == sensor or (check.sensor == "*" and not key.is_feature):
                    slot_key = _Slot.key(name, check, extra)
                    slot = self._slots.get(slot_key)
                    if slot is None:
                        slot = self._slots[slot_key] = _Slot(name, check, extra)
                    slot.watch(sid)
            for name, mv in self.config.multivariate_for(asset).items():
                if sensor in mv.sensors and (asset, name) not in self._models and (asset, name) not in self._building:
                    self._building.add((asset, name))  # registering its other sensors comes back here
                    try:
                        ids = [self.stream_id(asset, x) for x in mv.sensors]
                    finally:
                        self._building.discard((asset, name))
                    self._models[(asset, name)] = _AssetModel(asset, name, mv, ids)
                    if max(ids) >= len(self._model_member):
                        grown = np.zeros(max(ids) + 64, dtype=bool)
                        grown[: len(self._model_member)] = self._model_member
                        self._model_member = grown
                    self._model_member[ids] = True
                    self._model_rules.setdefault(name, mv.rule.build())
        return sid

    def stream_ids(self, pairs: Iterable[tuple[str, str]]) -> np.ndarray:
        return np.fromiter((self.stream_id(a, s) for a, s in pairs), dtype=np.int64)

    def stream(self, stream_id: int) -> StreamKey:
        """(asset, sensor) of a stream id."""
        return self._streams[stream_id]

    def acknowledge(self, asset: str, fault_mode: str | None = None) -> int:
        """Acknowledge the alerts of ``asset`` (of one fault mode, or all): a latched alert may then
        close, by its rule's hysteresis and ``clear_after``. Returns how many streams were acknowledged."""
        sids = np.array([i for i, (a, _) in enumerate(self._streams) if a == asset], dtype=np.int64)
        if not len(sids):
            return 0
        done = 0
        for slot in self._slots.values():
            if fault_mode is None or slot.check.fault_mode == fault_mode:
                mine = sids[sids < len(slot.member)]
                mine = mine[slot.member[mine]]
                slot.rule.acknowledge(mine)
                done += len(mine)
        for (owner, name), model in self._models.items():
            if owner == asset and (fault_mode is None or model.cfg.fault_mode == fault_mode):
                self._model_rules[name].acknowledge(np.array(model.ids[:1], dtype=np.int64))  # the driver stream
                done += 1
        return done

    @property
    def check_names(self) -> list[str]:
        return sorted({s.name for s in self._slots.values()})

    # --- processing --------------------------------------------------------------------------
    def process(self, stream: Any, ts_ns: Any, value: Any, now_ns: int | None = None) -> BatchResult:
        """Score a batch of readings and advance every check's state.

        Parameters
        ----------
        stream : ndarray of int, shape (n,)
            Stream ids from ``stream_id``.
        ts_ns : ndarray of int64, shape (n,)
        value : ndarray of float64, shape (n,)
            Readings that are not finite are not scored and are listed in ``rejected``.
        now_ns : int, optional
            The wall clock (live): the batch's streams arrived now, and the deadman is asked which
            streams have had no data arrive for longer than they are allowed (``silent``); its
            findings come with the batch's. ``replay`` drives history without it.
        """
        value = np.asarray(value, dtype=np.float64)
        bad = ~np.isfinite(value)
        if bad.any():  # a NaN must not stop the batch: score the rest, say which were left out
            keep = np.flatnonzero(~bad)
            sub = self.process(np.asarray(stream)[keep], np.asarray(ts_ns)[keep], value[keep], now_ns)
            full = {k: np.full(len(value), np.nan) for k in sub.scores}
            for k, col in sub.scores.items():
                full[k][keep] = col
            score = np.full(len(value), np.nan)
            score[keep] = sub.score
            blame = {k: np.full(len(value), -1, np.int64) for k in sub.blame}
            for k, col in sub.blame.items():
                blame[k][keep] = col
            return BatchResult(full, score, sub.findings, np.flatnonzero(bad), blame)
        s, t, v = check_batch(stream, ts_ns, value)
        if len(s) and s.max() >= len(self._streams):
            raise ValueError(f"stream id {int(s.max())} was never registered with stream_id()")
        scores: dict[str, np.ndarray] = {}
        self._blame = {}
        events: list[tuple[int, Finding]] = []
        for slot in self._slots.values():
            idx = np.flatnonzero(slot.mask(s, v))
            if not len(idx):
                continue
            sc = slot.detector.update(s[idx], t[idx], v[idx])
            col = scores.setdefault(slot.name, np.full(len(s), np.nan))
            col[idx] = sc
            for alert in slot.rule.update(s[idx], t[idx], sc, v[idx]):
                events.append((alert.at_ns, self._finding(slot, alert)))
        events.extend(self._feed_models(s, t, v, scores))
        # the findings of streams that came back are closed ones: ended_at is set
        events.extend(
            (int(f.ended_at.timestamp() * 1e9), f)  # type: ignore[union-attr]
            for f in self._resumed(s, t)
        )
        if len(s):
            self._deadman.update(s, t, v)
        if now_ns is not None:
            self._deadman.arrive(np.unique(s), now_ns)
            events.extend((int(now_ns), f) for f in self.silent(now_ns, live=True))
        combined = self.combined(scores, len(s))
        events = _name_bearing_faults(self, events, s, t, v)
        events.sort(key=lambda e: (e[0], e[1].asset, e[1].sensor, e[1].rule))  # in the order they happened
        return BatchResult(scores, combined, [f for _, f in events], blame=self._blame)

    def anomaly_checks(self) -> set[str]:
        """Names of the checks whose scores are about the machine (not data quality)."""
        return set(self.alarm_levels())

    def combined(self, scores: dict[str, np.ndarray], n: int) -> np.ndarray:
        """Each reading's combined score (``detectors.calibration.combine``) over its anomaly checks.

        A check's alarm level is its rule's ``alarm``; where several assets give one check
        different alarm levels, the lowest is used.
        """
        alarms = self.alarm_levels()
        names = [name for name in scores if name in alarms]
        if not names:
            return np.zeros(n)
        return combine(np.column_stack([scores[k] for k in names]), np.array([alarms[k] for k in names]))

    def alarm_levels(self) -> dict[str, float]:
        """Alarm level of each anomaly check by name (data-quality checks are left out)."""
        out: dict[str, float] = {}
        for slot in self._slots.values():
            if slot.kind == "anomaly" and slot.check.fault_mode not in DATA_QUALITY_MODES:
                out[slot.name] = min(out.get(slot.name, np.inf), slot.check.rule.alarm)
        for m in self._models.values():
            if m.cfg.fault_mode not in DATA_QUALITY_MODES:
                out[m.name] = min(out.get(m.name, np.inf), m.cfg.rule.alarm)
        return out

    def replay(
        self,
        stream: Any,
        ts_ns: Any,
        value: Any,
        step_ns: int,
        end_ns: int | None = None,
        max_rows: int = 500_000,
        start_ns: int | None = None,
    ) -> Iterator[tuple[np.ndarray, BatchResult]]:
        """Feed stored readings through ``process`` in time order, as the live service would have seen
        them: the one way backtest, ``faultline score`` and ``faultline evaluate`` drive the engine.

        The readings go in ``step_ns`` spans of their timestamps (aligned to the first), and after
        each the deadman is asked at ``now`` = the span's end, never past ``end_ns`` (default: the
        last reading), so it judges silence inside the history and not after it, on the readings'
        own time. ``start_ns`` sets where the spans start (default: the first reading), so that a part
        of the streams replayed on its own is cut into the same spans as the whole. A span of more than ``max_rows`` readings goes in several batches (the detectors
        give the same scores however the readings are split). At the end the multivariate checks
        run on what they gathered (``flush``).

        Yields
        ------
        (positions, BatchResult)
            The input positions of the batch's readings (time order), and its result; the last
            yield has no positions and carries the findings of the flush.
        """
        s = np.asarray(stream, dtype=np.int64)
        t = np.asarray(ts_ns, dtype=np.int64)
        v = np.asarray(value, dtype=np.float64)
        if not len(t):
            yield np.empty(0, np.int64), BatchResult({}, np.zeros(0), self.flush())
            return
        order = np.argsort(t, kind="stable")
        t_sorted = t[order]
        first, last = int(t_sorted[0]), int(t_sorted[-1])
        end = last if end_ns is None else int(end_ns)
        lo = first if start_ns is None else min(int(start_ns), first)
        while lo <= min(last, end):
            hi = lo + int(step_ns)
            a, b = np.searchsorted(t_sorted, [lo, hi])
            for c in range(a, b, max_rows):
                d = min(c + max_rows, b)
                pos = order[c:d]
                result = self.process(s[pos], t[pos], v[pos])
                if d == b:
                    result.findings.extend(self.silent(min(hi, end)))
                yield pos, result
            if a == b:
                yield order[a:a], BatchResult({}, np.zeros(0), self.silent(min(hi, end)))
            lo = hi
        yield np.empty(0, np.int64), BatchResult({}, np.zeros(0), self.flush())

    def _feed_models(
        self, s: np.ndarray, t: np.ndarray, v: np.ndarray, scores: dict[str, np.ndarray], force: bool = False
    ) -> list[tuple[int, Finding]]:
        """Multivariate checks run on what has gathered once it spans ``multivariate_every``.

        Their models are per asset, so they cost a little Python per asset; gathering a minute of
        one-second batches keeps 10,000 live streams cheap. Readings are processed in order either
        way, so the findings do not depend on it; a reading's model score appears in the batch
        that runs the models (NaN in the batches that only gathered).
        """
        if not self._models:
            return []
        inside = s < len(self._model_member)
        feeds = np.zeros(len(s), dtype=bool)
        feeds[inside] = self._model_member[s[inside]]
        idx = np.flatnonzero(feeds)
        if len(idx):
            self._pending.append((s[idx], t[idx], v[idx]))
        if not self._pending:
            return []
        ps, pt, pv = (np.concatenate(cols) for cols in zip(*self._pending))
        if not force and int(pt.max()) - int(pt.min()) < self.config.multivariate_every * 1e9:
            return []
        self._pending = []
        where = np.full(len(ps), -1)  # position in this batch, -1 if gathered earlier
        where[len(ps) - len(idx) :] = idx
        order = np.argsort(ps, kind="stable")
        sorted_s = ps[order]
        out = []
        for model in self._models.values():
            lo, hi = np.searchsorted(sorted_s, model.ids, "left"), np.searchsorted(sorted_s, model.ids, "right")
            sel = np.sort(np.concatenate([order[a:b] for a, b in zip(lo, hi)]))
            if len(sel):
                out += self._process_model(model, ps[sel], pt[sel], pv[sel], where[sel], len(s), scores)
        return out

    def flush(self) -> list[Finding]:
        """Run the multivariate checks on whatever has gathered (end of a file or a backtest)."""
        events = self._feed_models(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), {}, force=True)
        events.sort(key=lambda e: (e[0], e[1].asset, e[1].sensor, e[1].rule))
        return [f for _, f in events]

    def _process_model(
        self,
        model: _AssetModel,
        s: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        where: np.ndarray,
        n: int,
        scores: dict[str, np.ndarray],
    ) -> list[tuple[int, Finding]]:
        pos, ts, rows = model.rows(s, t, v)
        if not len(pos):
            return []
        sc, top = model.score(rows)
        here = where[pos] >= 0
        if here.any():
            scores.setdefault(model.name, np.full(n, np.nan))[where[pos][here]] = sc[here]
            self._blame.setdefault(model.name, np.full(n, -1, np.int64))[where[pos][here]] = model.ids[top[here]]
        rule = self._model_rules[model.name]
        driver = np.full(len(pos), model.ids[0])
        out = []
        for alert in rule.update(driver, ts, sc):
            if alert.status == "opened":  # one alert keeps the sensor it was opened for
                model.blamed = model.cfg.sensors[top[alert.index]]
            f = self._finding_of(
                alert,
                model.asset,
                model.blamed,
                model.cfg.fault_mode,
                model.cfg.detector,
                model.model.version,
                model.name,
                {**model.model.to_dict()["params"], "rule": model.cfg.rule.model_dump(mode="json")},
            )
            f.evidence.update(
                top_sensor=model.cfg.sensors[top[alert.index]],
                sensors=list(model.cfg.sensors),
                row=dict(zip(model.cfg.sensors, rows[alert.index].tolist())),
            )
            out.append((alert.at_ns, f))
        return out

    def process_blocks(self, asset: str, t0_ns: Any, rate_hz: float, blocks: np.ndarray) -> BatchResult:
        """Waveform blocks of one asset → feature streams ``<sensor>.<feature>`` → ``process``.

        Parameters
        ----------
        asset : str
        t0_ns : ndarray of int64, shape (n_blocks,)
            Start time of each block.
        rate_hz : float
        blocks : ndarray, shape (n_blocks, n_samples)
        """
        features = self.block_features(asset, rate_hz, blocks)
        t0 = np.asarray(t0_ns, dtype=np.int64)
        if not features:
            return BatchResult({}, np.zeros(0))
        waveform = self.config.waveform_for(asset)
        assert waveform is not None  # block_features found features, so the asset has a waveform check
        ids = [np.full(len(t0), self.stream_id(asset, feature_sensor(waveform.sensor, name))) for name in features]
        return self.process(np.concatenate(ids), np.tile(t0, len(features)), np.concatenate(list(features.values())))

    def block_features(self, asset: str, rate_hz: float, blocks: np.ndarray) -> dict[str, np.ndarray]:
        """The configured waveform features of an asset's blocks, each shape (n_blocks,)."""
        wf = self.config.waveform_for(asset)
        if wf is None or not len(blocks):
            return {}
        feats = block_features(blocks)
        return {
            **{name: feats[name] for name in wf.features},
            **bearing_defect_features(self.config, asset, rate_hz, blocks),
        }

    def silent(self, now_ns: int, live: bool = False) -> list[Finding]:
        """Deadman: open a ``no_data`` finding for each stream silent at ``now_ns`` for longer than
        it is allowed: ``silence_after``, or ``silence_intervals`` of its own usual intervals for a
        slow stream (see `NoData`). Each stream is judged on its own against ``now_ns``.

        Live (``live``: ``now_ns`` is the wall clock), silence is counted from when a stream's data
        last arrived; ``process(..., now_ns=)`` calls it so, and the live service calls it on a
        clock as well, so a plant that went silent as a whole is seen. On the first live call every
        known stream counts as just arrived (after a restart, the time the service was down is not
        the sensors' silence). Offline (``replay``), silence is counted from the newest reading.
        A stream's finding closes when its data resumes.
        """
        if live and not self._live_since_start:
            self._live_since_start = True
            self._deadman.arrive(np.arange(len(self._streams)), now_ns)
        ids, gaps = self._deadman.silent(now_ns, since_arrival=live)
        self._grow_silent()
        fresh = ~self._silent[ids]
        self._silent[ids[fresh]] = True
        # before any reading there is no state, and no stream is silent
        last = getattr(self._deadman, "state_", {}).get("last_ts", np.empty(0, np.int64))
        return [
            self._deadman_finding(int(i), int(last[i]), None, float(g), "opened")
            for i, g in zip(ids[fresh], gaps[fresh])
        ]

    def _grow_silent(self) -> None:
        if len(self._silent) < len(self._streams):
            self._silent = np.concatenate([self._silent, np.zeros(len(self._streams) - len(self._silent), bool)])

    def _resumed(self, s: np.ndarray, t: np.ndarray) -> list[Finding]:
        self._grow_silent()
        back = np.unique(s[self._silent[s]]) if len(s) else s
        out = []
        for i in back:
            first = int(t[s == i].min())
            last = int(self._deadman.state_["last_ts"][i])
            out.append(self._deadman_finding(int(i), last, first, (first - last) / 1e9, "closed"))
        self._silent[back] = False
        return out

    def _deadman_finding(self, sid: int, since_ns: int, until_ns: int | None, gap_s: float, status: str) -> Finding:
        asset, sensor = self._streams[sid]
        allowed = float(self._deadman.allowed_s(np.array([sid]))[0])
        return Finding(
            site=self.config.asset(asset).site,
            asset=asset,
            sensor=sensor,
            fault_mode="no_data",
            severity="medium",
            score=gap_s / allowed,
            started_at=_time(since_ns),
            ended_at=None if until_ns is None else _time(until_ns),
            detector=self._deadman.kind,
            detector_version=self._deadman.version,
            rule="silence_after",
            config_version=self.config_version,
            thresholds={
                "max_gap_s": self._deadman.max_gap_s,
                "intervals": self._deadman.intervals,
                "allowed_s": allowed,
            },
            evidence={"last_reading_at": _time(since_ns).isoformat(), "silent_s": gap_s, "n": 0},
            status=status,
            kind=self._deadman.finding_kind,
        )

    def _finding(self, slot: _Slot, alert: Alert) -> Finding:
        asset, sensor = self._streams[alert.stream]
        det = slot.detector
        f = self._finding_of(
            alert, asset, sensor, slot.check.fault_mode, det.kind, det.version, slot.name, slot.thresholds, slot.kind
        )
        if isinstance(det, IsoZones):
            f.evidence["zone"] = str(iso_zone(np.array([f.evidence["max"]]), det.ab, det.bc, det.cd)[0])
        if isinstance(det, (Cusum, Ewma)):  # what "normal" was for this sensor
            mean, std, _ = det.baseline(np.array([alert.stream]))
            f.evidence.update(baseline_mean=float(mean[0]), baseline_std=float(std[0]))
        if isinstance(det, TrendToLimit):  # the forecast at the reading that raised the alert
            f.evidence.update({k: float(v[alert.index]) for k, v in det.last_extras_.items()}, limit=det.limit)
        return f

    def _finding_of(
        self,
        alert: Alert,
        asset: str,
        sensor: str,
        fault_mode: str,
        detector: str,
        version: str,
        rule: str,
        thresholds: dict[str, Any],
        kind: str = "anomaly",
    ) -> Finding:
        ev = dict(alert.evidence)
        ev["window_start"] = _time(ev.pop("window_start_ns")).isoformat()
        ev["window_end"] = _time(ev.pop("window_end_ns")).isoformat()
        return Finding(
            site=self.config.asset(asset).site,
            asset=asset,
            sensor=sensor,
            fault_mode=fault_mode,
            severity=alert.severity,
            score=alert.peak_score,
            started_at=_time(alert.started_at_ns),
            ended_at=None if alert.ended_at_ns is None else _time(alert.ended_at_ns),
            detector=detector,
            detector_version=version,
            rule=rule,
            config_version=self.config_version,
            thresholds=thresholds,
            evidence=ev,
            status=alert.status,
            kind=kind,
        )

    # --- state across restarts -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The engine's state (streams, every detector's and rule's arrays) as JSON-ready data."""
        return {
            "config_version": self.config_version,
            "streams": [list(k) for k in self._streams],
            "slots": {
                key: {"detector": s.detector.to_dict(), "rule": s.rule.to_dict()} for key, s in self._slots.items()
            },
            "deadman": self._deadman.to_dict(),
            "silent": np.flatnonzero(self._silent).tolist(),
            "models": {f"{a}/{n}": m.to_dict() for (a, n), m in self._models.items()},
            "model_rules": {n: r.to_dict() for n, r in self._model_rules.items()},
            "pending": [[a.tolist() for a in cols] for cols in self._pending],
            "bearing_named": [[a, s, t.isoformat(), m] for (a, s, t), m in self._bearing_named.items()],
        }

    @classmethod
    def from_dict(cls, config: DetectorsConfig, d: dict[str, Any], config_version: str | None = None) -> "Engine":
        """Resume from ``to_dict``.

        Checks whose configuration changed, or whose saved state does not fit this version of the
        detector, start afresh; their names are in ``fresh_checks`` for the caller to report.
        """
        engine = cls(config, config_version)
        for asset, sensor in d["streams"]:
            engine.stream_id(asset, sensor)
        resumed = set()
        for key, saved in d["slots"].items():
            slot = engine._slots.get(key)
            if slot is None:
                continue
            try:
                detector = type(slot.detector).from_dict(saved["detector"])
                rule = AlertRule.from_dict(saved["rule"])
            except (ValueError, KeyError, TypeError):
                continue  # saved by an incompatible version: this check learns again
            slot.detector, slot.rule = detector, rule
            resumed.add(key)
        engine.fresh_checks = sorted({s.name for k, s in engine._slots.items() if k not in resumed})
        if d["deadman"].get("params") == engine._deadman.params():
            try:
                engine._deadman = NoData.from_dict(d["deadman"])
            except (ValueError, KeyError, TypeError):
                pass  # saved by an older version: the deadman learns the cadences again
        engine._grow_silent()
        engine._silent[np.asarray(d["silent"], dtype=np.int64)] = True
        for (asset, name), model in engine._models.items():
            saved = d.get("models", {}).get(f"{asset}/{name}")
            if saved is not None and model.cfg == config.multivariate_for(asset)[name]:
                model.load(saved)
        engine._pending = [
            (np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(c, np.float64))
            for a, b, c in d.get("pending", [])
        ]
        engine._bearing_named = {(a, s, datetime.fromisoformat(t)): m for a, s, t, m in d.get("bearing_named", [])}
        for name, saved in d.get("model_rules", {}).items():
            if name in engine._model_rules and saved["params"] == engine._model_rules[name].params():
                engine._model_rules[name] = AlertRule.from_dict(saved)
        return engine
