"""What a user expects of the command line: boolean flags with both spellings, one-line errors naming
the bad line, file, host or port, read-only commands that create nothing, paths relative to the
configuration file."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml
import typer.main
from typer.testing import CliRunner

from faultline.service.cli import app

ROOT = Path(__file__).resolve().parents[2]


def every_command(group, prefix: str = "faultline"):
    yield prefix, group
    if hasattr(group, "commands"):  # a group (typer carries its own copy of click's classes)
        for name, command in group.commands.items():
            yield from every_command(command, f"{prefix} {name}")


def test_every_boolean_flag_has_its_no_spelling():
    flags = []
    for name, command in every_command(typer.main.get_command(app)):
        for param in command.params:
            if getattr(param, "is_flag", False) and not param.is_eager:
                flags.append((name, param.opts[0], param.secondary_opts))
    assert flags, "no boolean flags found: the walk over the commands is broken"
    assert [f for f in flags if not f[2]] == []
    assert ("faultline demo", "--fast", ["--no-fast"]) in flags


BAD_YAML = "mqtt:\n  url: mqtt://127.0.0.1:1883\n  topic: [unclosed\nstore:\n  kind: sqlite\n"


@pytest.mark.parametrize(
    "args",
    [
        ["check-config", "{file}"],
        ["run", "--config", "{file}"],
        ["score", "--config", "{file}", "{csv}", "--out", "{dir}.csv"],
        ["simulate", "--config", "{file}", "--out", "{dir}"],
        [
            "tickets",
            "deadline",
            "--policy",
            "corrective",
            "--site",
            "north",
            "--opened",
            "2026-12-01T10:00+01:00",
            "--config",
            "{file}",
        ],
        ["check-config", "config/faultline.yaml", "--fleet", "{file}"],
    ],
)
def test_bad_yaml_is_one_line_naming_file_and_line(tmp_path, args):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    csv = tmp_path / "readings.csv"
    csv.write_text("ts,temp\n2026-01-01T00:00:00Z,1\n")
    argv = [a.format(file=bad, csv=csv, dir=tmp_path / "out") for a in args]
    argv = [str(ROOT / a) if a.startswith("config/") else a for a in argv]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    message = result.output.strip()
    assert "Traceback" not in message
    assert "line 4" in message and "bad.yaml" in message, message


def test_paths_in_a_config_file_are_relative_to_that_file(tmp_path, monkeypatch):
    from faultline.service.settings import load_settings

    folder = tmp_path / "etc" / "faultline"
    folder.mkdir(parents=True)
    ticketing = yaml.safe_load((ROOT / "config" / "ticketing.yaml").read_text())["ticketing"]
    ticketing["store_url"] = "sqlite:///data/workorders.sqlite"
    (folder / "faultline.yaml").write_text(
        yaml.safe_dump(
            {
                "store": {"kind": "sqlite", "path": "data/readings.sqlite"},
                "spool": {"path": "./data/spool"},
                "ingest": {"dead_letter_path": "/srv/dead-letter.sqlite"},  # absolute: kept
                "ticketing": ticketing,
            }
        )
    )
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings("../etc/faultline/faultline.yaml")
    assert settings.store.path == str(folder / "data/readings.sqlite")
    assert Path(settings.spool.path) == folder / "data" / "spool"
    assert settings.ingest.dead_letter_path == "/srv/dead-letter.sqlite"
    assert settings.ticketing.store_url == f"sqlite:///{folder}/data/workorders.sqlite"
    assert settings.service.state_path == "./var/service.sqlite"  # left out: the default, from the working directory


def closed_port() -> int:
    """A local port nothing listens on (bound for a moment, then released)."""
    from tests.servers import free_port

    return free_port()


@pytest.mark.parametrize("command", ["run", "tickets list"])
def test_an_unreachable_work_order_database_is_one_line_naming_host_and_port(tmp_path, monkeypatch, command):
    port = closed_port()
    url = f"postgresql+psycopg://faultline@127.0.0.1:{port}/faultline"
    ticketing = yaml.safe_load((ROOT / "config" / "ticketing.yaml").read_text())["ticketing"]
    ticketing["store_url"] = url
    config = tmp_path / "faultline.yaml"
    config.write_text(
        yaml.safe_dump(
            {"store": {"kind": "sqlite"}, "metrics": {"port": 0}, "service": {"port": 0}, "ticketing": ticketing}
        )
    )
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--config", str(config)] if command == "run" else ["tickets", "list", "--store", url]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert f"cannot reach the work-order database at 127.0.0.1:{port}" in lines[-1], result.output
    assert "Traceback" not in result.output


def test_an_unreachable_broker_is_one_line_naming_host_and_port(tmp_path):
    port = closed_port()
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--config",
            str(ROOT / "config" / "fleet-quickstart.yaml"),
            "--broker",
            f"mqtt://127.0.0.1:{port}",
            "--duration",
            "1m",
            "--speed",
            "0",
        ],
    )
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"cannot connect to broker mqtt://127.0.0.1:{port}" in result.output.splitlines()[-1]
    assert "Traceback" not in result.output


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_drawn_on_a_terminal_and_not_when_quiet_or_piped(monkeypatch):
    from faultline.service.progress import bars_wanted, progress_bar

    assert bars_wanted(False, Terminal()) and not bars_wanted(True, Terminal())
    assert not bars_wanted(False, io.StringIO())
    for quiet, drawn in ((False, True), (True, False)):
        screen = Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        with progress_bar("scoring pump.csv", quiet, "rows") as progress:
            for done in range(0, 101, 25):
                progress(done, 100)
        assert ("scoring pump.csv" in screen.getvalue()) is drawn, screen.getvalue()


def test_simulate_reports_progress_per_asset_and_draws_nothing_when_piped(tmp_path):
    from datetime import UTC, datetime, timedelta

    from faultline.simulators import Fleet
    from faultline.simulators.output import write_fleet

    fleet = Fleet.from_yaml(ROOT / "config" / "fleet-quickstart.yaml")
    seen: list[tuple[int, int]] = []
    write_fleet(
        fleet,
        tmp_path / "a",
        1,
        datetime(2026, 1, 5, tzinfo=UTC),
        timedelta(minutes=10),
        waveforms=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    n = len(fleet.assets)
    assert seen == [(i, n) for i in range(1, n + 1)]
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--config",
            str(ROOT / "config" / "fleet-quickstart.yaml"),
            "--duration",
            "10m",
            "--out",
            str(tmp_path / "b"),
            "--no-waveforms",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "writing" not in result.output and "━" not in result.output  # stderr is not a terminal here
