"""The one configuration of a run: a YAML file validated into ``Settings`` before any connection.

Each area owns its section models (``ingest.settings``, later ``detectors.config`` and
``ticketing.config``); this module only composes them. Strings may name environment variables —
``password: ${MQTT_PASSWORD}`` or ``${NAME:-default}`` — so secrets need not live in the file.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultline.detectors.config import DetectorsConfig
from faultline.ingest.settings import IngestSettings, MetricsSettings, MqttSettings, SpoolSettings, StoreSettings
from faultline.ticketing.attachments import AttachmentSettings
from faultline.ticketing.config import TicketingConfig
from faultline.ticketing.preventive import PreventiveSettings


class ServiceSettings(BaseModel):
    """The ``service:`` section of ``faultline run``: the HTTP API's address, limits and state file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    state_path: str = Field(
        "./var/service.sqlite", description="tokens, findings, detector versions and saved detector state"
    )
    max_request_bytes: int = Field(1024**2, ge=1024, description="larger request bodies get 413")
    save_state_every_s: float = Field(10.0, gt=0, description="how often detector state is saved while running")
    state_url: str | None = Field(
        None,
        description="save detector state to this database (SQLAlchemy URL, e.g. the work-order store's "
        "PostgreSQL) instead of state_path, so a worker taking over this shard restores it",
    )
    shard: str = Field(
        "default",
        min_length=1,
        max_length=200,
        description="this worker's name for its streams: its detector state is saved under it",
    )
    shared_subscription: Literal["refuse", "sticky"] = Field(
        "refuse",
        description="a `$share/…` topic filter: refused (round robin splits a stream between workers), "
        "or allowed when the broker keeps each topic on one worker (EMQX's hash_topic)",
    )


class Settings(BaseModel):
    """Everything a Faultline run is configured with; unknown top-level keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    # the detectors and ticketing areas replace these with their own section models
    detectors: DetectorsConfig | None = None
    ticketing: TicketingConfig | None = None
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    preventive: PreventiveSettings = Field(default_factory=PreventiveSettings)


class ConfigError(ValueError):
    """Raised when a configuration file cannot be read or does not validate; lists every problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _expand_env(node: Any, env: dict[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, env, f"{path}.{k}" if path else str(k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, env, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{path}: environment variable {name} is not set (value {node!r})")
            return ""

        return _ENV.sub(substitute, node)
    return node


def describe_errors(exc: ValidationError, data: Any) -> list[str]:
    """One line per problem, naming the dotted key and the value that was given."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        given: Any = data
        for part in err["loc"]:
            try:
                given = given[part]
            except (KeyError, IndexError, TypeError):
                given = None
                break
        shown = "(secret)" if any(s in loc for s in ("password", "token")) else repr(given)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"{loc}: unknown key (value {shown})")
        elif err["type"] == "missing":
            lines.append(f"{loc}: required key is missing")
        else:
            lines.append(f"{loc}: {message} (value {shown})")
    return lines


#: Keys that name a file or folder. A relative one written in a configuration file is relative to the
#: file's folder, so the same file means the same places whatever the working directory.
PATH_KEYS = (
    ("spool", "path"),
    ("store", "path"),
    ("ingest", "dead_letter_path"),
    ("service", "state_path"),
    ("mqtt", "ca_file"),
    ("mqtt", "cert_file"),
    ("mqtt", "key_file"),
)
_SQLITE_URL = "sqlite:///"


def _relative_to(data: dict[str, Any], folder: Path) -> None:
    """Make the relative paths of ``data`` (and a relative SQLite ``ticketing.store_url``) start at ``folder``."""
    for section, key in PATH_KEYS:
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str) and block[key]:
            if not Path(block[key]).is_absolute():
                block[key] = str(folder / block[key])
    ticketing = data.get("ticketing")
    url = ticketing.get("store_url") if isinstance(ticketing, dict) else None
    if isinstance(ticketing, dict) and isinstance(url, str) and url.startswith(_SQLITE_URL):
        path = url[len(_SQLITE_URL) :]
        if path and not path.startswith("/") and not path.startswith(":memory:"):
            ticketing["store_url"] = _SQLITE_URL + str(folder / path)


def settings_from_dict(
    data: Any, source: str = "configuration", env: dict[str, str] | None = None, folder: Path | None = None
) -> Settings:
    """Validate a parsed configuration; raises ``ConfigError`` naming every bad key and value.

    With ``folder`` (the configuration file's), relative paths in ``data`` are taken relative to it.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"top level must be a mapping of sections, got {type(data).__name__}"])
    problems: list[str] = []
    data = _expand_env(data, dict(os.environ) if env is None else env, "", problems)
    if problems:
        raise ConfigError(source, problems)
    if folder is not None:
        _relative_to(data, folder)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, describe_errors(exc, data)) from exc


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: where (line and column, 1-based) and what."""
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"not valid YAML: {what}"
    return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {what}"


def load_settings(path: str | Path | None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate a YAML configuration file; ``None`` gives the embedded default. Relative paths
    written in the file are relative to the file's folder; those of keys it leaves out (the defaults)
    are relative to the working directory."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [yaml_problem(exc)]) from exc
    return settings_from_dict(data, str(path), env, folder=path.resolve().parent)


def default_detectors_path() -> Path:
    """The shipped sample ``detectors:`` section (``config/detectors.yaml``, package data of ``detectors``)."""
    return Path(str(resources.files("faultline.detectors").joinpath("default.yaml")))


def default_detectors_config() -> DetectorsConfig:
    """The checks that apply when the configuration has no ``detectors:`` section."""
    path = default_detectors_path()
    try:
        return DetectorsConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))["detectors"])
    except ValidationError as exc:
        raise ConfigError(str(path), describe_errors(exc, None)) from exc


def shipped_ticketing_config(env: dict[str, str] | None = None) -> TicketingConfig:
    """The ``ticketing:`` section of the shipped sample (``config/ticketing.yaml``), with its ``${VAR}``
    strings expanded like the run's own file (its webhook and mail server come from the environment)."""
    from faultline.ticketing.config import default_config_path, parse_ticketing_section

    path = default_config_path()
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems: list[str] = []
    section = _expand_env(
        parse_ticketing_section(document, str(path)), dict(os.environ) if env is None else env, "ticketing", problems
    )
    if problems:
        raise ConfigError(str(path), problems)
    try:
        return TicketingConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(str(path), [f"ticketing.{p}" for p in describe_errors(exc, section)]) from exc


__all__ = [
    "ConfigError",
    "PATH_KEYS",
    "ServiceSettings",
    "Settings",
    "default_detectors_config",
    "default_detectors_path",
    "load_settings",
    "settings_from_dict",
    "shipped_ticketing_config",
    "yaml_problem",
]
