"""Typed configuration sections of ingest: ``mqtt``, ``store``, ``spool``, ``ingest``, ``metrics``.

Each section is a pydantic model that rejects unknown keys, so a typo is an error that names the key
instead of a setting silently ignored. ``service.settings`` composes these sections into the one
``Settings`` of a run.
"""

from __future__ import annotations

import os
import re
import ssl
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from faultline.ingest.codecs.decoder import topic_matches
from faultline.ingest.codecs.routes import DEFAULT_ROUTES, build_codecs
from faultline.ingest.topics import TopicTemplate

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}


def parse_size(value: int | str) -> int:
    """Bytes from ``1048576``, ``"512MB"`` or ``"2GiB"`` (decimal and binary units)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {value!r} (write e.g. 1048576, 512MB or 2GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _readable_file(path: str | None) -> str | None:
    if path is not None and not os.access(path, os.R_OK):
        raise ValueError(f"{path!r} is not a readable file")
    return path


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodecRoute(_Section):
    """One entry of ``mqtt.codecs``: messages on ``topic`` (an MQTT filter) are decoded by ``codec``."""

    topic: str = Field(min_length=1)
    codec: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("topic")
    @classmethod
    def _filter(cls, v: str) -> str:
        levels = v.split("/")
        if any(("+" in level or "#" in level) and level not in ("+", "#") for level in levels) or "#" in levels[:-1]:
            raise ValueError(f"{v!r} is not an MQTT topic filter ('+' is a whole level, '#' only the last)")
        return v


class MqttSettings(_Section):
    """Where readings come from: the broker, the session and the topics."""

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = Field("faultline-ingest", min_length=1, max_length=128)
    topic: str = "faultline/{site}/{asset}/{sensor}"
    subscribe: list[str] | None = Field(
        None, description="topic filters; default: the template with each {name} as '+', plus the gateway topics"
    )
    protocol: Literal["5", "3.1.1", "auto"] = "auto"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = Field(30, ge=5, le=65535)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0, le=0xFFFFFFFF)
    receive_maximum: int = Field(1000, ge=1, le=65535)
    max_inflight_bytes: int = Field(
        64 * 1024**2, ge=64 * 1024, description="payload bytes received and not yet committed; past it reading pauses"
    )
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    codecs: list[CodecRoute] = Field(
        default_factory=lambda: [CodecRoute(**r) for r in DEFAULT_ROUTES],
        description="payload formats with topics of their own, by topic filter (first match wins)",
    )

    @field_validator("max_inflight_bytes", mode="before")
    @classmethod
    def _size(cls, v):
        return parse_size(v)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_as_text(cls, v):
        # YAML reads `protocol: 5` as an int and `protocol: 3.1.1` as text
        return str(v) if isinstance(v, (int, float)) else v

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, v: str | None) -> str | None:
        return _readable_file(v)

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"{v!r} is not an mqtt:// or mqtts:// URL with a host")
        try:
            _ = parts.port  # raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"{v!r} has a bad port") from exc
        return v

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        template = TopicTemplate(v)  # its ValueError names the bad segment
        if "sensor" not in template.names:
            raise ValueError(f"{v!r} has no {{sensor}} segment")
        return v

    @model_validator(mode="after")
    def _codecs_build(self):
        for n, route in enumerate(self.codecs):
            try:
                build_codecs([(route.topic, route.codec, route.options)], TopicTemplate(self.topic).names)
            except ValueError as exc:
                raise ValueError(f"codecs[{n}] ({route.codec} on {route.topic}): {exc}") from None
        return self

    def codec_routes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``mqtt.codecs`` as ``(topic filter, codec name, options)`` for `ingest.codecs.routes.build_codecs`."""
        return [(r.topic, r.codec, dict(r.options)) for r in self.codecs]

    @model_validator(mode="after")
    def _backoff_order(self):
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s {self.reconnect_max_s} is below reconnect_min_s {self.reconnect_min_s}")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme in ("mqtts", "ssl")

    def topic_filters(self) -> list[str]:
        """The filters to subscribe to: ``mqtt.subscribe``, or the template's and its gateway topic's."""
        if self.subscribe:
            return list(self.subscribe)
        # without overlap: Mosquitto 2.0 with MQTT 5 delivers a message once per matching filter
        filters = TopicTemplate(self.topic).subscriptions()
        return filters + [
            r.topic
            for r in self.codecs
            if r.topic not in filters and not any(topic_matches(f, r.topic) for f in filters)
        ]


class StoreSettings(_Section):
    """Where readings go: InfluxDB (v1 or v2 API) or the embedded SQLite store."""

    kind: Literal["influxdb", "sqlite"] = "sqlite"
    url: str = "http://127.0.0.1:8086"
    api: Literal["v1", "v2"] = "v1"
    database: str = "faultline"
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    bucket: str | None = None
    org: str | None = None
    token: SecretStr | None = None
    path: str = "./var/readings.sqlite"
    measurement: str = "telemetry"
    batch_size: int = Field(5000, ge=1, le=1_000_000)
    timeout_s: float = Field(10.0, gt=0)
    retry_min_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    fatal_retry_s: float = Field(300.0, ge=0)
    write_concurrency: int = Field(2, ge=1, le=16)
    ca_file: str | None = Field(None, description="https: CA bundle to trust (system CAs when unset)")
    cert_file: str | None = Field(None, description="https: client certificate (PEM; may hold the key too)")
    key_file: str | None = Field(None, description="https: the client certificate's key")
    tls_verify: bool = Field(True, description="false skips the certificate and host-name check (tests only)")

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, v: str | None) -> str | None:
        return _readable_file(v)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http:// or https:// URL with a host")
        return v

    @field_validator("measurement")
    @classmethod
    def _measurement(cls, v: str) -> str:
        # line protocol: a line starting with "#" is a comment (every point silently ignored), and a
        # newline ends the line; an empty name is refused by the store for every point
        if not v or v.startswith("#") or "\n" in v or "\r" in v:
            raise ValueError(
                "a measurement name must be non-empty, must not start with '#' and must not contain a line break"
            )
        return v

    @model_validator(mode="after")
    def _tls_needs_https(self):
        given = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k)]
        if not self.tls_verify:
            given.append("tls_verify")
        if given and urlsplit(self.url).scheme != "https":
            raise ValueError(f"{', '.join(given)} set but url {self.url!r} is not https://")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file set without cert_file")
        return self

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of an ``https://`` store (``None`` for ``http://``): the CA bundle, the
        client certificate, and whether the server's certificate and host name are checked."""
        if urlsplit(self.url).scheme != "https":
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @model_validator(mode="after")
    def _v2_needs_bucket(self):
        if self.kind == "influxdb" and self.api == "v2":
            missing = [k for k in ("bucket", "org") if not getattr(self, k)]
            if missing:
                raise ValueError(f"api v2 needs {' and '.join(missing)} (bucket, org, token)")
        return self


class SpoolSettings(_Section):
    """The durable local log between the broker and the writers."""

    path: str = "./var/spool"
    max_bytes: int = Field(1024**3, ge=1024 * 1024, description="disk budget; over it the source stops acknowledging")
    segment_bytes: int = Field(64 * 1024**2, ge=64 * 1024)
    commit_interval_ms: float = Field(5.0, ge=0, le=1000, description="longest wait to group messages into one fsync")
    fsync: bool = True
    checkpoint_interval_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="longest time the checkpoint lags what "
        "the store confirmed; a crash rewrites what it lags (the same points)",
    )

    @field_validator("max_bytes", "segment_bytes", mode="before")
    @classmethod
    def _size(cls, v):
        return parse_size(v)


class IngestSettings(_Section):
    """Decoding limits, the dead-letter store and shutdown behaviour."""

    dead_letter_path: str = "./var/dead-letter.sqlite"
    dead_letter_max_bytes: int = Field(
        1024**3, ge=1024 * 1024, description="past it the oldest dead letters are deleted"
    )
    dead_letter_max_age_s: float = Field(30 * 86400, ge=0, description="older dead letters are deleted; 0 keeps them")
    max_payload_bytes: int = Field(1024**2, ge=64)
    earliest_ts: datetime = Field(
        datetime(2000, 1, 1, tzinfo=timezone.utc), description="readings stamped before this are dead-lettered"
    )
    max_future_s: float = Field(86400, ge=0, description="readings further ahead than this are dead-lettered")
    store_waveform_samples: bool = False
    flush_timeout_s: float = Field(10.0, ge=0, description="on SIGINT/SIGTERM, time allowed to write what is spooled")

    @field_validator("max_payload_bytes", "dead_letter_max_bytes", mode="before")
    @classmethod
    def _size(cls, v):
        return parse_size(v)

    @field_validator("earliest_ts")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)


class MetricsSettings(_Section):
    """The Prometheus endpoint; port 0 turns it off."""

    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


__all__ = [
    "CodecRoute",
    "IngestSettings",
    "MetricsSettings",
    "MqttSettings",
    "SpoolSettings",
    "StoreSettings",
    "parse_size",
]
