"""`faultline ingest` and `faultline check-config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.command("ingest")(ingest)
    app.command("check-config")(check_config)


def _load(path: Path | None):
    from faultline.service.settings import ConfigError, load_settings

    try:
        return load_settings(path)
    except ConfigError as exc:
        if len(exc.problems) == 1:  # the common case reads as one line: file, then what is wrong
            typer.echo(f"{exc.source}: {exc.problems[0]}", err=True)
        else:
            typer.echo(f"{exc.source}: invalid configuration", err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from None


def _override(settings, changes: dict):
    """Settings with command-line values replacing file values, validated like the file."""
    from pydantic import ValidationError

    from faultline.service.settings import describe_errors

    update = {}
    for section, values in changes.items():
        if not values:
            continue
        data = {**getattr(settings, section).model_dump(), **values}
        try:
            update[section] = type(getattr(settings, section)).model_validate(data)
        except ValidationError as exc:
            for problem in describe_errors(exc, data):
                typer.echo(f"command line: {section}.{problem}", err=True)
            raise typer.Exit(2) from None
    return settings.model_copy(update=update)


def _detectors_config(settings):
    """The ``detectors:`` section (bearings and speeds for the defect ratios), or the shipped sample's."""
    if settings.detectors is not None:
        return settings.detectors
    from faultline.service.settings import default_detectors_config

    return default_detectors_config()


def check_config(
    file: Path = typer.Argument(..., help="the YAML configuration file"),
    fleet: Optional[Path] = typer.Option(
        None,
        "--fleet",
        help="also check a simulator fleet file (its sites and criticalities against the ticketing section)",
    ),
) -> None:
    """Validate a configuration file: prints OK, or each bad key with its value, or each broken cross-reference."""
    from faultline.service.crossref import load_fleet, reference_problems
    from faultline.service.settings import ConfigError, default_detectors_config, shipped_ticketing_config

    settings = _load(file)
    try:
        ticketing = settings.ticketing or shipped_ticketing_config()
        fleet_data = load_fleet(fleet) if fleet is not None else None
    except (ConfigError, OSError) as exc:
        typer.echo(f"{exc}", err=True)
        raise typer.Exit(2) from None
    problems = reference_problems(settings.detectors or default_detectors_config(), ticketing, fleet_data)
    if problems:
        typer.echo(f"{file}: the configuration files do not agree", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{file}: OK" + (f" (and {fleet})" if fleet is not None else ""))


def ingest(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML configuration; none = embedded default"),
    mqtt_url: Optional[str] = typer.Option(None, help="overrides mqtt.url, e.g. mqtt://127.0.0.1:1884"),
    metrics_port: Optional[int] = typer.Option(None, help="overrides metrics.port (0 = off)"),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR"),
) -> None:
    """Subscribe to MQTT and write readings until SIGINT/SIGTERM.

    Without --config: uses the broker on 127.0.0.1:1883 if one answers, otherwise starts one in this
    process, and stores readings in SQLite under ./var/.
    """
    import logging

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "amqtt", "transitions"):  # one line per request or packet at INFO
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    settings = _load(config)
    overrides: dict[str, dict[str, Any]] = {"mqtt": {"url": mqtt_url}, "metrics": {"port": metrics_port}}
    settings = _override(
        settings, {section: {k: v for k, v in values.items() if v is not None} for section, values in overrides.items()}
    )
    from faultline.ingest.pipeline import run_ingest
    from faultline.service.waveforms import waveform_features

    # waveform blocks are stored as their features (RMS, peak, crest factor, kurtosis, bearing-defect ratios)
    try:
        code = run_ingest(
            settings.mqtt,
            settings.store,
            settings.spool,
            settings.ingest,
            settings.metrics,
            embedded_broker=config is None,
            waveform_features=waveform_features(lambda: _detectors_config(settings)),
        )
    except (OSError, RuntimeError) as exc:  # a port in use, an unwritable spool directory, ...
        logging.getLogger("faultline").debug("startup failed", exc_info=True)
        typer.echo(f"faultline ingest: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
