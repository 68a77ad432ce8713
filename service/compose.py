"""The composition root: one function from validated settings to the service's parts.

`faultline run`, `faultline demo` and the end-to-end tests all build the service here, so what a test
exercises is what a user runs. It checks the configuration files against each other first
(`service.crossref`), so a plant whose sites ticketing does not know fails at start with the missing
mapping named, instead of losing every finding later.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from service.crossref import reference_problems
from service.preventive import preventive_scheduler
from service.runtime import Runtime
from service.settings import ConfigError, Settings, default_detectors_config, shipped_ticketing_config
from ticketing.clock import Clock
from ticketing.preventive import PreventiveScheduler


class StartupError(RuntimeError):
    """Raised when the service cannot start as configured; the message is one line naming the cause."""


@dataclass
class Service:
    """The running parts: the runtime (ingest, detection, work orders, escalation, notifications), the
    app, and the preventive schedules (None without any), run by the runtime as a background loop."""

    runtime: Runtime
    app: FastAPI
    preventive: PreventiveScheduler | None = None


def build_service(settings: Settings, *, clock: Clock | None = None, embedded_broker: bool = False) -> Service:
    """Check the cross-references, then build the runtime and the HTTP app over it (nothing started yet)."""
    from service.app import create_app

    try:
        ticketing = settings.ticketing or shipped_ticketing_config()
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    problems = reference_problems(settings.detectors or default_detectors_config(), ticketing)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StartupError(problems[0] + more)
    runtime = Runtime(settings, clock=clock, embedded_broker=embedded_broker)
    try:
        preventive = preventive_scheduler(runtime)
    except ValueError as exc:
        runtime.close()
        raise StartupError(f"preventive: {exc}") from None
    if preventive is not None:
        runtime.add_background("preventive", preventive.run)
    return Service(runtime, create_app(settings, runtime), preventive)


__all__ = ["Service", "StartupError", "build_service"]
