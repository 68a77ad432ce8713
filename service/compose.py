"""The composition root: one function from validated settings to the service's parts.

`faultline run`, `faultline demo` and the end-to-end tests all build the service here, so what a test
exercises is what a user runs. It checks the configuration files against each other first
(`service.crossref`), so a plant whose sites ticketing does not know fails at start with the missing
mapping named, instead of losing every finding later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from faultline.service.crossref import reference_problems
from faultline.service.preventive import preventive_scheduler
from faultline.service.runtime import Runtime
from faultline.service.settings import ConfigError, Settings, default_detectors_config, shipped_ticketing_config
from faultline.vocabulary import Clock
from faultline.ticketing.preventive import PreventiveScheduler


class StartupError(RuntimeError):
    """Raised when the service cannot start as configured; the message is one line naming the cause."""


def unreachable_database(url: str, exc: Exception) -> str:
    """One line for a work-order database that refused the connection, naming its host and port."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}" if parsed.host or parsed.port else url
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return f"cannot reach the work-order database at {where} ({parsed.get_backend_name()}): {reason}"


@dataclass
class Service:
    """The running parts: the runtime (ingest, detection, work orders, escalation, notifications), the
    app, and the preventive schedules (None without any), run by the runtime as a background loop."""

    runtime: Runtime
    app: FastAPI
    preventive: PreventiveScheduler | None = None


def build_service(
    settings: Settings, *, clock: Clock | None = None, embedded_broker: bool = False, config_path: Path | None = None
) -> Service:
    """Check the cross-references, then build the runtime and the HTTP app over it (nothing started yet).
    ``config_path``, the file ``settings`` came from, is what a hot reload reads again."""
    from faultline.service.app import create_app

    try:
        ticketing = settings.ticketing or shipped_ticketing_config()
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    problems = reference_problems(settings.detectors or default_detectors_config(), ticketing)
    problems += shared_subscription_problems(settings)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StartupError(problems[0] + more)
    from sqlalchemy.exc import OperationalError

    try:
        runtime = Runtime(settings, clock=clock, embedded_broker=embedded_broker, config_path=config_path)
    except OperationalError as exc:
        raise StartupError(unreachable_database(ticketing.store_url, exc)) from None
    try:
        preventive = preventive_scheduler(runtime)
    except ValueError as exc:
        runtime.close()
        raise StartupError(f"preventive: {exc}") from None
    if preventive is not None:
        runtime.add_background("preventive", preventive.run)
    return Service(runtime, create_app(settings, runtime), preventive)


def shared_subscription_problems(settings: Settings) -> list[str]:
    """A round-robin shared subscription gives each reading to any one of the workers, so every worker
    sees a part of each stream and its detector state is wrong: refused for ``run`` (which detects)
    unless the broker keeps a topic on one worker (``service.shared_subscription: sticky``).
    ``faultline ingest`` (no detection) may share freely.

    >>> from faultline.service.settings import settings_from_dict
    >>> shared_subscription_problems(settings_from_dict({"mqtt": {"subscribe": ["faultline/north/#"]}}, "t", env={}))
    []
    >>> shared_subscription_problems(settings_from_dict({"mqtt": {"subscribe": ["$share/g/faultline/#"]}}, "t",
    ...                                                 env={}))[0][:62]
    "mqtt.subscribe '$share/g/faultline/#': a shared subscription h"
    """
    if settings.service.shared_subscription == "sticky":
        return []
    return [
        f"mqtt.subscribe {f!r}: a shared subscription hands each reading to any one worker, so a stream's "
        "readings would be split between workers and their detectors judge half-streams; give each worker "
        "its own streams with topic filters (e.g. faultline/north/#), set service.shared_subscription: "
        "sticky if the broker keeps each topic on one worker (EMQX hash_topic), or share with "
        "`faultline ingest` workers, which do not detect"
        for f in settings.mqtt.subscribe or []
        if f.startswith(("$share/", "$queue/"))
    ]


__all__ = ["Service", "StartupError", "build_service", "unreachable_database"]
