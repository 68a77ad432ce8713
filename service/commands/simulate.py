"""`faultline simulate` (a fleet with labelled faults) and `faultline simulate replay FILE.csv`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import typer

simulate_app = typer.Typer(
    no_args_is_help=False, help="Simulate a fleet of pumps, motors and fans with labelled faults."
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.add_typer(simulate_app, name="simulate")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _start(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--start {text!r} is not an ISO 8601 time (e.g. 2026-01-05T00:00:00Z)")
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _duration(option: str, text: str):
    from faultline.vocabulary import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        _fail(f"{option}: {exc}")
    if value.total_seconds() <= 0:
        _fail(f"{option} {text!r} must be positive")
    return value


@simulate_app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    config: Path = typer.Option(Path("config/fleet.yaml"), "--config", "-c", help="fleet YAML"),
    seed: Optional[int] = typer.Option(None, help="random seed; default: the fleet file's"),
    duration: str = typer.Option("1h", help="simulated time to cover: 90m, 2h, 7d"),
    speed: float = typer.Option(1.0, help="simulated seconds per real second; 0 = as fast as possible"),
    start: Optional[str] = typer.Option(None, help="simulated start (ISO 8601, UTC); default: now, to the minute"),
    period: Optional[str] = typer.Option(
        None, help="scalar sample period for every asset, e.g. 1s; default: the fleet's"
    ),
    broker: Optional[str] = typer.Option(None, help="mqtt://host:port; default: the fleet file's"),
    out: Optional[Path] = typer.Option(None, help="write files to this directory instead of publishing"),
    fmt: str = typer.Option("csv", "--format", help="file format with --out: csv or parquet"),
    labels: Optional[Path] = typer.Option(
        None, help="label file (.jsonl or .csv); default with --out: DIR/labels.jsonl"
    ),
    waveforms: bool = typer.Option(
        True, "--waveforms/--no-waveforms", help="write acceleration waveform files with --out"
    ),
    window: int = typer.Option(100, help="QoS-1 messages in flight before waiting for acknowledgements"),
    mode: Optional[str] = typer.Option(
        None,
        help="easy or hard (quantised sensors, load cycles, stops, heavy-tailed "
        "noise, subtle faults, frozen sensors, outages); default: the fleet's",
    ),
    quiet: bool = typer.Option(
        False, "--quiet/--no-quiet", "-q", help="no progress bar (none is drawn when stderr is not a terminal either)"
    ),
) -> None:
    """Generate the fleet's readings and either publish them over MQTT or write them to files.

    The same --seed, --start, --duration and fleet file give byte-identical files and labels.
    """
    if ctx.invoked_subcommand is not None:
        return
    from faultline.simulators import FleetError, Fleet, simulate_offline

    if fmt not in ("csv", "parquet"):
        _fail(f"--format {fmt!r}: use csv or parquet")
    if mode is not None and mode not in ("easy", "hard"):
        _fail(f"--mode {mode!r}: use easy or hard")
    if speed < 0:
        _fail(f"--speed {speed} must be 0 (as fast as possible) or positive")
    if labels is not None and labels.suffix not in (".jsonl", ".json", ".csv"):
        _fail(f"--labels {labels}: the file must end in .jsonl or .csv")
    try:
        fleet = Fleet.from_yaml(config)
    except FleetError as exc:
        _fail(str(exc))
    span = _duration("--duration", duration)
    sample_period = _duration("--period", period) if period else None
    target = broker or fleet.broker
    if out is None and not target:
        _fail("nowhere to send readings: give --broker mqtt://host:port, a broker: in the fleet file, or --out DIR")
    if out is None:
        assert target  # _fail above stops the run without one
        from faultline.simulators.publish import parse_broker

        try:
            parse_broker(target)
        except ValueError as exc:
            _fail(f"--broker: {exc}")

    when = _start(start)
    chosen_seed = fleet.seed if seed is None else seed
    typer.echo(
        f"simulating {len(fleet.assets)} assets from {when.isoformat()} for {span} (seed {chosen_seed}, "
        f"{mode or fleet.mode} mode)",
        err=True,
    )
    if out is not None:
        from faultline.simulators.output import write_fleet, write_labels

        from faultline.service.progress import progress_bar

        with progress_bar("writing", quiet, "assets") as progress:
            files, truth, rows = write_fleet(
                fleet, out, chosen_seed, when, span, fmt, waveforms, sample_period, mode, progress
            )
        label_file = write_labels(truth, labels or out / "labels.jsonl")
        typer.echo(f"wrote {len(files)} files ({rows} rows) to {out} and {len(truth)} labels to {label_file}")
        return

    run = simulate_offline(fleet, seed=chosen_seed, start=when, duration=span, scalar_period=sample_period, mode=mode)
    assert target  # without --out there is a broker (checked above)
    from faultline.simulators.publish import BrokerError, publish_run

    from faultline.service.progress import progress_bar

    try:
        with progress_bar("publishing", quiet, "simulated s") as progress:
            report = publish_run(run, target, speed=speed, window=window, progress=progress)
    except BrokerError as exc:
        _fail(str(exc))
    if labels is not None:
        from faultline.simulators.output import write_labels

        write_labels(report.labels, labels)
    typer.echo(
        f"published {report.total_messages} messages ({report.total_readings} readings) to {target} "
        f"in {report.elapsed_s:.1f} s"
        + (" (interrupted)" if report.interrupted else "")
        + (f"; labels in {labels}" if labels else "")
    )


@simulate_app.command("replay")
def replay(
    file: Path = typer.Argument(..., help="recorded CSV: a timestamp column and one column per sensor"),
    asset: str = typer.Option(..., help="asset name for the topics"),
    site: str = typer.Option(..., help="site name for the topics"),
    map_: List[str] = typer.Option(
        [], "--map", help="column=sensor (repeat); default: every column under its own name"
    ),
    ts_column: Optional[str] = typer.Option(None, help="timestamp column; default ts/timestamp/time or the first"),
    speed: float = typer.Option(1.0, help="recorded seconds per real second; 0 = as fast as possible"),
    broker: str = typer.Option("mqtt://127.0.0.1:1883", help="mqtt://host:port"),
    topic_template: str = typer.Option("faultline/{site}/{asset}/{sensor}", help="topic for each reading"),
    window: int = typer.Option(100, help="QoS-1 messages in flight before waiting for acknowledgements"),
) -> None:
    """Publish a recorded CSV with its original timing (or accelerated with --speed)."""
    from faultline.simulators.publish import BrokerError, MqttPublisher, PublishReport, parse_broker, publish_messages
    from faultline.simulators.replay import ReplayError, read_recording, recording_messages

    mapping = {}
    for item in map_:
        column, sep, sensor = item.partition("=")
        if not sep or not column or not sensor:
            _fail(f"--map {item!r}: use column=sensor")
        mapping[column] = sensor
    if speed < 0:
        _fail(f"--speed {speed} must be 0 (as fast as possible) or positive")
    try:
        parse_broker(broker)
        recording = read_recording(file, mapping or None, ts_column)
    except (ValueError, ReplayError) as exc:
        _fail(str(exc))
    report = PublishReport()
    try:
        with MqttPublisher(broker, window=window) as publisher:
            publish_messages(recording_messages(recording, site, asset, topic_template), publisher, speed, report)
    except BrokerError as exc:
        _fail(str(exc))
    typer.echo(f"replayed {report.total_readings} readings from {file} to {broker}")
