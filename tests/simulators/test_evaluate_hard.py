"""`faultline evaluate` on hard mode: data-quality findings scored apart, seed sets, the pooled line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faultline.service.cli import app
from faultline.service.evaluate import Episode, score
from tests.labels import T0, FakeAsset, FakeLabel, day, ep

ROOT = Path(__file__).resolve().parents[2]


def test_data_quality_findings_are_scored_against_data_quality_labels_only():
    labels = [
        FakeLabel("A", ("vibration_rms",), "bearing_outer_race", "equipment", day(1), day(6), None),
        FakeLabel("A", ("bearing_temp",), "stuck_sensor", "sensor", day(2), None, day(2.5)),
        FakeLabel(None, ("motor_current",), "offline", "gateway", day(3), None, day(3.1), gateway="g"),
    ]
    assets = {"A": FakeAsset("g"), "B": FakeAsset(None)}
    eps = [
        ep("A", "vibration_rms", 1.5),  # the bearing: a detection
        ep("A", "bearing_temp", 2.1, mode="stuck_sensor"),  # the frozen sensor: true
        ep("A", "motor_current", 3.01, mode="no_data"),  # the outage: true
        ep("A", "motor_current", 4.0, mode="stuck_sensor"),  # after onset, but no freeze there
        ep("A", "vibration_rms", 4.5, mode="sensor_check", data_quality=True),  # its own kind says so
        ep("B", "bearing_temp", 2.0),  # healthy asset: false alarm
        ep("B", "bearing_temp", 5.0, mode="no_data"),
    ]  # a data-quality false alarm
    r = score(eps, labels, assets, day(7), timedelta(days=7))
    o, dq = r["overall"], r["data_quality"]
    assert o["recall"] == 1.0
    assert o["findings"] == 2 and o["false_alarms"] == 1 and o["precision"] == 0.5
    assert o["false_alarms_per_asset_week"] == pytest.approx(1 / 2)
    # a frozen sensor on a failing machine is still a frozen sensor: not explained by the bearing
    assert dq["findings"] == 5 and dq["false_alarms"] == 3 and dq["precision"] == pytest.approx(2 / 5)
    assert dq["labels"] == 2 and dq["recall"] == 1.0
    assert dq["false_alarms_per_asset_week"] == pytest.approx(3 / 2)
    kinds = sorted((fa["asset"], fa["kind"]) for fa in r["false_alarms"])
    assert kinds == [("A", "data_quality"), ("A", "data_quality"), ("B", "anomaly"), ("B", "data_quality")]


def test_a_data_quality_finding_cannot_detect_an_equipment_fault():
    labels = [FakeLabel("A", ("vibration_rms",), "imbalance", "equipment", day(1), day(6), None)]
    r = score(
        [ep("A", "vibration_rms", 2, mode="stuck_sensor")], labels, {"A": FakeAsset(None)}, day(7), timedelta(days=7)
    )
    assert r["overall"]["recall"] == 0.0 and r["overall"]["findings"] == 0


def test_evaluate_reports_a_named_seed_set_in_hard_mode():
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--fleet",
            str(ROOT / "config" / "fleet.yaml"),
            "--mode",
            "hard",
            "--seeds",
            "tuning",
            "--duration",
            "1d",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["seed_set"] == "tuning" and [run["seed"] for run in r["runs"]] == [1, 2, 3, 4, 5]
    assert all(run["mode"] == "hard" for run in r["runs"])
    p = r["pooled"]
    assert p["seeds"] == [1, 2, 3, 4, 5] and p["mode"] == "hard"
    assert p["findings"] == sum(run["overall"]["findings"] for run in r["runs"])
    assert p["false_alarms"] == sum(run["overall"]["false_alarms"] for run in r["runs"])
    assert set(r["runs"][0]["data_quality"]) >= {"recall", "precision", "false_alarms_per_asset_week"}


def test_evaluate_rejects_unknown_mode_and_seed_set():
    runner = CliRunner()
    bad = runner.invoke(app, ["evaluate", "--mode", "nightmare", "--duration", "1d"])
    assert bad.exit_code == 2 and "--mode" in bad.output
    bad = runner.invoke(app, ["evaluate", "--seeds", "favourite", "--duration", "1d"])
    assert bad.exit_code == 2 and "--seeds" in bad.output
    bad = runner.invoke(app, ["evaluate", "--seeds", "tuning", "--seed", "3", "--duration", "1d"])
    assert bad.exit_code == 2


def test_simulate_writes_hard_mode_files(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--config",
            str(ROOT / "config" / "fleet.yaml"),
            "--mode",
            "hard",
            "--start",
            "2026-01-05T00:00:00Z",
            "--duration",
            "6h",
            "--seed",
            "101",
            "--out",
            str(tmp_path),
            "--no-waveforms",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "hard mode" in result.output
    lines = (tmp_path / "P-101.csv").read_text().splitlines()[1:]
    temps = [float(line.split(",")[2]) for line in lines if line.split(",")[2]]
    assert temps and all(abs(t * 10 - round(t * 10)) < 1e-6 for t in temps)  # 0.1 °C steps, as written


def test_a_finding_the_healthy_twin_also_raises_neither_detects_nor_is_explained():
    labels = [FakeLabel("A", ("vibration_rms",), "imbalance", "equipment", day(1), day(6), None)]
    assets = {"A": FakeAsset(None)}
    glitch = ep("A", "vibration_rms", 2.0, mode="spike")
    twin = [Episode("A", "vibration_rms", "rule", "spike", "low", day(2.0) + timedelta(minutes=20), None)]
    r = score([glitch], labels, assets, day(7), timedelta(days=7), healthy=twin)
    assert r["overall"]["recall"] == 0.0 and r["overall"]["false_alarms"] == 1
    # without the twin the same finding "detects" the fault by chance
    assert score([glitch], labels, assets, day(7), timedelta(days=7))["overall"]["recall"] == 1.0
    # a twin finding on another check, or hours away, does not take the credit
    other = [
        Episode("A", "vibration_rms", "other_rule", "spike", "low", day(2.0), None),
        Episode("A", "vibration_rms", "rule", "spike", "low", day(2.5), None),
    ]
    assert score([glitch], labels, assets, day(7), timedelta(days=7), healthy=other)["overall"]["recall"] == 1.0


def test_the_healthy_twin_shares_everything_but_the_equipment_faults():
    from faultline.service.evaluate import healthy_twin
    from faultline.simulators import Fleet, simulate_offline

    fleet = Fleet.from_yaml(ROOT / "config" / "fleet.yaml")
    a = simulate_offline(fleet, seed=102, start=T0, duration=timedelta(days=3), mode="hard")
    b = simulate_offline(healthy_twin(fleet), seed=102, start=T0, duration=timedelta(days=3), mode="hard")
    assert [x for x in a.labels if x.kind != "equipment"] == b.labels
    for label in (x for x in a.labels if x.kind == "equipment"):
        table, twin = a.tables[label.asset], b.tables[label.asset]
        before = table.elapsed_ns < (label.onset - T0).total_seconds() * 1e9
        for sensor, values in table.columns.items():
            np.testing.assert_array_equal(values[before], twin.columns[sensor][before])


def test_false_alarms_are_counted_per_check_and_recall_per_mode_pooled():
    from faultline.service.evaluate import pooled

    labels = [FakeLabel("A", ("vibration_rms",), "imbalance", "equipment", day(1), day(6), None)]
    assets = {"A": FakeAsset(None), "B": FakeAsset(None)}
    eps = [
        Episode("B", "vibration_rms", "vibration_drift", "high_vibration", "low", day(2), None),
        Episode("B", "vibration_rms", "vibration_drift", "high_vibration", "low", day(3), None),
        Episode("B", "bearing_temp", "temp_vs_load", "anomaly", "low", day(3), None),
        Episode("B", "vibration_rms", "vibration_spike", "spike", "medium", day(4), None, True),
    ]
    r = score(eps, labels, assets, day(7), timedelta(days=7))
    assert r["false_alarms_by_rule"] == {"vibration_drift": 2, "temp_vs_load": 1}
    assert r["data_quality_false_alarms_by_rule"] == {"vibration_spike": 1}
    found = score([ep("A", "vibration_rms", 2)], labels, assets, day(7), timedelta(days=7))
    p = pooled([r, found])
    assert p["recall_by_fault_mode"]["imbalance"] == {"labels": 2, "detected": 1, "recall": 0.5}
    assert p["false_alarms_by_rule"] == {"vibration_drift": 2, "temp_vs_load": 1}
