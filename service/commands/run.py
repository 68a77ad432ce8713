"""`faultline run`, `faultline demo` and `faultline tokens create`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

tokens_app = typer.Typer(name="tokens", help="API tokens (stored hashed; shown once).", no_args_is_help=True)


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
    detectors section of ``config_path``."""
    import asyncio
    import signal
    import threading

    from service.compose import StartupError, build_service
    from service.reload import reload_and_log
    from service.runtime import serve

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
        if config_path is not None:  # off the loop: reading and validating the file must not stall the API
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(
                None, reload_and_log, runtime, config_path, "SIGHUP"))
        runtime.start(ingest=True)
        stopped = threading.Event()
        if publisher is not None:
            thread = threading.Thread(target=publisher, args=(stopped,), name="demo-fleet", daemon=True)
            thread.start()
        try:
            await serve(runtime, app, settings.service.host, settings.service.port, stop,
                        on_listening=lambda url: announce(url, runtime))
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
    from service.commands.ingest import _load

    _logging(log_level)
    settings = _load(config)

    def announce(url: str, runtime) -> None:
        typer.echo(f"faultline is serving on {url} (API {url}/api/v1, OpenAPI {url}/openapi.json)", err=True)
        if not runtime.tokens.list():
            typer.echo("no API tokens yet: create one with `faultline tokens create --role admin --config "
                       f"{config}`", err=True)

    raise typer.Exit(_serve(settings, embedded_broker=False, announce=announce, config_path=config))


def demo(
    port: int = typer.Option(8080, "--port", help="HTTP port of the web pages and API"),
    mqtt_port: int = typer.Option(1883, "--mqtt-port", help="broker port on 127.0.0.1; an in-process broker "
                                                            "starts there when none answers"),
    data_dir: Path = typer.Option(Path("var/demo"), "--data-dir", help="where the demo keeps its files (wiped at start)"),
    fast: bool = typer.Option(False, "--fast/--no-fast", help="send the simulated history in 20 s instead of 90 s"),
    log_level: str = typer.Option("WARNING", help="DEBUG, INFO, WARNING or ERROR"),
) -> None:
    """A simulated fleet in which a bearing fails: live readings, a finding, then a work order, within two minutes."""
    import shutil
    from functools import partial

    from service.demo import demo_settings

    _logging(log_level)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = demo_settings(data_dir, mqtt_port, port)

    def announce(url: str, runtime) -> None:
        _, token = runtime.tokens.create("admin", "demo admin", runtime.clock.now())
        typer.echo(f"Faultline demo: open {url}/ in a browser", err=True)
        typer.echo(f"admin token: {token}", err=True)
        typer.echo(f"  e.g. curl -H 'Authorization: Bearer {token}' {url}/api/v1/work-orders", err=True)
        typer.echo("P-101's bearing starts to fail in the simulated history; watch the fleet page. Ctrl-C stops.",
                   err=True)

    publisher = partial(_publish, settings.mqtt.url, 20.0 if fast else 90.0)
    raise typer.Exit(_serve(settings, embedded_broker=True, announce=announce, publisher=publisher))


def _publish(broker: str, seconds: float, stop) -> None:
    import logging

    from service.demo import publish_demo

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
    role: str = typer.Option(..., "--role", help="junior_engineer, mid_engineer, senior_engineer, "
                                                  "reliability_engineer, manager or admin"),
    name: str = typer.Option("", "--name", help="who or what uses it (default: the role)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="the run's YAML configuration (its "
                                                                     "service.state_path holds the tokens)"),
) -> None:
    """Create an API token and print it (only now; it is stored hashed)."""
    from datetime import UTC, datetime

    from service.commands.ingest import _load
    from service.state import ServiceDb
    from service.tokens import TokenStore

    settings = _load(config)
    db = ServiceDb(settings.service.state_path)
    try:
        record, token = TokenStore(db).create(role, name or role, datetime.now(UTC))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from None
    finally:
        db.close()
    typer.echo(f"token {record.id} ({record.name}, {record.role.value}):", err=True)
    typer.echo(token)
