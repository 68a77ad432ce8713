"""`faultline run`, `faultline demo` and `faultline tokens create|list|revoke|rotate|set-role`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

tokens_app = typer.Typer(name="tokens", help="API tokens (stored hashed; shown once).", no_args_is_help=True)
_STATE_HELP = "the run's YAML configuration (its service.state_path holds the tokens)"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.command("run")(run)
    app.command("demo")(demo)
    app.add_typer(tokens_app, name="tokens")


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "amqtt", "transitions", "uvicorn.access", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


def _serve(settings, embedded_broker: bool, announce, publisher=None, config_path: Path | None = None) -> int:
    """Run the runtime and the HTTP server on one asyncio loop until SIGINT/SIGTERM; SIGHUP reloads the
    detectors section and the service catalogue of ``config_path``."""
    import asyncio
    import signal
    import threading

    from faultline.service.compose import StartupError, build_service
    from faultline.service.reload import reload_and_log
    from faultline.service.runtime import serve

    try:
        service = build_service(settings, embedded_broker=embedded_broker, config_path=config_path)
    except StartupError as exc:
        typer.echo(f"faultline: cannot start: {exc}", err=True)
        return 2
    runtime, app = service.runtime, service.app

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if config_path is not None:  # kill -HUP, off the loop (reading and validating the file must not
            # stall the API): the detectors section and the service catalogue of the file, without a restart
            def reload_file() -> None:
                reload_and_log(runtime, config_path, "SIGHUP")
                runtime.reload_catalogue_file(config_path)

            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload_file))
        runtime.start(ingest=True)
        stopped = threading.Event()
        if publisher is not None:
            thread = threading.Thread(target=publisher, args=(stopped,), name="demo-fleet", daemon=True)
            thread.start()
        try:
            await serve(
                runtime,
                app,
                settings.service.host,
                settings.service.port,
                stop,
                on_listening=lambda url: announce(url, runtime),
            )
        finally:
            stopped.set()

    try:
        asyncio.run(main())
    except OSError as exc:  # e.g. the HTTP port is taken: one line, not a traceback
        typer.echo(f"cannot serve on {settings.service.host}:{settings.service.port}: {exc.strerror or exc}", err=True)
        runtime.stop()
        return 1
    finally:
        runtime.close()
    return 0


def run(
    config: Path = typer.Option(..., "--config", "-c", help="the YAML configuration (see config/faultline.yaml)"),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR"),
) -> None:
    """Ingest → detectors → alert rules → work orders, with the HTTP API and web pages, until SIGINT/SIGTERM."""
    from faultline.service.commands.ingest import _load

    _logging(log_level)
    settings = _load(config)

    def announce(url: str, runtime) -> None:
        typer.echo(f"faultline is serving on {url} (API {url}/api/v1, OpenAPI {url}/openapi.json)", err=True)
        if not runtime.tokens.list():
            typer.echo(
                f"no API tokens yet: create one with `faultline tokens create --role admin --config {config}`", err=True
            )

    raise typer.Exit(_serve(settings, embedded_broker=False, announce=announce, config_path=config))


def demo(
    port: int = typer.Option(8080, "--port", help="HTTP port of the web pages and API"),
    mqtt_port: int = typer.Option(
        1883, "--mqtt-port", help="broker port on 127.0.0.1; an in-process broker starts there when none answers"
    ),
    data_dir: Path = typer.Option(
        Path("var/demo"), "--data-dir", help="where the demo keeps its files (wiped at start)"
    ),
    fast: bool = typer.Option(False, "--fast/--no-fast", help="send the simulated history in 20 s instead of 90 s"),
    log_level: str = typer.Option("WARNING", help="DEBUG, INFO, WARNING or ERROR"),
) -> None:
    """A simulated fleet in which a bearing fails: live readings, a finding, then a work order, within two minutes."""
    import shutil
    from functools import partial

    from faultline.service.demo import demo_settings

    _logging(log_level)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = demo_settings(data_dir, mqtt_port, port)

    def announce(url: str, runtime) -> None:
        _, token = runtime.tokens.create("admin", "demo admin", runtime.clock.now())
        typer.echo(f"Faultline demo: open {url}/ in a browser", err=True)
        typer.echo(f"admin token: {token}", err=True)
        typer.echo(f"  e.g. curl -H 'Authorization: Bearer {token}' {url}/api/v1/work-orders", err=True)
        typer.echo(
            "P-101's bearing starts to fail in the simulated history; watch the fleet page. Ctrl-C stops.", err=True
        )

    publisher = partial(_publish, settings.mqtt.url, 20.0 if fast else 90.0)
    raise typer.Exit(_serve(settings, embedded_broker=True, announce=announce, publisher=publisher))


def _publish(broker: str, seconds: float, stop) -> None:
    import logging

    from faultline.service.demo import publish_demo

    for _ in range(50):  # the broker (maybe our own) may take a moment to accept clients
        try:
            publish_demo(broker, stop, history_seconds=seconds)
            return
        except OSError:
            if stop.wait(0.2):
                return
    logging.getLogger(__name__).error("the demo fleet could not reach the broker %s", broker)


@tokens_app.command("create")
def create_token(
    role: str = typer.Option(
        ..., "--role", help="junior_engineer, mid_engineer, senior_engineer, reliability_engineer, manager or admin"
    ),
    name: str = typer.Option("", "--name", help="who or what uses it (default: the role)"),
    expires: Optional[str] = typer.Option(
        None, "--expires", help="it stops working after this: 90d, 12h, 2w (default: never)"
    ),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_STATE_HELP),
) -> None:
    """Create an API token and print it (only now; it is stored hashed)."""
    with _token_store(config) as (tokens, now):
        try:
            record, token = tokens.create(role, name or role, now, _expiry(expires, now))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--role/--expires") from None
    typer.echo(
        f"token {record.id} ({record.name}, {record.role.value}"
        f"{', expires ' + record.expires_at if record.expires_at else ''}):",
        err=True,
    )
    typer.echo(token)


@contextmanager
def _token_store(config: Optional[Path]):
    from faultline.service.commands.ingest import _load
    from faultline.service.state import ServiceDb
    from faultline.service.tokens import TokenStore

    db = ServiceDb(_load(config).service.state_path)
    try:
        tokens = TokenStore(db)
        yield tokens, tokens.clock.now()
    finally:
        db.close()


def _expiry(expires: Optional[str], now):
    from faultline.vocabulary import parse_duration

    if expires is None:
        return None
    try:
        return now + parse_duration(expires)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None


@tokens_app.command("list")
def list_tokens(
    all_: bool = typer.Option(False, "--all/--no-all", help="revoked tokens too"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_STATE_HELP),
) -> None:
    """One line per token: id, role, name, created, expires, state (the secrets are never shown again)."""
    with _token_store(config) as (tokens, now):
        for t in tokens.list(include_revoked=all_):
            state = "revoked" if t.revoked_at else ("works" if t.works(now) else "expired")
            typer.echo(
                f"{t.id:>4}  {t.role.value:<20} {t.name:<24} created {t.created_at}  "
                f"expires {t.expires_at or 'never'}  {state}"
            )


@tokens_app.command("revoke")
def revoke_token(
    token_id: int = typer.Argument(..., help="the token's id (faultline tokens list)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_STATE_HELP),
) -> None:
    """Revoke a token now; refused for the last admin token that works."""
    from faultline.service.tokens import LastAdmin, NoSuchToken

    with _token_store(config) as (tokens, now):
        try:
            record = tokens.revoke(token_id, now)
        except (LastAdmin, NoSuchToken) as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"token {record.id} ({record.name}) revoked")


@tokens_app.command("rotate")
def rotate_token(
    token_id: int = typer.Argument(..., help="the token's id (faultline tokens list)"),
    expires: Optional[str] = typer.Option(None, "--expires", help="a new expiry from now: 90d (default: keep)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_STATE_HELP),
) -> None:
    """Give a token a new secret and print it (the old one stops working now)."""
    from faultline.service.tokens import NoSuchToken

    with _token_store(config) as (tokens, now):
        try:
            record, token = tokens.rotate(token_id, now, _expiry(expires, now))
        except NoSuchToken as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"token {record.id} ({record.name}, {record.role.value}) rotated:", err=True)
    typer.echo(token)


@tokens_app.command("set-role")
def set_token_role(
    token_id: int = typer.Argument(..., help="the token's id (faultline tokens list)"),
    role: str = typer.Argument(..., help="the new role"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=_STATE_HELP),
) -> None:
    """Give a token another role; refused when it would demote the last admin."""
    from faultline.service.tokens import LastAdmin, NoSuchToken

    with _token_store(config) as (tokens, _):
        try:
            record = tokens.set_role(token_id, role)
        except (LastAdmin, NoSuchToken, ValueError) as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"token {record.id} ({record.name}) is now {record.role.value}")
