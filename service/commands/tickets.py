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


_STORE_HELP = "work-order store URL (sqlite:///path or postgresql+psycopg://…); default: the configuration's store_url"


def _store_url(store: str | None, config: Path | None) -> str:
    return store if store is not None else load_ticketing(config).store_url


@tickets_app.command("verify-audit")
def verify_audit(
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Check the hash chain of the audit log; exit 1 naming the first broken entry."""
    from ticketing.store import WorkOrderStore

    with WorkOrderStore(_store_url(store, config)) as orders:
        broken = orders.verify_audit()
        entries = sum(1 for _ in orders.audit_entries())
    if broken is not None:
        typer.echo(str(broken), err=True)
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {entries} entries")


@tickets_app.command("kpis")
def kpis(
    since: Optional[str] = typer.Option(None, "--since", help="period start, ISO 8601 with offset (default: 30 days ago)"),
    until: Optional[str] = typer.Option(None, "--until", help="period end, ISO 8601 with offset (default: now)"),
    repeat_threshold: int = typer.Option(3, "--repeat-threshold", min=2,
                                         help="occurrences per asset in the period that flag it for root-cause analysis"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """MTTA, MTTR, SLA compliance, first-time fix, false alarms per rule, backlog and repeat failures."""
    import json
    from datetime import UTC, datetime, timedelta

    from ticketing.kpis import kpis_from_store
    from ticketing.store import WorkOrderStore

    now = datetime.now(UTC)
    end = _aware(until, "--until") if until else now
    start = _aware(since, "--since") if since else end - timedelta(days=30)
    if end <= start:
        raise typer.BadParameter(f"the period must end after it starts ({start.isoformat()} .. {end.isoformat()})",
                                 param_hint="--since/--until")
    with WorkOrderStore(_store_url(store, config)) as orders:
        figures = kpis_from_store(orders, start, end, now, repeat_threshold).as_json()
    typer.echo(json.dumps(figures, indent=2) if as_json else _kpi_table(figures))


def _aware(text: str, option: str):
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date and time", param_hint=option) from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone offset (write e.g. 2026-11-01T00:00+01:00 or …Z)",
                                 param_hint=option)
    return value


def _kpi_table(k: dict) -> str:
    def show(value, unit=""):
        return "-" if value is None else f"{value:g}{unit}"

    lines = [f"period {k['period']['start']} .. {k['period']['end']}   orders opened {k['orders_opened']}",
             f"MTTA {show(k['mtta_hours'], ' h')}   MTTR {show(k['mttr_hours'], ' h')}",
             f"SLA response {show(k['sla_response_compliance_pct'], ' %')}   "
             f"resolution {show(k['sla_resolution_compliance_pct'], ' %')}   "
             f"first-time fix {show(k['first_time_fix_rate_pct'], ' %')}",
             "false alarms by detector/rule:"]
    lines += [f"  {r['detector']}/{r['rule']}: {show(r['false_alarm_rate_pct'], ' %')} {r['outcomes']}"
              for r in k["false_alarm_rate_by_rule"]] or ["  (no close-outs)"]
    lines.append("backlog (priority: age buckets):")
    lines += [f"  {p}: " + "  ".join(f"{age} {n}" for age, n in row.items()) for p, row in k["backlog"].items()]
    lines.append("repeat failures:")
    lines += [f"  {r['site']}/{r['asset']}: {r['occurrences']} {r['fault_modes']}"
              + ("  ROOT-CAUSE ANALYSIS" if r["needs_root_cause_analysis"] else "")
              for r in k["repeat_failures"]] or ["  (none)"]
    return "\n".join(lines)
