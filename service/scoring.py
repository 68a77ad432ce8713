"""`faultline score`: a CSV file through the live engine, one output row per input row.

Reading and writing files is the wiring's job; the scoring itself is ``detectors.Engine``, exactly
as it runs live, fed the CSV in time-ordered chunks.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from detectors import DetectorsConfig, Engine

CHUNK_ROWS = 50_000
REPLAY_STEP_NS = 3600 * 10**9


def generic_config(period_s: float = 60.0) -> DetectorsConfig:
    """Checks for sensor columns nobody has described: spikes and steps, drift, stuck values, holes.

    ``period_s`` is the file's typical sampling interval; a gap of ten intervals is a hole.
    """
    rule = {"alarm": 1.0, "clear": 0.8}
    return DetectorsConfig.model_validate({"classes": {"default": {"checks": {
        "robust_z": {"sensor": "*", "detector": "robust_z", "fault_mode": "anomaly",
                     "params": {"window": 60, "threshold": 6, "min_periods": 20}, "rule": rule},
        "drift": {"sensor": "*", "detector": "cusum", "fault_mode": "drift",
                  "params": {"k": 1.0, "h": 20, "warmup": 200, "clip": 4.0}, "rule": {**rule, "clear": 0.5}},
        "stuck": {"sensor": "*", "detector": "stuck_sensor", "fault_mode": "stuck_sensor",
                  "params": {"window": 30, "warmup": 300}, "rule": {**rule, "clear": 0.99}},
        "no_data": {"sensor": "*", "detector": "no_data", "fault_mode": "no_data",
                    "params": {"max_gap_s": 10 * period_s}, "rule": {**rule, "clear": 1.0}},
    }}}})


def parse_timestamps(raw: list[str]) -> np.ndarray:
    """ISO 8601 strings, or epoch numbers in s, ms, µs or ns (told apart by size) → int64 ns."""
    out = np.empty(len(raw), dtype=np.int64)
    for i, text in enumerate(raw):
        try:
            x = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"row {i + 2}: timestamp {text!r} is neither ISO 8601 nor an epoch number") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            out[i] = int(dt.timestamp() * 1e6) * 1000
            continue
        scale = 1 if x > 1e17 else 1e3 if x > 1e14 else 1e6 if x > 1e11 else 1e9
        out[i] = int(round(x * scale))
    return out


def read_csv(path: Path, timestamp_column: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(raw timestamps, ts ns (rows,), {sensor: values (rows,) with NaN for empty cells})."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise ValueError("empty file")
        if timestamp_column not in header:
            raise ValueError(f"no {timestamp_column!r} column; columns are {header}")
        rows = list(reader)
    ti = header.index(timestamp_column)
    sensors = [(j, name) for j, name in enumerate(header) if j != ti]
    raw_ts = [r[ti] if len(r) > ti else "" for r in rows]
    columns: dict[str, np.ndarray] = {}
    for j, name in sensors:
        col = np.full(len(rows), np.nan)
        for i, r in enumerate(rows):
            cell = r[j].strip() if j < len(r) else ""
            if cell:
                try:
                    col[i] = float(cell)
                except ValueError:
                    raise ValueError(f"row {i + 2}, column {name!r}: {cell!r} is not a number") from None
        columns[name] = col
    return raw_ts, parse_timestamps(raw_ts), columns


def score_csv(path: Path, out: Path, config: DetectorsConfig | None, asset: str = "csv",
              timestamp_column: str = "timestamp") -> dict[str, Any]:
    """Score ``path`` into ``out`` and ``<out stem>.findings.jsonl``; return a summary.

    Without a configuration, ``generic_config`` applies to every column, with the file's median
    sampling interval.
    """
    raw_ts, ts, columns = read_csv(path, timestamp_column)
    n = len(ts)
    order = np.argsort(ts, kind="stable")
    if config is None:
        period_s = float(np.median(np.diff(ts[order]))) / 1e9 if n > 1 else 60.0
        config = generic_config(max(period_s, 1e-3))
    engine = Engine(config)
    names = list(columns)
    ids = np.array([engine.stream_id(asset, s) for s in names], dtype=np.int64)
    vals = np.stack([columns[s] for s in names], axis=1)                 # (rows, sensors)
    ok = np.isfinite(vals)
    skipped = int((~ok).sum())
    r_idx, c_idx = np.nonzero(ok)                                        # row-major: a row's cells together
    row_score = np.zeros(n)
    check_scores: dict[str, np.ndarray] = {}
    findings = []
    # the engine's own replay, as backtest and evaluate drive it: an hour of the file at a time
    for pos, result in engine.replay(ids[c_idx], ts[r_idx], vals[r_idx, c_idx], REPLAY_STEP_NS,
                                     max_rows=CHUNK_ROWS):
        rows = r_idx[pos]
        if len(rows):
            np.maximum.at(row_score, rows, result.score)
        for check, sc in result.scores.items():
            col = check_scores.setdefault(check, np.full(n, np.nan))
            hit = ~np.isnan(sc)
            np.fmax.at(col, rows[hit], sc[hit])
        findings += result.findings
    episodes = _episodes(findings)
    flag = np.zeros(n, dtype=np.int8)
    for e in episodes:
        if e.get("kind") == "data_quality":  # a stuck or silent sensor is a sensor check, not an anomaly
            continue
        lo = _ns(e["started_at"])
        hi = _ns(e["ended_at"]) if e["ended_at"] else np.iinfo(np.int64).max
        flag[(ts >= lo) & (ts <= hi)] = 1
    checks = sorted(check_scores)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "score", "flag", *[f"score_{c}" for c in checks]])
        for i in range(n):
            w.writerow([raw_ts[i], _fmt(row_score[i]), int(flag[i]), *[_fmt(check_scores[c][i]) for c in checks]])
    findings_path = out.with_name(out.stem + ".findings.jsonl")
    with open(findings_path, "w") as fh:
        for f in findings:
            fh.write(json.dumps(f.as_record(), default=str) + "\n")
    return {"rows": n, "checks": checks, "flagged_rows": int(flag.sum()), "findings": episodes,
            "findings_path": findings_path, "config_version": engine.config_version, "empty_cells": skipped}


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
