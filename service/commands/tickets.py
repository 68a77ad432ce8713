"""`faultline tickets …`: work orders from the command line.

The commands live on one typer sub-app, ``tickets_app``, so each part of ticketing adds its own
command to it (``deadline`` here; the audit and KPI commands beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from ticketing.config import TicketingConfig

tickets_app = typer.Typer(
    name="tickets",
    help="Work orders: SLA deadlines, the audit log, KPIs.",
    no_args_is_help=True,
)

_CONFIG_HELP = "YAML configuration with a 'ticketing:' section; none = the shipped sample (config/ticketing.yaml)"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.add_typer(tickets_app, name="tickets")


def load_ticketing(path: Path | None) -> TicketingConfig:
    """The ``ticketing:`` section of ``path`` (or of the shipped sample); exits 2 naming what is wrong."""
    from service.settings import ConfigError, load_settings
    from ticketing.config import default_config_path

    source = path if path is not None else default_config_path()
    try:
        settings = load_settings(source)
    except ConfigError as exc:
        raise typer.BadParameter("; ".join(exc.problems), param_hint=f"--config {source}") from None
    if settings.ticketing is None:
        raise typer.BadParameter("the file has no 'ticketing:' section", param_hint=f"--config {source}")
    return settings.ticketing


@tickets_app.command("deadline")
def deadline(
    policy: str = typer.Option(..., "--policy", help="SLA policy name, e.g. corrective"),
    site: str = typer.Option(..., "--site", help="site name, e.g. plant-a"),
    opened: str = typer.Option(..., "--opened", help="when the job came in, ISO 8601 with offset: 2026-12-24T16:30+01:00"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Print the response and resolution deadlines of a job as JSON, in the site's local offset."""
    import json
    from datetime import datetime

    from ticketing.config import UnknownName
    from ticketing.sla import SlaTimeline

    try:
        opened_at = datetime.fromisoformat(opened)
    except ValueError:
        raise typer.BadParameter(f"{opened!r} is not an ISO 8601 date and time "
                                 "(write e.g. 2026-12-24T16:30+01:00)", param_hint="--opened") from None
    if opened_at.tzinfo is None:
        raise typer.BadParameter(f"{opened!r} has no time zone offset (write e.g. 2026-12-24T16:30+01:00 or …Z)",
                                 param_hint="--opened")
    settings = load_ticketing(config)
    try:
        sla = settings.sla_clock(site, settings.policy(policy))
    except UnknownName as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.kind}") from None
    typer.echo(json.dumps(sla.deadlines(SlaTimeline(opened_at)).as_json()))
