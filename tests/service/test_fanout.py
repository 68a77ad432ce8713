"""Backtest replays spread over a Dask cluster (one task per asset) give the single-process findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.servers  # starts a Dask scheduler and worker processes

ROOT = Path(__file__).resolve().parents[2]


def _records(findings):
    return sorted(
        (
            f.asset,
            f.sensor,
            f.rule,
            f.status,
            f.started_at.isoformat(),
            f.ended_at.isoformat() if f.ended_at else "",
            round(f.score, 9),
        )
        for f in findings
    )


def test_dask_backtest_replay_matches_the_single_process_one():
    from faultline.detectors import DetectorsConfig
    from faultline.service.backtest import replay
    from faultline.service.fanout import dask_client, replay_by_asset
    from faultline.service.settings import load_settings
    from faultline.simulators import Fleet, simulate_offline

    run = simulate_offline(
        Fleet.from_yaml(ROOT / "config/fleet-quickstart.yaml"),
        seed=3,
        start=datetime(2026, 11, 2, tzinfo=UTC),
        duration=timedelta(hours=12),
    )
    history = [(asset, sensor, ts, values) for (asset, sensor), (ts, values) in run.scalars.items()]
    config = load_settings(ROOT / "config/detectors.yaml").detectors
    assert isinstance(config, DetectorsConfig) and len({a for a, *_ in history}) == 3
    end_ns = max(int(t.max()) for _, _, t, _ in history)
    alone = replay(config, "v1", history, end_ns)
    with dask_client("local", workers=2) as client:
        spread = replay_by_asset(client, config, "v1", history, end_ns)
    assert alone, "the history should hold findings to compare"
    assert _records(spread) == _records(alone)


def test_evaluate_seeds_on_dask_report_what_they_report_one_after_the_other():
    import json

    from typer.testing import CliRunner

    from faultline.service.cli import app

    args = [
        "evaluate",
        "--fleet",
        str(ROOT / "config/fleet-quickstart.yaml"),
        "--seed",
        "1",
        "--seed",
        "2",
        "--duration",
        "12h",
        "--json",
    ]
    alone = CliRunner().invoke(app, args)
    spread = CliRunner().invoke(app, [*args, "--dask", "local"])
    assert alone.exit_code == 0 and spread.exit_code == 0, alone.output + spread.output
    runs = json.loads(alone.stdout)
    assert [r["seed"] for r in runs] == [1, 2]
    assert json.loads(spread.stdout) == runs


def test_score_files_on_dask_write_what_they_write_one_after_the_other(tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app
    from tests.realistic import pump, write_csv

    files = []
    for i in range(3):
        ts, columns, label = pump(i)
        write_csv(tmp_path / f"pump{i}.csv", ts, columns, label, delimiter=";")
        files.append(tmp_path / f"pump{i}.csv")
    alone, spread = tmp_path / "alone", tmp_path / "spread"
    a = CliRunner().invoke(app, ["score", *map(str, files), "--out-dir", str(alone), "-q"])
    b = CliRunner().invoke(app, ["score", *map(str, files), "--out-dir", str(spread), "-q", "--dask", "local"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for f in files:
        written = (alone / f"{f.stem}.scores.csv").read_text()
        assert written.count("\n") > 100 and (spread / f"{f.stem}.scores.csv").read_text() == written
