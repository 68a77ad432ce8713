"""`faultline tickets …`: work orders from the command line.

The commands live on one typer sub-app, ``tickets_app``, so each part of ticketing adds its own
command to it (``deadline`` here; the audit and KPI commands beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from faultline.ticketing.config import TicketingConfig

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
    from faultline.service.settings import ConfigError, load_settings, shipped_ticketing_config
    from faultline.ticketing.config import default_config_path

    source = path if path is not None else default_config_path()
    try:
        if path is None:  # the shipped sample: its relative store_url is under the working directory, as for `run`
            return shipped_ticketing_config()
        settings = load_settings(source)
    except ConfigError as exc:
        raise typer.BadParameter("; ".join(exc.problems), param_hint=f"--config {source}") from None
    if settings.ticketing is None:
        raise typer.BadParameter("the file has no 'ticketing:' section", param_hint=f"--config {source}")
    return settings.ticketing


@tickets_app.command("deadline")
def deadline(
    policy: str = typer.Option(..., "--policy", help="SLA policy name, e.g. corrective"),
    site: str = typer.Option(..., "--site", help="site name, e.g. north"),
    opened: str = typer.Option(
        ..., "--opened", help="when the job came in, ISO 8601 with offset: 2026-12-24T16:30+01:00"
    ),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Print the response and resolution deadlines of a job as JSON, in the site's local offset."""
    import json
    from datetime import datetime

    from faultline.ticketing.config import UnknownName
    from faultline.ticketing.sla import SlaTimeline

    try:
        opened_at = datetime.fromisoformat(opened)
    except ValueError:
        raise typer.BadParameter(
            f"{opened!r} is not an ISO 8601 date and time (write e.g. 2026-12-24T16:30+01:00)", param_hint="--opened"
        ) from None
    if opened_at.tzinfo is None:
        raise typer.BadParameter(
            f"{opened!r} has no time zone offset (write e.g. 2026-12-24T16:30+01:00 or …Z)", param_hint="--opened"
        )
    settings = load_ticketing(config)
    try:
        sla = settings.sla_clock(site, settings.policy(policy))
    except UnknownName as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.kind}") from None
    typer.echo(json.dumps(sla.deadlines(SlaTimeline(opened_at)).as_json()))


_STORE_HELP = "work-order store URL (sqlite:///path or postgresql+psycopg://…); default: the configuration's store_url"


def _store_url(store: str | None, config: Path | None) -> str:
    return store if store is not None else load_ticketing(config).store_url


def _existing_store(url: str):
    """The work-order store at ``url``. Commands that read never create one: a SQLite file that does
    not exist is a one-line error naming it (exit 1), not a new empty store in the wrong place."""
    from sqlalchemy.engine import make_url

    from faultline.ticketing.store import WorkOrderStore

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path not in (None, "", ":memory:") and not Path(path).exists():
        typer.echo(f"no work-order store at {path} (from {url}); `faultline run` creates it", err=True)
        raise typer.Exit(1)
    from sqlalchemy.exc import OperationalError

    from faultline.service.compose import unreachable_database

    try:
        return WorkOrderStore(url)
    except OperationalError as exc:
        typer.echo(unreachable_database(url, exc), err=True)
        raise typer.Exit(1) from None


@tickets_app.command("verify-audit")
def verify_audit(
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Check the hash chain of the audit log, replay it and check that the live orders agree with it;
    exit 1 naming the first broken entry or the order that differs."""
    with _existing_store(_store_url(store, config)) as orders:
        broken = orders.verify_audit()
        entries = orders.last_audit_seq()
    if broken is not None:
        typer.echo(str(broken), err=True)
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {entries} entries")


@tickets_app.command("kpis")
def kpis(
    since: Optional[str] = typer.Option(
        None, "--since", help="period start, ISO 8601 with offset (default: 30 days ago)"
    ),
    until: Optional[str] = typer.Option(None, "--until", help="period end, ISO 8601 with offset (default: now)"),
    repeat_threshold: int = typer.Option(
        3, "--repeat-threshold", min=2, help="occurrences per asset in the period that flag it for root-cause analysis"
    ),
    as_json: bool = typer.Option(False, "--json/--no-json", help="print JSON instead of a table"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """MTTA, MTTR, SLA compliance, first-time fix, false alarms per rule, backlog and repeat failures."""
    import json
    from datetime import UTC, datetime, timedelta

    from faultline.ticketing.kpis import kpis_from_store, on_time_targets_of

    now = datetime.now(UTC)
    end = _aware(until, "--until") if until else now
    start = _aware(since, "--since") if since else end - timedelta(days=30)
    if end <= start:
        raise typer.BadParameter(
            f"the period must end after it starts ({start.isoformat()} .. {end.isoformat()})",
            param_hint="--since/--until",
        )
    catalogue = load_ticketing(config)
    with _existing_store(store if store is not None else catalogue.store_url) as orders:
        figures = kpis_from_store(orders, start, end, now, repeat_threshold, on_time_targets_of(catalogue)).as_json()
    typer.echo(json.dumps(figures, indent=2) if as_json else _kpi_table(figures))


def _aware(text: str, option: str):
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date and time", param_hint=option) from None
    if value.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} has no time zone offset (write e.g. 2026-11-01T00:00+01:00 or …Z)", param_hint=option
        )
    return value


def _kpi_table(k: dict) -> str:
    def show(value, unit=""):
        return "-" if value is None else f"{value:g}{unit}"

    lines = [
        f"period {k['period']['start']} .. {k['period']['end']}   orders opened {k['orders_opened']}",
        f"MTTA {show(k['mtta_hours'], ' h')}   MTTR {show(k['mttr_hours'], ' h')}",
        f"SLA response {show(k['sla_response_compliance_pct'], ' %')}   "
        f"resolution {show(k['sla_resolution_compliance_pct'], ' %')}   "
        f"first-time fix {show(k['first_time_fix_rate_pct'], ' %')}",
        "false alarms by detector/rule:",
    ]
    lines += [
        f"  {r['detector']}/{r['rule']}: {show(r['false_alarm_rate_pct'], ' %')} {r['outcomes']}"
        for r in k["false_alarm_rate_by_rule"]
    ] or ["  (no close-outs)"]
    lines.append("backlog (priority: age buckets):")
    lines += [f"  {p}: " + "  ".join(f"{age} {n}" for age, n in row.items()) for p, row in k["backlog"].items()]
    lines.append("repeat failures:")
    lines += [
        f"  {r['site']}/{r['asset']}: {r['occurrences']} {r['fault_modes']}"
        + ("  ROOT-CAUSE ANALYSIS" if r["needs_root_cause_analysis"] else "")
        for r in k["repeat_failures"]
    ] or ["  (none)"]
    return "\n".join(lines)


def _order_id(number: str) -> int:
    digits = number.upper().removeprefix("WO-")
    if not digits.isdigit():
        raise typer.BadParameter(f"{number!r} is not an order number (write WO-000042 or 42)", param_hint="ORDER")
    return int(digits)


@tickets_app.command("list")
def list_orders(
    status: Optional[str] = typer.Option(None, "--status", help="only orders in this status, e.g. open, on_hold"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """One line per order: number, priority, status, site/asset, fault mode, assignee, resolution due."""
    from faultline.ticketing.models import Status

    try:
        wanted = Status(status) if status is not None else None
    except ValueError:
        raise typer.BadParameter(
            f"unknown status {status!r} (known: {', '.join(Status)})", param_hint="--status"
        ) from None
    with _existing_store(_store_url(store, config)) as orders:
        for o in orders.orders(status=wanted):
            due = o.resolution_due.isoformat() if o.resolution_due else "-"
            typer.echo(
                f"{o.number}  {o.priority}  {o.status.value:<12} {o.site}/{o.asset}  {o.fault_mode}  "
                f"{o.assignee or '(unassigned)'}  due {due}"
            )


@tickets_app.command("notifications")
def notifications(
    status: Optional[str] = typer.Option(None, "--status", help="pending, delivered or dead"),
    retry: bool = typer.Option(
        False, "--retry/--no-retry", help="send the dead ones again (after fixing the receiver)"
    ),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Webhook and e-mail deliveries, newest first: status, attempts, receiver and the last error."""
    from datetime import UTC, datetime

    if status not in (None, "pending", "delivered", "dead"):
        raise typer.BadParameter(f"unknown status {status!r} (known: pending, delivered, dead)", param_hint="--status")
    with _existing_store(_store_url(store, config)) as orders:
        if retry:
            again = orders.retry_dead_notifications(datetime.now(UTC))
            typer.echo(f"{again} dead deliveries will be sent again by the running service", err=True)
        for n in orders.notifications(status=status):
            typer.echo(
                f"{n['event_id']}  {n['kind']:<20} {n['status']:<9} {n['attempts']:>2} attempts  "
                f"{n['channel']} {n['recipient']}" + (f"  ({n['last_error']})" if n["last_error"] else "")
            )


@tickets_app.command("show")
def show(
    order: str = typer.Argument(..., help="order number, e.g. WO-000042"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Print one order, with its evidence and history, as JSON."""
    import json

    from faultline.ticketing.store import OrderNotFound

    with _existing_store(_store_url(store, config)) as orders:
        try:
            found = orders.get(_order_id(order))
        except OrderNotFound as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps({"number": found.number, **found.snapshot()}, indent=2))


@tickets_app.command("act")
def act(
    order: str = typer.Argument(..., help="order number, e.g. WO-000042"),
    action: str = typer.Argument(
        ...,
        help="acknowledge, start, hold, resume, resolve, close, reopen, assign, "
        "set_priority, set_type, comment or feedback",
    ),
    actor: str = typer.Option(
        ..., "--as", help="who acts: an engineer named in the configuration (their role applies)"
    ),
    reason: Optional[str] = typer.Option(
        None, "--reason", help="hold: awaiting_parts or awaiting_customer; reopen: why"
    ),
    outcome: Optional[str] = typer.Option(
        None, "--outcome", help="resolve: fault_confirmed, false_alarm, no_fault_found or no_access"
    ),
    notes: str = typer.Option("", "--notes", help="resolve: what was done"),
    checked: Optional[str] = typer.Option(
        None, "--checked", help="resolve: numbers of the checklist steps done, e.g. 1,2"
    ),
    engineer: Optional[str] = typer.Option(None, "--engineer", help="assign: to whom"),
    priority: Optional[str] = typer.Option(None, "--priority", help="set_priority: P1..P4"),
    text: Optional[str] = typer.Option(None, "--text", help="comment: the text; feedback: the requester's words"),
    service_type: Optional[str] = typer.Option(None, "--type", help="set_type: the class of job, e.g. corrective"),
    fixed: Optional[bool] = typer.Option(
        None, "--fixed/--not-fixed", help="feedback: did the close fix it (--not-fixed reopens the order)"
    ),
    rating: Optional[int] = typer.Option(None, "--rating", min=1, max=5, help="feedback: 1 (poor) to 5"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Take one lifecycle step on an order; refusals (wrong status, role not allowed) exit 1 saying why."""
    from faultline.vocabulary import SystemClock
    from faultline.ticketing.lifecycle import Actor, InvalidTransition, Lifecycle, ServiceDesk
    from faultline.ticketing.roles import PermissionDenied
    from faultline.ticketing.store import OrderNotFound

    settings = load_ticketing(config)
    people = {e.name: e for e in settings.engineers}
    if actor not in people:
        raise typer.BadParameter(
            f"unknown engineer {actor!r} (configured: {', '.join(sorted(people)) or 'none'})", param_hint="--as"
        )
    try:
        steps = [int(n) for n in checked.split(",") if n.strip()] if checked is not None else None
    except ValueError:
        raise typer.BadParameter(
            f"{checked!r} is not a list of step numbers (write e.g. 1,2)", param_hint="--checked"
        ) from None
    given = {
        "reason": reason,
        "outcome": outcome,
        "notes": notes or None,
        "engineer": engineer,
        "priority": priority,
        "checked": steps,
        "service_type": service_type,
        "fixed": fixed,
        "rating": rating,
        **({"comment": text} if action == "feedback" else {"text": text}),
    }
    arguments = {name: value for name, value in given.items() if value is not None}
    clock = SystemClock()
    with _existing_store(store if store is not None else settings.store_url) as orders:
        desk = ServiceDesk(orders, Lifecycle.from_config(settings, clock))
        try:
            done = desk.act(_order_id(order), Actor(actor, people[actor].role.value), action, **arguments)
        except (InvalidTransition, PermissionDenied, OrderNotFound, ValueError, TypeError) as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{done.number} {done.status.value} (assignee {done.assignee or '-'})")
