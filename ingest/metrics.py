"""Ingest metrics in the Prometheus text format, on their own registry and HTTP port.

Names follow Prometheus conventions (``_total`` counters, base units)::

    faultline_messages_received_total               MQTT messages taken from the broker
    faultline_readings_received_total               readings decoded from them
    faultline_readings_written_total                readings the store confirmed
    faultline_dead_letters_total{stage,reason}      messages (decode) or points (write) dead-lettered
    faultline_spool_records / faultline_spool_bytes not yet confirmed written
    faultline_spool_full_total                      times the spool was full (acks held back)
    faultline_write_seconds                         histogram of one writer call
    faultline_write_retries_total                   retryable write failures (429, 5xx, connection)
    faultline_writer_stopped                        1 while a 401/403 or configuration error stops writing
    faultline_mqtt_reconnects_total                 connections made after the first
    faultline_messages_outside_subscription_total{pattern}
                                                    messages on topics no filter of ours matches (a stale
                                                    subscription of the persistent session): acknowledged, not stored
    faultline_inflight_bytes                        payload bytes received from the broker, not yet taken
    faultline_dead_letter_bytes                     bytes the dead-letter store holds (its retention limit)
    faultline_dead_letters_expired_total{why}       dead letters deleted by retention (size, age)
    faultline_stage_failures_total{stage}           unexpected errors of a stage (receive, commit, write); retried
    faultline_stage_failing{stage}                  1 while a stage keeps failing (``/readyz`` is red then)
"""

from __future__ import annotations

import re
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# the reason text names the bad value; the metric label must not (unbounded cardinality)
_REASON_CLASSES = (
    ("over_budget", re.compile(r"over_budget")),
    ("not_json", re.compile(r"JSON", re.I)),
    ("too_large", re.compile(r"too large|bytes, limit|over .*limit|larger than", re.I)),
    ("topic", re.compile(r"topic|segment", re.I)),
    ("non_finite", re.compile(r"NaN|infinit|finite", re.I)),
    ("length", re.compile(r"length|differ|empty|longer|elements", re.I)),
    ("timestamp", re.compile(r"timestamp|\bts\b|\bt0\b|ISO|before|ahead|future", re.I)),
    ("type", re.compile(r"must be|not a number|expected|type", re.I)),
)


def reason_class(reason: str) -> str:
    """A short, bounded label for a dead-letter reason, e.g. ``not_json`` or ``timestamp``."""
    for label, pattern in _REASON_CLASSES:
        if pattern.search(reason):
            return label
    return "other"


class IngestMetrics:
    """The ingest counters and gauges, registered on ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_received = Counter(
            "faultline_messages_received", "MQTT messages taken from the broker", registry=r
        )
        self.readings_received = Counter("faultline_readings_received", "Readings decoded from messages", registry=r)
        self.readings_written = Counter("faultline_readings_written", "Readings the store confirmed", registry=r)
        self.dead_letters = Counter(
            "faultline_dead_letters",
            "Messages (decode) or points (write) dead-lettered",
            ["stage", "reason"],
            registry=r,
        )
        self.spool_records = Gauge("faultline_spool_records", "Spool records not yet confirmed written", registry=r)
        self.spool_bytes = Gauge("faultline_spool_bytes", "Spool bytes not yet confirmed written", registry=r)
        self.spool_full = Counter(
            "faultline_spool_full", "Times the spool was full and acks were held back", registry=r
        )
        self.write_seconds = Histogram(
            "faultline_write_seconds",
            "Duration of one writer call",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.write_retries = Counter("faultline_write_retries", "Retryable write failures", registry=r)
        self.writer_stopped = Gauge("faultline_writer_stopped", "1 while a fatal error stops writing", registry=r)
        self.stage_failures = Counter(
            "faultline_stage_failures", "Unexpected errors of a stage, each retried", ["stage"], registry=r
        )
        self.stage_failing = Gauge("faultline_stage_failing", "1 while a stage keeps failing", ["stage"], registry=r)
        self.inflight_bytes = Gauge("faultline_inflight_bytes", "Payload bytes received and not yet taken", registry=r)
        self.dead_letter_bytes = Gauge("faultline_dead_letter_bytes", "Bytes kept in the dead-letter store", registry=r)
        self.dead_letters_expired = Counter(
            "faultline_dead_letters_expired", "Dead letters deleted by retention", ["why"], registry=r
        )
        self.reconnects = Counter("faultline_mqtt_reconnects", "MQTT connections made after the first", registry=r)
        self.outside_subscription = Counter(
            "faultline_messages_outside_subscription",
            "Messages on topics none of our topic filters matches (acknowledged, not stored), by the topic's pattern",
            ["pattern"],
            registry=r,
        )

    def dead_lettered(self, stage: str, reasons: list[str]) -> None:
        for reason in reasons:
            self.dead_letters.labels(stage, reason_class(reason)).inc()

    def watch_spool(self, records: Callable[[], float], pending_bytes: Callable[[], float]) -> None:
        """Read the spool depth when scraped rather than on every append."""
        self.spool_records.set_function(records)
        self.spool_bytes.set_function(pending_bytes)

    def watch_memory_and_dead_letters(self, source, dead_letters) -> None:
        """Read the source's waiting bytes and the dead-letter store's size when scraped; count expiries."""
        if hasattr(source, "pending_bytes"):
            self.inflight_bytes.set_function(lambda: source.pending_bytes)
        if hasattr(dead_letters, "stored_bytes"):
            self.dead_letter_bytes.set_function(lambda: dead_letters.stored_bytes)
            dead_letters.on_expired = lambda why, count: self.dead_letters_expired.labels(why).inc(count)

    def serve(self, host: str, port: int):
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the server (or None if port 0)."""
        if not port:
            return None
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"metrics.port {port}: cannot listen on {host}:{port}: {exc.strerror}") from exc
        return server


__all__ = ["IngestMetrics", "reason_class"]
