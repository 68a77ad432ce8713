"""Same seed and fleet → byte-identical files and labels; other seeds differ; assets are independent."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from faultline.simulators import Fleet, simulate_offline
from tests.simulators.conftest import START, fleet_data, pump

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _simulate(*args: str):
    """Run `faultline simulate` in-process (from the repository root, where config/ lives)."""
    from typer.testing import CliRunner

    from faultline.service.cli import app

    return CliRunner().invoke(app, ["simulate", *args], catch_exceptions=False)


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_writes_byte_identical_files_for_the_same_seed(tmp_path, fmt):
    common = [
        "--config",
        "config/fleet.yaml",
        "--start",
        "2026-01-05T00:00:00Z",
        "--duration",
        "1d12h",
        "--format",
        fmt,
    ]
    runs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = _simulate(*common, "--seed", seed, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        runs[name] = _digests(tmp_path / name)
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    expected = (
        {f"{a.id}.{fmt}" for a in fleet.assets}
        | {f"{a.id}.accel.{fmt}" for a in fleet.assets if "accel" in a.sensors}
        | {"labels.jsonl"}
    )
    assert set(runs["a"]) == expected
    assert runs["a"] == runs["b"]
    different = {name for name in runs["a"] if runs["a"][name] != runs["c"][name]}
    # every readings file differs (labels may too: a stuck value or spike count depends on the noise)
    assert different >= expected - {"labels.jsonl"}
    labels = [json.loads(line) for line in (tmp_path / "a" / "labels.jsonl").read_text().splitlines()]
    assert len(labels) == sum(len(a.faults) + len(a.sensor_faults) for a in fleet.assets) + sum(
        len(g.faults) for g in fleet.gateways
    )


def test_csv_has_a_row_per_timestamp_and_a_column_per_sensor(tmp_path):
    result = _simulate(
        "--start",
        "2026-01-05T00:00:00Z",
        "--duration",
        "2h",
        "--out",
        str(tmp_path),
        "--labels",
        str(tmp_path / "truth.csv"),
        "--no-waveforms",
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "M-101.csv").read_text().splitlines()
    assert lines[0] == '"ts","vibration_rms","vibration_axial_rms","bearing_temp","motor_current"'
    assert lines[1].startswith("2026-01-05T00:00:00.000Z,") and lines[2].startswith("2026-01-05T00:01:00.000Z,")
    assert len(lines) == 1 + 120
    assert not list(tmp_path.glob("*.accel.csv"))
    from faultline.simulators.output import read_labels

    truth = read_labels(tmp_path / "truth.csv")
    assert {r["fault_mode"] for r in truth} >= {"bearing_outer_race", "offline", "stuck_sensor"}
    outer = next(r for r in truth if r["fault_mode"] == "bearing_outer_race")
    assert outer["asset"] == "P-101" and outer["params"]["bpfo"] > 0 and outer["end"] is None


def test_cli_rejects_bad_options_by_name(tmp_path):
    bad = tmp_path / "fleet.yaml"
    bad.write_text(
        "assets:\n  - {id: X, site: s, type: pump, running_speed_hz: 25, "
        "bearing: {n_balls: 9, ball_diameter_mm: 8, pitch_diameter_mm: 39}}\n"
    )
    result = _simulate("--config", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "assets.X.type" in result.output and "'pump'" in result.output
    result = _simulate("--duration", "7 days", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "--duration" in result.output and "'7 days'" in result.output
    result = _simulate("--start", "yesterday", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "--start 'yesterday'" in result.output
    from tests.servers import free_port

    nobody = f"mqtt://127.0.0.1:{free_port()}"
    result = _simulate("--duration", "5m", "--speed", "0", "--broker", nobody)
    assert result.exit_code == 2 and f"cannot connect to broker {nobody}" in result.output
    result = _simulate("--broker", "http://example.org", "--duration", "5m")
    assert result.exit_code == 2 and "is not an mqtt://host:port address" in result.output


def test_adding_an_asset_changes_no_other_asset():
    one = simulate_offline(Fleet.from_dict(fleet_data(pump("P-1"))), start=START, duration=timedelta(days=1))
    two = simulate_offline(
        Fleet.from_dict(fleet_data(pump("P-0"), pump("P-1"))), start=START, duration=timedelta(days=1)
    )
    for sensor in ("vibration_rms", "bearing_temp", "motor_current"):
        assert np.array_equal(one.scalars[("P-1", sensor)][1], two.scalars[("P-1", sensor)][1])
    assert np.array_equal(one.waveforms[("P-1", "accel")][2], two.waveforms[("P-1", "accel")][2])
    assert not np.array_equal(two.scalars[("P-0", "vibration_rms")][1], two.scalars[("P-1", "vibration_rms")][1])


def test_a_shorter_run_is_the_start_of_a_longer_one():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    short = simulate_offline(fleet, seed=5, start=START, duration=timedelta(days=1, hours=5))
    long = simulate_offline(fleet, seed=5, start=START, duration=timedelta(days=3))
    for key, (ts, values) in short.scalars.items():
        ts2, values2 = long.scalars[key]
        assert np.array_equal(ts, ts2[: len(ts)]) and np.array_equal(values, values2[: len(values)]), key
    for key, (_, _, blocks) in short.waveforms.items():
        assert np.array_equal(blocks, long.waveforms[key][2][: len(blocks)]), key


def test_streaming_writer_matches_the_in_memory_run(tmp_path):
    from faultline.simulators.output import write_fleet, write_labels, write_run

    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    run = simulate_offline(fleet, seed=2, start=START, duration=timedelta(days=4, hours=6))
    write_run(run, tmp_path / "memory", "parquet")
    write_labels(run.labels, tmp_path / "memory" / "labels.jsonl")
    _, labels, _ = write_fleet(fleet, tmp_path / "stream", 2, START, timedelta(days=4, hours=6), "parquet")
    write_labels(labels, tmp_path / "stream" / "labels.jsonl")
    assert _digests(tmp_path / "memory") == _digests(tmp_path / "stream")
    offline = next(lb for lb in labels if lb.fault_mode == "offline")
    assert offline.params["lost_readings"] == 3 * (3 * 180 + 18) + 180  # 3 h of 3 assets' readings and blocks


def test_waveform_files_hold_the_blocks(tmp_path):
    import csv

    import pyarrow.parquet as pq

    from faultline.simulators.output import write_run

    run = simulate_offline(Fleet.from_dict(fleet_data(pump())), start=START, duration=timedelta(hours=3))
    t0, rate, blocks = run.waveforms[("P-1", "accel")]
    write_run(run, tmp_path, "csv")
    write_run(run, tmp_path, "parquet")
    with open(tmp_path / "P-1.accel.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["t0"] for r in rows] == [
        "2026-01-05T00:00:00.000Z",
        "2026-01-05T01:00:00.000Z",
        "2026-01-05T02:00:00.000Z",
    ]
    assert float(rows[0]["rate_hz"]) == rate == 10240.0
    from_csv = np.array([[float(x) for x in r["values"].split(" ")] for r in rows])
    assert from_csv.shape == blocks.shape and np.abs(from_csv - blocks).max() <= 5e-5 + 1e-6
    table = pq.read_table(tmp_path / "P-1.accel.parquet")
    assert np.array_equal(np.array(table.column("values").to_pylist(), dtype=np.float32), blocks)
    assert table.column("t0").cast("int64").to_pylist() == t0.tolist()
