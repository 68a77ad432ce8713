"""Vibration records from files, for `faultline diagnose`: MATLAB .mat, CSV/text, .npy, and the
acceleration files `faultline simulate --out` writes.

A record is one sensor's samples. What a file says about itself is taken from it: a .mat file's
running speed (a variable named like ``X097RPM``), the sampling rate of a simulator waveform file
(its ``rate_hz`` column), or a CSV's time column. Everything else comes from the command line.
Every problem is a ``ValueError`` whose message names the bad value and what to do about it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Suffixes `read_record` reads (a folder given to `faultline diagnose` is searched for these).
RECORD_SUFFIXES = (".mat", ".csv", ".txt", ".npy", ".parquet")
#: Column names taken for time in seconds (not samples) in a CSV: they give the sampling rate.
TIME_COLUMNS = ("t", "time", "time_s", "seconds", "sec")


@dataclass
class VibrationRecord:
    """Samples of one sensor, and what the file said about them.

    ``blocks`` holds the samples as the file does: one row for a continuous record, one row per
    stored block for a simulator waveform file (blocks taken at different times, each of them
    continuous). ``rate_hz`` and ``rpm`` are None where the file does not say.
    """

    blocks: np.ndarray
    channel: str
    rate_hz: float | None = None
    rpm: float | None = None
    continuous: bool = True


def read_record(path: Path, channel: str | None = None, column: str | None = None) -> VibrationRecord:
    """Read one record; raise ValueError naming what is wrong.

    Parameters
    ----------
    channel : str, optional
        .mat files: the variable (``X097_FE_time``) or its sensor position (``DE``, ``FE``, ``BA``);
        default the drive end, ``*_DE_time``.
    column : str, optional
        CSV/text: the column's name, or its number counted from 1; .npy: the column's number.
        Default: the only numeric column that is not time.
    """
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _read_mat(path, channel)
    if suffix == ".npy":
        return _read_npy(path, column)
    if suffix in (".csv", ".txt"):
        return _read_text(path, column)
    if suffix == ".parquet":
        return _read_waveform_parquet(path)
    raise ValueError(f"{suffix or 'no suffix'}: not a record file (reads {', '.join(RECORD_SUFFIXES)})")


def _samples(values, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{what} holds no samples")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} samples are NaN or infinite (first at sample {int(bad.argmax())})")
    return x


def _read_mat(path: Path, channel: str | None) -> VibrationRecord:
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except NotImplementedError:
        raise ValueError("a MATLAB v7.3 (HDF5) file: not read; save it with -v7") from None
    except Exception as exc:  # scipy raises several types for a file that is not MATLAB
        raise ValueError(f"not a readable MATLAB file ({exc})") from None
    series = {
        k: v
        for k, v in data.items()
        if not k.startswith("__") and isinstance(v, np.ndarray) and v.size > 1 and np.issubdtype(v.dtype, np.number)
    }
    want = channel or "DE"
    if want in series:
        name = want
    else:
        found = sorted(k for k in series if k.upper().endswith(f"_{want.upper()}_TIME"))
        if not found:
            raise ValueError(
                f"no channel {want!r} (looked for {want if channel and '_' in want else f'*_{want}_time'}); "
                f"channels: {', '.join(sorted(series)) or 'none'}"
            )
        # a file holding variables of two records (a known quirk): the one numbered like the file
        digits = re.sub(r"\D", "", path.stem).lstrip("0")
        name = next((k for k in found if digits and re.sub(r"\D", "", k.split("_")[0]).lstrip("0") == digits), found[0])
    prefix = name.split("_")[0]
    speeds = {k: v for k, v in data.items() if not k.startswith("__") and k.upper().endswith("RPM")}
    rpm_key = next((k for k in speeds if k.startswith(prefix)), next(iter(sorted(speeds)), None))
    rpm = None
    if rpm_key is not None:
        value = np.asarray(speeds[rpm_key], dtype=np.float64).ravel()
        rpm = float(value[0]) if value.size and np.isfinite(value[0]) and value[0] > 0 else None
    return VibrationRecord(_samples(series[name], f"channel {name}")[None, :], name, None, rpm)


def _read_npy(path: Path, column: str | None) -> VibrationRecord:
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"not a numeric .npy array ({exc})") from None
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"array of {a.dtype}: not numeric")
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim == 1:
        return VibrationRecord(_samples(a, "the array")[None, :], "samples")
    if a.ndim != 2:
        raise ValueError(f"array of shape {a.shape}: give one column of samples")
    if column is None:
        raise ValueError(
            f"array of shape {a.shape} has {a.shape[1]} columns: choose one with --column (1..{a.shape[1]})"
        )
    j = _column_number(column, a.shape[1])
    return VibrationRecord(_samples(a[:, j], f"column {j + 1}")[None, :], f"column {j + 1}")


def _column_number(column: str, count: int) -> int:
    try:
        j = int(column)
    except ValueError:
        raise ValueError(f"--column {column!r}: this file has no column names; give a number 1..{count}") from None
    if not 1 <= j <= count:
        raise ValueError(f"--column {j}: the file has columns 1..{count}")
    return j - 1


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_text(path: Path, column: str | None) -> VibrationRecord:
    text = path.read_text(encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError("empty file")
    if lines[0].replace(" ", "").replace('"', "").lower().startswith("t0,rate_hz"):
        return _read_waveform_csv(lines)
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter is None:
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    width = len(rows[0])
    header = [c.strip() for c in rows[0]] if any(_number(c) is None for c in rows[0]) else None
    body = rows[1:] if header else rows
    names = header or [str(j + 1) for j in range(width)]
    columns = {}
    for j, name in enumerate(names):
        cells = [r[j] if j < len(r) else "" for r in body]
        values = [_number(c) for c in cells]
        if values and all(v is not None for v in values):
            columns[name] = np.asarray(values, dtype=np.float64)
    if not columns:
        raise ValueError(f"no numeric column (columns: {', '.join(names)})")
    time = next((n for n in columns if n.lower() in TIME_COLUMNS), None)
    rate = None
    if time is not None and len(columns[time]) > 1:
        t = columns[time]  # over the whole span: each time may be rounded
        rate = (len(t) - 1) / float(t[-1] - t[0]) if t[-1] > t[0] and np.all(np.diff(t) > 0) else None
        if rate is None:
            raise ValueError(f"column {time!r}: times do not increase")
    if column is not None:
        if column in names:
            name = column
        elif header is None or column.isdigit():
            name = names[_column_number(column, width)]
        else:
            raise ValueError(f"--column {column!r}: no such column (columns: {', '.join(names)})")
        if name not in columns:
            raise ValueError(f"column {name!r} is not numeric throughout")
    else:
        signals = [n for n in columns if n != time]
        if not signals:
            raise ValueError(f"no numeric column besides time (columns: {', '.join(names)})")
        if len(signals) > 1:
            raise ValueError(f"{len(signals)} numeric columns ({', '.join(signals)}): choose one with --column")
        name = signals[0]
    label = name if header else f"column {name}"
    return VibrationRecord(_samples(columns[name], label)[None, :], label, rate)


def _waveform_record(rates: np.ndarray, rows: list[np.ndarray]) -> VibrationRecord:
    if not rows:
        raise ValueError("a waveform file with no blocks")
    sizes = {len(r) for r in rows}
    if len(sizes) > 1:
        raise ValueError(f"blocks of different lengths ({', '.join(map(str, sorted(sizes)))} samples)")
    if len(set(np.round(rates, 6))) > 1:
        raise ValueError(f"blocks at different sampling rates ({', '.join(map(str, sorted(set(rates))))} Hz)")
    blocks = np.stack([_samples(r, f"block {i + 1}") for i, r in enumerate(rows)])
    return VibrationRecord(blocks, "values", float(rates[0]), None, continuous=False)


def _read_waveform_csv(lines: list[str]) -> VibrationRecord:
    rates, rows = [], []
    for n, line in enumerate(lines[1:], start=2):
        parts = line.split(",", 2)
        if len(parts) < 3 or _number(parts[1]) is None:
            raise ValueError(f"line {n}: not t0,rate_hz,values")
        rates.append(float(parts[1]))
        try:
            rows.append(np.array(parts[2].split(), dtype=np.float64))
        except ValueError:
            raise ValueError(f"line {n}: a sample is not a number") from None
    return _waveform_record(np.asarray(rates), rows)


def _read_waveform_parquet(path: Path) -> VibrationRecord:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if not {"rate_hz", "values"} <= set(table.column_names):
        raise ValueError(f"not a waveform file (columns {', '.join(table.column_names)}; want t0, rate_hz, values)")
    rows = [np.asarray(v, dtype=np.float64) for v in table.column("values").to_pylist()]
    return _waveform_record(np.asarray(table.column("rate_hz").to_numpy(), dtype=np.float64), rows)


__all__ = ["RECORD_SUFFIXES", "VibrationRecord", "read_record"]
