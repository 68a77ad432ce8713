"""`faultline score` on the CSV files users have: delimiters, timestamp columns, labels, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from faultline.detectors import AdaptiveLevel, combine
from faultline.service.cli import app
from faultline.service.scoring import read_table, score_csv, score_table
from tests.realistic import pump, rig, server, write_csv


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_semicolons_datetime_and_label_columns(tmp_path):
    ts, cols, label = pump(0)  # a pump-rig file: fault sustained
    src = tmp_path / "rig.csv"
    write_csv(src, ts, cols, label, delimiter=";")
    out = tmp_path / "rig.scores.csv"
    summary = score_csv(src, out, None)
    assert summary["sensors"] == list(cols)  # the label column is not a sensor
    assert any("'anomaly' looks like a label" in w for w in summary["warnings"])
    rows = _rows(out)
    assert len(rows) == len(ts)
    assert {"datetime", "score", "flag", "detector", "sensor"} <= set(rows[0])
    score = np.array([float(r["score"]) for r in rows])
    assert ((score >= 0) & (score <= 1)).all()
    flag = np.array([int(r["flag"]) for r in rows], dtype=bool)
    assert flag[label].mean() > 0.8  # the fault is flagged while it lasts
    assert flag[~label].mean() < 0.25  # (after it, settling may be flagged)


def test_ignore_option_and_text_columns(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("ts,a,note,changepoint,spare\n" + "".join(f"{i},{i % 3},x{i},0,\n" for i in range(50)))
    table = read_table(src, ignore=("changepoint",))
    assert list(table.columns) == ["a"]
    assert any("'note' holds text" in w for w in table.warnings)
    assert any("'spare' is empty" in w for w in table.warnings)
    assert not any("changepoint" in w for w in table.warnings)  # asked for: no warning


def test_bad_input_gives_warnings_not_a_crash_or_a_flood(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    t = 1_700_000_000 + np.arange(n) * 60
    x = 20 + rng.normal(0, 0.5, n)
    const = np.full(n, 7.0)  # a sensor constant for days
    lines = ["timestamp,temp,valve"]
    for i in range(n):
        v = "nan" if i % 97 == 0 else "inf" if i % 101 == 0 else f"{x[i]:.2f}"
        lines.append(f"{t[i]},{v},{const[i]}")
    lines[500], lines[501] = lines[501], lines[500]  # out of order
    lines.insert(800, lines[800])  # a duplicate
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "bad.scores.csv"
    summary = score_csv(src, out, None)
    text = " ".join(summary["warnings"])
    assert "NaN or infinite" in text and "out of time order" in text and "repeat" in text
    flag = np.array([int(r["flag"]) for r in _rows(out)])
    assert flag.mean() < 0.01
    records = [json.loads(line) for line in open(summary["findings_path"])]
    assert all(r["kind"] == "data_quality" for r in records if r["fault_mode"] in ("stuck_sensor", "no_data"))
    assert any(r["fault_mode"] == "stuck_sensor" and r["sensor"] == "valve" for r in records)


def test_several_files_and_simulator_output(tmp_path):
    ts, cols, _ = server(2)
    write_csv(tmp_path / "a.csv", ts, cols)
    # the simulator's layout: `ts` as ISO with milliseconds and Z, empty cells where no reading
    sim = tmp_path / "P-1.csv"
    sim.write_text(
        "ts,temp,current\n"
        + "".join(
            f"2026-01-05T00:{i // 60:02d}:{i % 60:02d}.000Z,{50 + (i % 7) * 0.1:.1f},{'' if i % 9 == 0 else 3.1}\n"
            for i in range(600)
        )
    )
    (tmp_path / "words.csv").write_text("when,what\nyesterday,hello\n")
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(tmp_path / "a.csv"),
            str(sim),
            str(tmp_path / "words.csv"),
            "--out-dir",
            str(tmp_path / "out"),
            "-q",
        ],
    )
    assert result.exit_code == 2  # one file could not be scored, said so
    assert "no timestamp column" in result.output
    assert len(_rows(tmp_path / "out" / "a.scores.csv")) == len(ts)
    assert len(_rows(tmp_path / "out" / "P-1.scores.csv")) == 600


def test_quantised_sensor_does_not_collapse_the_scale():
    rng = np.random.default_rng(2)
    x = np.round(12.0 + rng.normal(0, 0.03, 5000), 1)  # mostly one value, sometimes 0.1 off
    s = AdaptiveLevel().update(np.zeros(len(x), int), np.arange(len(x)) * 10**9, x)
    assert (s >= 1).mean() < 0.002


def test_combination_is_the_excess_over_each_checks_own_alarm():
    from faultline.detectors.calibration import alarm_level

    ten = np.full(10, alarm_level(10))  # ten equal shares of the budget
    assert combine(np.array([[1.0] + [0.1] * 9]), ten)[0] < 1.0  # alarm level alone is not enough
    assert combine(np.array([[alarm_level(10)] + [0.1] * 9]), ten)[0] == pytest.approx(1.0)
    assert combine(np.array([[2.0, 0.5]]), np.ones(2))[0] == 2.0  # equal alarms at 1.0: the largest score
    assert combine(np.array([[np.nan, np.nan]]), np.ones(2))[0] == 0.0


def test_flag_and_score_agree(tmp_path):
    ts, cols, label = rig(5)
    src = tmp_path / "r.csv"
    write_csv(src, ts, cols, label)
    res = score_table(read_table(src), None)
    opened = np.flatnonzero(np.diff(np.r_[0, res.flag]) == 1)
    assert len(opened) and (res.combined[opened] >= 1 - 1e-9).all()  # a flag opens on a row at the alarm level


def test_score_is_the_same_for_the_same_file(tmp_path):
    ts, cols, label = server(7)
    src = tmp_path / "s.csv"
    write_csv(src, ts, cols, label)
    a = score_table(read_table(src), None)
    b = score_table(read_table(src), None)
    np.testing.assert_array_equal(a.combined, b.combined)
