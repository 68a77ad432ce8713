"""Hot reload of the ``detectors:`` section — thresholds, checks and alert rules per asset class and
asset — from the configuration file the service was started with, without a restart.

Triggered by SIGHUP (`faultline run`) or ``POST /api/v1/detectors/reload``. The whole file is read
and validated first (every section, and the cross-references `run` checks at start); when anything
is wrong the configuration in force stays and the error names each bad key. A valid change becomes a
new applied detector version (author: who asked; note: the file and what changed), so the version
list is the audit trail, and the log says the same. Checks the change leaves alone keep their
streaming state and open alerts (`DetectorVersions.apply`). Other sections (broker, store, …) are not
reloaded: a change to them is logged as needing a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faultline.service.crossref import reference_problems
from faultline.service.settings import ConfigError, default_detectors_config, load_settings

if TYPE_CHECKING:
    from faultline.service.runtime import Runtime

log = logging.getLogger("faultline.reload")


class ReloadRejected(ValueError):
    """Raised when the reloaded file does not validate; the configuration in force stays."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass
class ReloadOutcome:
    """What a reload did: the version in force before and after, and the changed keys of the section."""

    previous: int
    current: int
    changes: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.current != self.previous


_ABSENT = object()


def changes(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted keys whose value differs, each as ``key: old -> new``; a key one side lacks shows as
    ``(none)``, and one it lacks that the other holds as null (a default) is no change.

    >>> changes({"a": {"high": 90, "n": 2}}, {"a": {"high": 85, "n": 2}, "b": {"c": 1, "d": None}})
    ['a.high: 90 -> 85', 'b.c: (none) -> 1']
    """
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if a is _ABSENT and isinstance(b, dict):
                a = {}
            if b is _ABSENT and isinstance(a, dict):
                b = {}
            found.extend(changes(a, b, f"{path}.{key}" if path else str(key)))
        return found
    if old == new or (old in (None, _ABSENT) and new in (None, _ABSENT)):
        return []
    return [f"{path}: {_short(old)} -> {_short(new)}"]


def _short(value: Any, limit: int = 80) -> str:
    if value is _ABSENT:
        return "(none)"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reload_detectors(runtime: "Runtime", path: Path, actor: str) -> ReloadOutcome:
    """Read ``path`` again and apply its ``detectors:`` section; raises `ReloadRejected` naming the
    problems (nothing changes then)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise ReloadRejected(exc.source, exc.problems) from None
    config = settings.detectors or default_detectors_config()
    problems = reference_problems(config, runtime.ticketing)
    if problems:
        raise ReloadRejected(str(path), problems)
    before = runtime.versions.current()
    restart_needed = [
        name
        for name in type(settings).model_fields
        if name != "detectors" and getattr(settings, name) != getattr(runtime.settings, name)
    ]
    diff = changes(before["config"], config.model_dump(mode="json", by_alias=True))
    if not diff:
        return ReloadOutcome(before["number"], before["number"], [], restart_needed)
    note = f"reloaded from {path} ({actor}): " + "; ".join(diff)
    number = runtime.versions.apply_config(config, note=note, author=actor)
    return ReloadOutcome(before["number"], number, diff, restart_needed)


def reload_and_log(runtime: "Runtime", path: Path, actor: str) -> ReloadOutcome | None:
    """`reload_detectors`, with the outcome logged (the SIGHUP handler: nothing to answer to but the log)."""
    try:
        outcome = reload_detectors(runtime, path, actor)
    except ReloadRejected as exc:
        runtime.metrics.config_reloads.labels("rejected").inc()
        log.error(
            "detector configuration NOT reloaded (%s); v%d stays in force: %s",
            actor,
            runtime.versions.current()["number"],
            exc,
        )
        return None
    log_outcome(runtime, outcome, path, actor)
    return outcome


def log_outcome(runtime: "Runtime", outcome: ReloadOutcome, path: Path, actor: str) -> None:
    runtime.metrics.config_reloads.labels("applied" if outcome.changed else "unchanged").inc()
    if outcome.changed:
        log.warning(
            "detector configuration reloaded from %s by %s: v%d -> v%d; %s",
            path,
            actor,
            outcome.previous,
            outcome.current,
            "; ".join(outcome.changes),
        )
    else:
        log.info("detector configuration reloaded from %s by %s: unchanged (v%d stays)", path, actor, outcome.current)
    if outcome.restart_needed:
        log.warning(
            "sections %s of %s changed; they take effect at the next restart", ", ".join(outcome.restart_needed), path
        )


__all__ = ["ReloadOutcome", "ReloadRejected", "changes", "log_outcome", "reload_and_log", "reload_detectors"]
