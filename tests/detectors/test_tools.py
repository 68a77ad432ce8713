"""The reliability engineer's tools: `faultline score` on a CSV, `faultline evaluate` on the simulator."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faultline.service.cli import app
from faultline.service.evaluate import score
from tests.labels import FakeAsset, FakeLabel, day, ep

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def write_csv(path: Path, seed: int = 0, n: int = 3000) -> None:
    """Two sensors a minute apart: a vibration spike at row 1500, a 20-row hole in vibration from
    row 2500, and bearing temperature climbing from 60 to 90 °C from row 2000."""
    rng = np.random.default_rng(seed)
    temp = 60 + rng.normal(0, 0.3, n)
    temp[2000:] += np.linspace(0, 30, n - 2000)
    vib = 2 + rng.normal(0, 0.05, n)
    vib[1500] = 6
    with open(path, "w") as fh:
        fh.write("timestamp,bearing_temp,vibration_rms\n")
        for i in range(n):
            ts = (datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
            v = "" if 2500 <= i < 2520 else f"{vib[i]:.3f}"
            fh.write(f"{ts},{temp[i]:.3f},{v}\n")


def test_score_without_config_finds_spike_climb_and_hole(tmp_path):
    data, out = tmp_path / "data.csv", tmp_path / "scores.csv"
    write_csv(data)
    result = runner.invoke(app, ["score", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 3000
    assert {"timestamp", "score", "flag"} <= set(rows[0]) and any(k.startswith("score_") for k in rows[0])
    findings = [json.loads(line) for line in open(tmp_path / "scores.findings.jsonl")]
    opened = {(f["sensor"], f["fault_mode"]) for f in findings}
    # the climb: beside another sensor, the relation check finds it (no per-sensor drift check there)
    assert {("vibration_rms", "anomaly"), ("bearing_temp", "anomaly"), ("vibration_rms", "no_data")} <= opened
    assert float(rows[1500]["score"]) >= 0.5 and rows[1500]["flag"] == "1"  # 0.5: the alarm level
    assert rows[1500]["detector"] == "level" and rows[1500]["sensor"] == "vibration_rms"
    assert all(r["flag"] == "0" for r in rows[100:1400])  # quiet, healthy stretch
    assert any(r["flag"] == "1" for r in rows[2000:2150])  # the climb is flagged early
    assert "findings" in result.output and "bearing_temp" in result.output


def test_score_with_the_sample_config_uses_the_asset_checks(tmp_path):
    data, out = tmp_path / "data.csv", tmp_path / "scores.csv"
    write_csv(data)
    result = runner.invoke(
        app,
        [
            "score",
            str(data),
            "--out",
            str(out),
            "--asset",
            "P-101",
            "--config",
            str(ROOT / "config" / "detectors.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    header = next(csv.reader(open(out)))
    assert "score_bearing_temp_limit" in header and "score_vibration_zone" in header
    findings = [json.loads(line) for line in open(tmp_path / "scores.findings.jsonl")]
    limit = [f for f in findings if f["rule"] == "bearing_temp_limit"]
    assert limit and limit[0]["thresholds"]["high"] == 80  # P-101's override
    assert limit[0]["config_version"].startswith("sha-")


@pytest.mark.parametrize(
    "content, message",
    [
        ("when,a\n1,2\n", "no timestamp column (looked for timestamp, ts, time, datetime, date)"),
        ("timestamp,a\nyesterday,2\n", "no timestamp is ISO 8601 or an epoch number (first: 'yesterday')"),
        ("timestamp,note\n1767571200,ok\n1767571260,lots\n", "no numeric sensor column"),
    ],
)
def test_score_names_the_bad_cell(tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    result = runner.invoke(app, ["score", str(data), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and message in result.output


def test_score_warns_about_a_cell_that_is_not_a_number(tmp_path):
    data = tmp_path / "some.csv"
    data.write_text("timestamp,a\n1767571200,2\n1767571260,lots\n1767571320,2.5\n")
    result = runner.invoke(app, ["score", str(data), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 0 and "column 'a': 1 cells are not numbers: treated as missing" in result.output


def test_bad_detector_config_names_the_key(tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("detectors:\n  classes:\n    default:\n      checks:\n        x: {sensor: a, detector: nope}\n")
    data = tmp_path / "data.csv"
    write_csv(data)
    result = runner.invoke(app, ["score", str(data), "--out", str(tmp_path / "o.csv"), "--config", str(cfg)])
    assert result.exit_code == 2
    assert "detectors.classes.default.checks.x.detector" in result.output and "nope" in result.output


# --- evaluation -----------------------------------------------------------------------------------


def test_matching_rules_of_the_evaluation():
    labels = [
        FakeLabel("A", ("vibration_rms",), "imbalance", "equipment", day(2), day(12), None),
        FakeLabel("B", ("vibration_rms",), "looseness", "equipment", day(4), day(8), None),
        FakeLabel("C", ("bearing_temp",), "stuck_sensor", "sensor", day(5), None, day(6)),
        FakeLabel(None, ("bearing_temp",), "offline", "gateway", day(3), None, day(3.1), gateway="g"),
        FakeLabel(None, ("bearing_temp",), "duplicate", "gateway", day(1), None, day(13), gateway="g"),
    ]
    assets = {"A": FakeAsset("g"), "B": FakeAsset(None), "C": FakeAsset(None), "D": FakeAsset(None)}
    hot = "high_vibration"
    eps = [
        ep("A", "accel.rms", 4.5, hot),
        ep("A", "vibration_rms", 13, hot),  # detection; after failure: true
        ep("B", "bearing_temp", 3.9, hot),  # before onset: false alarm
        ep("B", "motor_current", 5, mode="no_data"),  # data quality: no detection, no label
        ep("C", "bearing_temp", 5.5, mode="stuck_sensor"),
        ep("A", "motor_current", 3.05, mode="no_data"),  # the gateway was offline
        ep("D", "vibration_rms", 7, hot),
    ]  # no fault on D: false alarm
    r = score(eps, labels, assets, day(14), timedelta(days=14))
    o = r["overall"]
    assert o["recall"] == 0.5  # A found, B missed
    assert o["median_lead_fraction"] == pytest.approx((0.75 + 0.0) / 2)  # missed counts as 0
    # precision and false alarms are over the 4 anomaly findings; the 3 data-quality ones are scored apart
    assert o["false_alarms"] == 2 and o["precision"] == pytest.approx(2 / 4)
    assert o["false_alarms_per_asset_week"] == pytest.approx(2 / (4 * 2))
    assert r["data_quality"]["findings"] == 3 and r["data_quality"]["false_alarms"] == 1
    m = r["by_fault_mode"]
    assert m["stuck_sensor"]["recall"] == 1.0 and m["offline"]["recall"] == 1.0
    assert m["duplicate"]["recall"] is None  # not scored: ingest's job
    assert m["looseness"]["recall"] == 0.0


def test_evaluate_on_a_short_run_reports_json():
    result = runner.invoke(
        app, ["evaluate", "--fleet", str(ROOT / "config" / "fleet.yaml"), "--seed", "3", "--duration", "4d", "--json"]
    )
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert set(r["overall"]) >= {"recall", "precision", "false_alarms_per_asset_week", "median_lead_fraction"}
    assert r["by_fault_mode"]["misalignment"]["detected"] == 1  # M-101: onset day 1
    assert r["overall"]["false_alarms_per_asset_week"] <= 0.1
    assert "stuck_sensor" not in r["by_fault_mode"]  # its window opens on day 5
