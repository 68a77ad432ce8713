"""`faultline score`: CSV files through the live engine, one output row per input row.

Reading and writing files is the wiring's job; the scoring itself is ``detectors.Engine``, exactly
as it runs live, fed each file in time-ordered chunks. Every file is scored with a fresh engine.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from faultline.detectors import DATA_QUALITY_MODES, DetectorsConfig, Engine
from faultline.detectors.calibration import ALPHA, alarm_level

CHUNK_ROWS = 20_000
REPLAY_STEP_NS = 3600 * 10**9
# a departure that no evidence explains as a new operating point is accepted as the new normal only
# after this long: far longer than a fault episode on a test rig (minutes), short against a plant's
# operating day
HOLD_S = 3600.0
# a lone sensor has no other to vouch for a new operating point, nor to show a fault: its shift is
# flagged for ten minutes or ten readings, whichever is longer (on 5-minute metrics a longer hold
# cost false alarms on the seeded server files: bench/score_quality.py)
ALONE_HOLD_S = 600.0
DAY_S, WEEK_S = 86400.0, 604800.0
# the relation check scores the rows' exponentially weighted mean over this many rows (half-life):
# a sustained shift of two or three noise scales in a few sensors, invisible row by row, stands out
RELATION_SMOOTH = 5.0
DRIFT_SHARE = 0.1  # a drift check's share of the false-alarm budget, against 1 for a level check
TIMESTAMP_NAMES = ("timestamp", "ts", "time", "datetime", "date")
# columns that hold answers rather than readings (benchmark files carry them): never scored as sensors
LABEL_NAMES = frozenset(
    {"anomaly", "anomalies", "changepoint", "label", "labels", "is_anomaly", "target", "fault", "outlier", "class"}
)


def season_params(period_s: float, span_s: float) -> dict[str, Any]:
    """The seasonal profile the level checks learn for a file (``AdaptiveLevel`` params), or none.

    Weekly when the file spans four weeks, daily when it spans four days (a profile may switch on
    after three whole periods; see `detectors.seasonal`), with one slot per reading up to 5-minute
    slots; none when a reading comes less than hourly or the file is shorter.

    >>> p = season_params
    >>> p(300, 14 * 86400), p(300, 2 * 86400), p(60, 35 * 86400)["season_bins"]
    ({'season_s': 86400.0, 'season_bins': 288}, {}, 2016)
    """
    if period_s > 3600:
        return {}
    for season in (WEEK_S, DAY_S):
        if span_s >= 4 * season:
            return {"season_s": season, "season_bins": int(min(season / period_s, season / 300))}
    return {}


def generic_config(period_s: float = 60.0, sensors: int = 1, span_s: float = 0.0) -> DetectorsConfig:
    """Checks for sensor columns nobody has described: how rare each reading is, and for ≥ 2 sensors
    whether they still move together; stuck values and holes as data-quality findings.

    Every anomaly score is on the calibrated scale (``detectors.calibration``). Each check's alarm
    level carries its share of the row's false-alarm budget ``ALPHA`` (weighted Bonferroni: 1 per
    level check, 1 for the relation, 0.1 per drift check), so a normal row is flagged with
    probability at most ``ALPHA`` however many sensors there are; the flag clears when the scores
    fall back to ordinary rarity (0.5: one reading in about 30).

    Parameters
    ----------
    period_s : float
        The file's typical sampling interval; a gap of ten intervals is a hole, an unchanged value
        for two hours a stuck sensor.
    sensors : int
        Sensor columns of the asset; with two or more, add the relation check (`with_relation`).
    span_s : float
        Time the file covers: from four days, the level checks learn a daily profile
        (`season_params`); 0 for none.
    """
    # shares of the false-alarm budget: 1 per level check, 1 for the relation, 0.1 per drift check
    # (a drift speaks only when it is very sure: a slow departure is easy to mistake)
    # with two or more sensors the relation check (smoothed, frozen while alarmed, expecting a steady
    # trend to carry on) covers slow departures as well; on the seeded files the drift checks added
    # nothing there but time (bench/score_quality.py)
    drift = sensors < 2
    total = (1 + (DRIFT_SHARE if drift else 0)) * sensors + (0 if drift else 1)
    rule = {"alarm": round(alarm_level(total, ALPHA), 6), "clear": 0.5}
    drift_rule = {"alarm": round(alarm_level(total / DRIFT_SHARE, ALPHA), 6), "clear": 0.5}
    stuck_window = int(min(max(30, 7200 / max(period_s, 1e-3)), 10_000))
    # alone, a sensor has no other to tell a new operating point from a fault: a shift is flagged
    # until it has lasted HOLD_S; beside others, the relation check carries a sustained departure
    relearn = 10 if sensors >= 2 else hold_rows(period_s, 10, ALONE_HOLD_S)
    season = season_params(period_s, span_s)
    cls: dict[str, Any] = {
        "checks": {
            "level": {
                "sensor": "*",
                "detector": "adaptive_level",
                "fault_mode": "anomaly",
                "params": {"halflife": 10, "warmup": 30, "relearn": relearn, **season},
                "rule": rule,
            },
            "drift": {
                "sensor": "*",
                "detector": "adaptive_drift",
                "fault_mode": "drift",
                "params": {
                    "halflife": 10,
                    "warmup": 30,
                    "relearn": relearn,
                    "drift_halflife": 100,
                    "drift_relearn": 60,
                    **season,
                },
                "rule": drift_rule,
            },
            "stuck": {
                "sensor": "*",
                "detector": "stuck_sensor",
                "fault_mode": "stuck_sensor",
                "params": {"window": stuck_window, "warmup": 300},
                "rule": {"alarm": 1.0, "clear": 0.99},
            },
            "no_data": {
                "sensor": "*",
                "detector": "no_data",
                "fault_mode": "no_data",
                "params": {"max_gap_s": 10 * period_s},
                "rule": {"alarm": 1.0, "clear": 1.0},
            },
        }
    }
    if not drift:
        del cls["checks"]["drift"]
    return DetectorsConfig.model_validate({"classes": {"default": cls}, "multivariate_every": 0})


def with_relation(config: DetectorsConfig, sensors: list[str], rows: int, period_s: float = 1.0) -> DetectorsConfig:
    """``config`` plus the multivariate ``relation`` check over ``sensors`` (for the generic checks).

    A Ledoit-Wolf Mahalanobis model (``mahalanobis``) fitted on the first fifth of the ``rows`` (20
    to 200 rows; the start of a file is taken as healthy), refitted every 25 rows on the latest rows
    it accepted as normal; a departure that lasts 15 rows is accepted as a new operating point.
    """
    if len(sensors) < 2:
        return config
    data = config.model_dump(mode="json", by_alias=True)
    rule = data["classes"]["default"]["checks"]["level"]["rule"]
    baseline = int(min(200, max(20, rows // 5)))
    data["classes"]["default"]["multivariate"] = {
        "relation": {
            "sensors": sensors,
            "detector": "mahalanobis",
            "baseline": baseline,
            "refresh": 25,
            "relearn": 15,
            "hold": hold_rows(period_s, 15),
            "smooth": RELATION_SMOOTH,
            "fault_mode": "anomaly",
            "rule": {"alarm": rule["alarm"], "clear": rule["clear"]},
        }
    }
    return DetectorsConfig.model_validate(data)


def hold_rows(period_s: float, at_least: int, hold_s: float = HOLD_S) -> int:
    """Rows in ``hold_s`` at a sampling interval of ``period_s``, never fewer than ``at_least``.

    >>> hold_rows(1.0, 15), hold_rows(300.0, 15), hold_rows(1.0, 10, ALONE_HOLD_S)
    (3600, 15, 600)
    """
    return int(max(at_least, round(hold_s / max(period_s, 1e-3))))


# --- reading -------------------------------------------------------------------------------------
@dataclass
class Table:
    """A CSV read for scoring: raw timestamps as written, int64 ns (-1 where unreadable), sensors."""

    raw_ts: list[str]
    ts: np.ndarray
    columns: dict[str, np.ndarray]
    timestamp_column: str
    delimiter: str
    warnings: list[str] = field(default_factory=list)


def sniff_delimiter(line: str) -> str:
    """The most frequent of ``,`` ``;`` and tab in the header line.

    >>> sniff_delimiter("datetime;Accelerometer1RMS;Current"), sniff_delimiter("ts,a,b")
    (';', ',')
    """
    return max((",", ";", "\t"), key=line.count)


def parse_timestamps(raw: list[str]) -> np.ndarray:
    """ISO 8601 strings, or epoch numbers in s, ms, µs or ns (told apart by size) → int64 ns; -1 if unreadable.

    >>> parse_timestamps(["2026-01-05T00:00:01Z", "1767571201", "1767571201000", "nonsense"]).tolist()
    [1767571201000000000, 1767571201000000000, 1767571201000000000, -1]
    """
    out = np.full(len(raw), -1, dtype=np.int64)
    for i, text in enumerate(raw):
        text = text.strip()
        try:
            x = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            out[i] = int(dt.timestamp() * 1e6) * 1000
            continue
        if not math.isfinite(x) or x < 0:
            continue
        scale = 1 if x > 1e17 else 1e3 if x > 1e14 else 1e6 if x > 1e11 else 1e9
        out[i] = int(round(x * scale))
    return out


def read_table(path: Path, timestamp_column: str | None = None, ignore: tuple[str, ...] = ()) -> Table:
    """Read ``path`` for scoring; raise ValueError with a message a user can act on.

    The delimiter is sniffed; the timestamp column is ``timestamp_column`` or the first of
    ``TIMESTAMP_NAMES`` present (any case); every other column is a sensor, except those in
    ``ignore``, label-like columns (``anomaly``, ``changepoint``, …) and text columns, which are
    skipped with a warning naming them. Cells that are not numbers (or are NaN or inf) are missing.
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        if not first.strip():
            raise ValueError("empty file")
        delimiter = sniff_delimiter(first)
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        header = [h.strip() for h in next(reader)]
        rows = [r for r in reader if r]
    lower = [h.lower() for h in header]
    if timestamp_column is None:
        found = [n for n in TIMESTAMP_NAMES if n in lower]
        if lower[:2] == ["t0", "rate_hz"]:
            raise ValueError(
                "a waveform file (t0, rate_hz, samples), not a table of readings: not scored; "
                "diagnose its bearing with `faultline diagnose FILE --shaft-hz HZ --bearing ...`"
            )
        if not found:
            raise ValueError(
                f"no timestamp column (looked for {', '.join(TIMESTAMP_NAMES)}); columns are {header}; "
                f"name it with --timestamp"
            )
        ti = lower.index(found[0])
    elif timestamp_column in header:
        ti = header.index(timestamp_column)
    else:
        raise ValueError(f"no {timestamp_column!r} column; columns are {header}")
    warnings: list[str] = []
    ignored = {x.lower() for x in ignore}
    unknown = ignored - set(lower)
    if unknown:
        warnings.append(f"--ignore: no column {', '.join(sorted(unknown))}")
    raw_ts = [r[ti] if len(r) > ti else "" for r in rows]
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        if j == ti or name.lower() in ignored:
            continue
        if name.lower() in LABEL_NAMES:
            warnings.append(
                f"column {name!r} looks like a label, not a sensor: skipped (--ignore {name} to silence this)"
            )
            continue
        cells = [r[j].strip() if j < len(r) else "" for r in rows]
        col, bad = _numbers(cells)
        filled = sum(1 for c in cells if c)
        if not filled:
            warnings.append(f"column {name!r} is empty: skipped")
            continue
        if bad > 0.5 * filled:
            warnings.append(f"column {name!r} holds text ({bad} of {filled} cells are not numbers): skipped")
            continue
        if bad:
            warnings.append(f"column {name!r}: {bad} cells are not numbers: treated as missing")
        nonfinite = int((~np.isfinite(col)).sum()) - (len(cells) - filled) - bad
        if nonfinite:
            warnings.append(f"column {name!r}: {nonfinite} NaN or infinite values: treated as missing")
        columns[name] = np.where(np.isfinite(col), col, np.nan)
    if not columns:
        raise ValueError(f"no numeric sensor column besides {header[ti]!r}; columns are {header}")
    ts = parse_timestamps(raw_ts)
    bad_ts = int((ts < 0).sum())
    if bad_ts == len(ts) and len(ts):
        raise ValueError(f"column {header[ti]!r}: no timestamp is ISO 8601 or an epoch number (first: {raw_ts[0]!r})")
    if bad_ts:
        first_bad = int(np.flatnonzero(ts < 0)[0])
        warnings.append(
            f"{bad_ts} rows with an unreadable timestamp (first: row {first_bad + 2}, "
            f"{raw_ts[first_bad]!r}): not scored"
        )
    return Table(raw_ts, ts, columns, header[ti], delimiter, warnings)


def _numbers(cells: list[str]) -> tuple[np.ndarray, int]:
    """Cells → float64 (NaN where empty or not a number) and how many were not numbers."""
    try:
        return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64), 0
    except ValueError:
        pass
    out = np.full(len(cells), np.nan)
    bad = 0
    for i, c in enumerate(cells):
        if c:
            try:
                out[i] = float(c.replace(",", ".")) if c.count(",") == 1 and "." not in c else float(c)
            except ValueError:
                bad += 1
    return out, bad


# --- scoring -------------------------------------------------------------------------------------
@dataclass
class Scored:
    """Per-row results of one table (all arrays shape (rows,))."""

    combined: np.ndarray  # calibrated combined score, 1.0 = the alarm level; NaN where not scored
    flag: np.ndarray  # int8: an anomaly finding was open at the row's time
    top_check: list[str]
    top_sensor: list[str]
    check_scores: dict[str, np.ndarray]
    findings: list[Any]
    config_version: str
    warnings: list[str]


def score_table(
    table: Table,
    config: DetectorsConfig | None,
    asset: str = "csv",
    progress: Callable[[int, int], None] | None = None,
    seasons: bool = False,
) -> Scored:
    """Run ``table`` through a fresh engine; the row score combines every anomaly check of the row.

    Without ``config``: the generic checks (``generic_config``, ``with_relation``), with seasonal
    profiles (``seasons``) if asked.
    """
    ts = table.ts
    n = len(ts)
    warnings = list(table.warnings)
    usable = np.flatnonzero(ts >= 0)
    order = usable[np.argsort(ts[usable], kind="stable")]
    if len(order) > 1:
        steps = np.diff(ts[usable])
        if (steps < 0).any():
            warnings.append(f"{int((steps < 0).sum())} rows are out of time order: scored in time order")
        dup = int((np.diff(ts[order]) == 0).sum())
        if dup:
            warnings.append(f"{dup} rows repeat the previous row's timestamp: scored in file order")
    names = list(table.columns)
    if config is None:
        gaps = np.diff(ts[order])
        gaps = gaps[gaps > 0]
        period_s = float(np.median(gaps)) / 1e9 if len(gaps) else 60.0
        period_s = max(period_s, 1e-3)
        span_s = float(ts[order[-1]] - ts[order[0]]) / 1e9 if len(order) else 0.0
        config = with_relation(
            generic_config(period_s, len(names), span_s if seasons else 0.0), names, len(order), period_s
        )
    engine = Engine(config)
    ids = np.array([engine.stream_id(asset, s) for s in names], dtype=np.int64)
    alarms = engine.alarm_levels()
    top_raw = np.full(n, -np.inf)  # the largest excess of a check over its alarm level
    present = np.zeros(n, dtype=np.int64)
    top_at = np.full(n, -1, dtype=np.int64)  # index into `labels` of the (check, sensor) most to blame
    labels: list[tuple[str, str]] = []
    label_of: dict[tuple[str, str], int] = {}
    check_scores: dict[str, np.ndarray] = {}
    findings: list[Any] = []
    vals = np.stack([table.columns[s][order] for s in names], axis=1)  # (rows, sensors), time order
    r_all, c_all = np.nonzero(np.isfinite(vals))  # row-major: a row's cells together
    row_of = order[r_all]
    done = 0
    # the engine's own replay, as backtest and evaluate drive it: an hour of the file at a time
    for pos, result in engine.replay(ids[c_all], ts[row_of], vals[r_all, c_all], REPLAY_STEP_NS, max_rows=CHUNK_ROWS):
        at_row, c_idx = row_of[pos], c_all[pos]
        for check, sc in result.scores.items():
            col = check_scores.setdefault(check, np.full(n, np.nan))
            hit = ~np.isnan(sc)
            np.fmax.at(col, at_row[hit], sc[hit])
            if check not in alarms:
                continue
            culprit = result.blame.get(check)
            for c in np.unique(c_idx[hit]):
                sel = hit & (c_idx == c)
                rr, vv = at_row[sel], sc[sel] - alarms[check]
                present[rr] += 1
                better = vv > top_raw[rr]
                top_raw[rr[better]] = vv[better]
                # a multivariate row's score sits on its first sensor: name the sensor most to blame
                who = ids[c_idx[sel]] if culprit is None else culprit[sel]
                for sid in np.unique(who[better]):
                    key = (check, engine.stream(int(sid))[1])
                    k = label_of.setdefault(key, len(labels))
                    if k == len(labels):
                        labels.append(key)
                    top_at[rr[better][who[better] == sid]] = k
        findings += result.findings
        done += len(pos)
        if progress is not None and len(pos):
            progress(done, len(r_all))
    combined = np.full(n, np.nan)
    scored = present > 0
    combined[scored] = np.maximum(1.0 + top_raw[scored], 0.0)  # detectors.calibration.combine
    combined[(ts >= 0) & ~scored] = 0.0
    flag = np.zeros(n, dtype=np.int8)
    for e in _episodes(findings):
        if e.get("kind") == "data_quality" or e["fault_mode"] in DATA_QUALITY_MODES:
            continue
        lo = _ns(e["started_at"])
        hi = _ns(e["ended_at"]) - 1 if e["ended_at"] else np.iinfo(np.int64).max  # closed at the first calm row
        flag[(ts >= lo) & (ts <= hi)] = 1
    top_check = [labels[k][0] if k >= 0 and combined[i] > 0 else "" for i, k in enumerate(top_at)]
    top_sensor = [labels[k][1] if k >= 0 and combined[i] > 0 else "" for i, k in enumerate(top_at)]
    return Scored(combined, flag, top_check, top_sensor, check_scores, findings, engine.config_version, warnings)


def score_csv(
    path: Path,
    out: Path,
    config: DetectorsConfig | None,
    asset: str = "csv",
    timestamp_column: str | None = None,
    ignore: tuple[str, ...] = (),
    progress: Callable[[int, int], None] | None = None,
    seasons: bool = False,
) -> dict[str, Any]:
    """Score ``path`` into ``out`` and ``<out stem>.findings.jsonl``; return a summary.

    Without a configuration, ``generic_config`` (with the relation check when there are two or
    more sensors) applies to every sensor column, with the file's median sampling interval.
    """
    table = read_table(path, timestamp_column, ignore)
    res = score_table(table, config, asset, progress, seasons)
    checks = sorted(res.check_scores)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([table.timestamp_column, "score", "flag", "detector", "sensor", *[f"score_{c}" for c in checks]])
        cols = [res.check_scores[c] for c in checks]
        for i in range(len(table.ts)):
            w.writerow(
                [
                    table.raw_ts[i],
                    _fmt(_unit(res.combined[i])),
                    int(res.flag[i]),
                    res.top_check[i],
                    res.top_sensor[i],
                    *[_fmt(col[i]) for col in cols],
                ]
            )
    findings_path = out.with_name(out.stem + ".findings.jsonl")
    episodes = _episodes(res.findings)
    with open(findings_path, "w") as fh:
        for f in res.findings:
            rec = f.as_record()
            rec.setdefault("kind", "data_quality" if f.fault_mode in DATA_QUALITY_MODES else "anomaly")
            fh.write(json.dumps(rec, default=str) + "\n")
    return {
        "rows": len(table.ts),
        "sensors": list(table.columns),
        "checks": checks,
        "flagged_rows": int(res.flag.sum()),
        "findings": [e for e in episodes if e["fault_mode"] not in DATA_QUALITY_MODES],
        "data_quality": [e for e in episodes if e["fault_mode"] in DATA_QUALITY_MODES],
        "findings_path": findings_path,
        "config_version": res.config_version,
        "warnings": res.warnings,
        "empty_cells": int(sum((~np.isfinite(c)).sum() for c in table.columns.values())),
    }


def _unit(combined: float) -> float:
    """The file's ``score``: the combined calibrated score halved and capped, 0..1, 0.5 = the alarm level."""
    return combined if math.isnan(combined) else min(combined / 2.0, 1.0)


def _episodes(findings) -> list[dict[str, Any]]:
    """One record per alert (its latest state), in start order."""
    latest: dict[tuple, dict[str, Any]] = {}
    for f in findings:
        latest[(f.asset, f.sensor, f.rule, f.started_at)] = f.as_record()
    return sorted(latest.values(), key=lambda r: r["started_at"])


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1e6) * 1000


def _fmt(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.6g}"
