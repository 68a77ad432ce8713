"""`faultline`: the one command-line entry point.

Each area adds its commands from ``service/commands/<area>.py``; heavy imports (numpy, SQLAlchemy,
paho) happen inside the commands, so ``faultline --help`` stays fast.
"""

from __future__ import annotations

import typer

from faultline.service.commands import detect, diagnose, ingest, run, simulate, tickets

app = typer.Typer(
    name="faultline",
    help="Predictive-maintenance ingestion: MQTT telemetry to InfluxDB, fault detectors, work orders with SLAs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for area in (run, ingest, simulate, detect, diagnose, tickets):
    area.register(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"faultline {version('faultline')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("faultline (not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Predictive-maintenance ingestion: MQTT telemetry to InfluxDB, fault detectors, work orders with SLAs."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
