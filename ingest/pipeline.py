"""The ingest pipeline: MQTT → decode → spool → PUBACK, and spool → writer.

Two threads besides paho's network thread:

committer
    takes every message that piled up since its last turn, decodes them in one call, dead-letters
    the bad ones, appends the readings to the spool as one record (one write, one fsync) and only
    then acknowledges the messages. While the spool is over its budget it holds the
    acknowledgements back and retries; the broker keeps the messages, nothing is dropped.
drainer
    reads large batches from the spool, writes them, dead-letters points the store refused, and
    confirms the batch to the spool so it can be forgotten. 429, 5xx and connection errors are
    retried with capped, jittered backoff (honouring Retry-After); a fatal error (401/403, no such
    database) stops writing loudly while spooling goes on, and writing is tried again every
    ``fatal_retry_s`` (an operator may fix the store without restarting Faultline).

Both stages are supervised: an unexpected error (the dead-letter store locked by another process, a
disk error, a bug) is logged with what the stage was doing, counted in
``faultline_stage_failures_total{stage}``, shown in `Pipeline.stage_failures` (``/readyz`` turns
red) and the failed step is retried with backoff until it works. The committer keeps the delivery
and resumes at the step that failed (nothing is acknowledged that is not durable, nothing is
skipped); the drainer reads the unconfirmed batch again and rewrites it (the store overwrites
repeated points).

``run_ingest`` wires the pieces from the settings sections and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from faultline.ingest.codecs import DecodeLimits, Decoder, Rejected
from faultline.ingest.deadletter import DeadLetter, DeadLetterStore
from faultline.ingest.lineprotocol import line_tags
from faultline.ingest.metrics import IngestMetrics
from faultline.ingest.readings import Readings
from faultline.ingest.settings import IngestSettings, MetricsSettings, MqttSettings, SpoolSettings, StoreSettings
from faultline.ingest.source import Delivery, MqttSource, may_need_receive_time, message_key
from faultline.ingest.spool import Spool, SpoolBatch, SpoolFull, SpoolRecordTooLarge
from faultline.ingest.topics import TopicTemplate
from faultline.vocabulary import Backoff
from faultline.ingest.writers import FatalWriteError, RetryableWriteError, Writer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Commit:
    """A delivery being committed; what is done is cleared, so a retry resumes at the failed step."""

    delivery: Delivery
    readings: Readings | None = None  # None until decoded; empty once spooled
    rejected: list[Rejected] = field(default_factory=list)  # emptied once dead-lettered
    step: str = "taken"


class Pipeline:
    """Connects a source, a decoder, the spool and a writer; see the module docstring.

    Parameters
    ----------
    source : MqttSource (or anything with ``take``, ``ack``, ``stop_taking``, ``stop``)
    decoder : Decoder
    spool : Spool
    writer : Writer
    dead_letters : DeadLetterStore
    metrics : IngestMetrics
    write_rows : most readings handed to one ``writer.write`` call
    backoff : delays between write retries
    clock : epoch nanoseconds, the time stamped on dead letters of the write stage
    on_written : called (on the drainer thread) with each batch the store confirmed, e.g. to feed
        detectors with exactly what was stored
    commit_wait_s : group commit: how long messages right behind the first may join its fsync
    write_linger_s : after a batch under half of ``write_rows``, how long at most to let the spool gather
        more (less when half a batch is waiting or no record came for 20 ms)
    fatal_retry_s : after a fatal write error, how long until writing is tried again (0: never)
    """

    def __init__(
        self,
        source: MqttSource,
        decoder: Decoder,
        spool: Spool,
        writer: Writer,
        dead_letters: DeadLetterStore,
        metrics: IngestMetrics | None = None,
        *,
        write_rows: int = 50_000,
        backoff: Backoff | None = None,
        clock: Callable[[], int] = time.time_ns,
        commit_wait_s: float = 0.005,
        max_commit_messages: int = 20_000,
        write_linger_s: float = 0.1,
        fatal_retry_s: float = 300.0,
        on_written: Callable[[Readings], None] | None = None,
    ):
        self.source, self.decoder, self.spool, self.writer = source, decoder, spool, writer
        self.dead_letters = dead_letters
        self.metrics = metrics or IngestMetrics()
        self.metrics.watch_spool(lambda: spool.pending_records, lambda: spool.pending_bytes)
        self.metrics.watch_memory_and_dead_letters(source, dead_letters)
        if hasattr(source, "on_failure"):
            source.on_failure = lambda exc: self.metrics.stage_failures.labels("receive").inc()
        if hasattr(source, "remember_stamps"):
            source.remember_stamps(spool.recent_stamps)  # messages spooled before a crash, maybe unacked
        self.write_rows = write_rows
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.commit_wait_s = commit_wait_s
        self.max_commit_messages = max_commit_messages
        self.write_linger_s = write_linger_s
        self.fatal_retry_s = fatal_retry_s
        self._retry_fatal_at = 0.0  # after a fatal error: when to try writing again; 0 while writing works
        self._on_written = on_written
        self.writer_failure: FatalWriteError | None = None
        self._stop_committing = threading.Event()
        self._halt_writing = threading.Event()
        self._drain_deadline: float | None = None
        self._spooled = threading.Event()
        self._threads: list[threading.Thread] = []
        #: stage ("commit", "write") -> its unexpected error, while the stage keeps failing
        self.stage_failures: dict[str, str] = {}

    @classmethod
    def configured(
        cls,
        source: MqttSource,
        decoder: Decoder,
        spool: Spool,
        writer: Writer,
        dead_letters: DeadLetterStore,
        metrics: IngestMetrics,
        store: StoreSettings,
        spool_settings: SpoolSettings,
        **kwargs,
    ) -> "Pipeline":
        """A pipeline tuned by the ``store`` and ``spool`` sections (what both commands run)."""
        return cls(
            source,
            decoder,
            spool,
            writer,
            dead_letters,
            metrics,
            write_rows=max(store.batch_size * 4, 10_000),
            backoff=Backoff(store.retry_min_s, store.retry_max_s),
            commit_wait_s=spool_settings.commit_interval_ms / 1000,
            fatal_retry_s=store.fatal_retry_s,
            **kwargs,
        )

    def start(self) -> "Pipeline":
        for name, target in (("ingest-committer", self._commit_loop), ("ingest-drainer", self._drain_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.source.start()
        return self

    def stop(self, flush_timeout_s: float = 10.0) -> bool:
        """Stop taking messages, spool and acknowledge what was taken, write what is spooled.

        Writing gets at most ``flush_timeout_s``; what is left stays in the spool for the next start.
        Returns True when the spool was empty at the end.
        """
        self.source.stop_taking()
        self._stop_committing.set()
        self._threads[0].join()
        self.source.stop()
        self._drain_deadline = time.monotonic() + flush_timeout_s
        self._spooled.set()
        self._threads[1].join(flush_timeout_s + 5)
        self._halt_writing.set()
        self._threads[1].join()
        left = self.spool.pending_records
        if left:
            log.warning(
                "stopped with %d spool records (%d bytes) not yet written; they are written on the next start",
                left,
                self.spool.pending_bytes,
            )
        else:
            log.info("stopped; everything received was written")
        return left == 0

    # -- supervision ------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while a stage is failing with an unexpected error (``/readyz`` reports it)."""
        return not self.stage_failures

    def _stage_failed(self, stage: str, exc: BaseException, context: str) -> None:
        """Log an unexpected error of a stage with what it was doing, count it, and mark the stage failing."""
        self.metrics.stage_failures.labels(stage).inc()
        self.metrics.stage_failing.labels(stage).set(1)
        self.stage_failures[stage] = f"{type(exc).__name__}: {exc}"
        log.error("%s stage failed while %s; retrying", stage, context, exc_info=exc)

    def _stage_recovered(self, stage: str) -> None:
        if self.stage_failures.pop(stage, None) is not None:
            self.metrics.stage_failing.labels(stage).set(0)
            log.warning("%s stage works again", stage)

    # -- committer --------------------------------------------------------------------------------

    def _commit_loop(self) -> None:
        """Take, decode, dead-letter, spool, acknowledge: a failed step is retried, never skipped.

        A delivery whose commit fails part-way (the dead-letter store locked by another process, a
        disk error) is kept and its remaining steps retried with backoff until they work; meanwhile
        the broker holds its messages unacknowledged and the stage shows as failing. When stopping,
        it stays unacknowledged and the broker sends it again on the next connection.
        """
        backoff = Backoff(0.05, 5.0)
        pending: _Commit | None = None
        while True:
            try:
                if pending is None:
                    delivery = self.source.take(self.max_commit_messages, timeout=0.05, linger=self.commit_wait_s)
                    if delivery is None:
                        if self._stop_committing.is_set():
                            return
                        continue
                    pending = _Commit(delivery)
                self._commit(pending)
                pending = None
                backoff.reset()
                self._stage_recovered("commit")
            except SpoolFull:
                assert pending is not None  # only _commit(pending) fills the spool
                log.warning(
                    "stopping with the spool full: %d messages left unacknowledged with the broker",
                    len(pending.delivery),
                )
                pending = None
            except Exception as exc:  # noqa: BLE001 - supervised: retried; the broker keeps what is unacked
                what = (
                    f"committing {pending.delivery.describe()} ({pending.step})"
                    if pending is not None
                    else "taking messages from the source"
                )
                self._stage_failed("commit", exc, what)
                if self._stop_committing.wait(backoff.next_delay()):
                    if pending is not None:
                        log.warning(
                            "stopping: %d messages left unacknowledged with the broker, which sends them again",
                            len(pending.delivery),
                        )
                    return

    def _commit(self, c: _Commit) -> None:
        delivery = c.delivery
        if c.readings is None:
            c.step = "decoding"
            try:
                c.readings, c.rejected = self.decoder.decode_many(delivery.messages)
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not stall the stream
                log.exception("decoder failed on %d messages; dead-lettering them", len(delivery))
                reason = f"internal decoder error: {type(exc).__name__}: {exc}"
                c.readings = Readings.empty()
                c.rejected = [Rejected(i, t, p, reason) for i, (t, p, _) in enumerate(delivery.messages)]
            self.metrics.messages_received.inc(len(delivery))
        if c.rejected:
            c.step = "dead-lettering"
            rejected = c.rejected
            self.dead_letters.add_many(
                DeadLetter(delivery.messages[r.index][2], r.topic, r.payload, r.reason, "decode") for r in rejected
            )
            c.rejected = []
            self.metrics.dead_lettered("decode", [r.reason for r in rejected])
            log.info(
                "dead-lettered %d bad messages or readings, e.g. %s: %s",
                len(rejected),
                rejected[0].topic,
                rejected[0].reason,
            )
        if len(c.readings):
            c.step = "spooling"
            self._append(c.readings, self._receive_stamps(delivery))
            self.metrics.readings_received.inc(len(c.readings))
            c.readings = Readings.empty()
        c.step = "acknowledging"
        self.source.ack(delivery)

    def _receive_stamps(self, delivery: Delivery) -> dict[int, int] | None:
        """The receive times given to messages that may have readings without a device timestamp.

        Stored with the readings (before the PUBACK) and kept by the source, so a message the broker
        sends again, even after a restart, gets the same time (``may_need_receive_time`` says which).
        """
        remember = getattr(self.source, "remember_stamps", None)
        if remember is None:
            return None
        stamps = {
            message_key(topic, payload): received
            for topic, payload, received in delivery.messages
            if may_need_receive_time(payload)
        }
        if stamps:
            remember(stamps)
        return stamps

    def _append(self, readings: Readings, stamps: dict[int, int] | None = None) -> None:
        """Spool ``readings``, in pieces when one record would be over the spool's record budget."""
        try:
            self._append_record(readings, stamps)
            return
        except SpoolRecordTooLarge as exc:
            if len(readings) > 1:
                half = len(readings) // 2
                log.info("%s: spooling %d readings as two records", exc, len(readings))
                # pieces already spooled are kept if a later one fails: the delivery stays unacked and
                # is spooled again; the store overwrites the repeated points (same series and time)
                pairs = list((stamps or {}).items())
                self._append(readings.slice(0, half), dict(pairs[: len(pairs) // 2]))
                self._append(readings.slice(half, len(readings)), dict(pairs[len(pairs) // 2 :]))
                return
            reason = f"over_budget: one reading needs a {exc.needed}-byte spool record, over the limit of {exc.limit}"
        key = readings.series[int(readings.index[0])]
        template = getattr(self.decoder, "template", None)
        topic = (template.topic(dict(key.tags)) if template is not None else None) or ""
        self.dead_letters.add_many([DeadLetter(self.clock(), topic, repr(key).encode(), reason, "decode")])
        self.metrics.dead_lettered("decode", [reason])
        log.error("dead-lettered a reading of %s: %s", key, reason)

    def _append_record(self, readings: Readings, stamps: dict[int, int] | None = None) -> None:
        full_since = None
        while True:
            try:
                self.spool.append(readings, stamps)
                break
            except SpoolFull as exc:
                if full_since is None:
                    full_since = time.monotonic()
                    self.metrics.spool_full.inc()
                    log.warning("%s; holding acknowledgements back, the broker keeps the messages", exc)
                # unacknowledged messages are safe with the broker: when stopping, leave them there
                if self._stop_committing.wait(0.2):
                    raise
        if full_since is not None:
            log.info("spool has room again after %.1f s", time.monotonic() - full_since)
        self._spooled.set()

    # -- drainer ----------------------------------------------------------------------------------

    def _drain_loop(self) -> None:
        """Supervise `_drain_step`: an unexpected error is logged, counted and the batch written again."""
        backoff = Backoff(0.05, 5.0)
        self._prepare_store()
        while not self._halt_writing.is_set():
            try:
                if self._drain_step():
                    return
                if not self.stage_failures.get("write"):
                    backoff.reset()
            except Exception as exc:  # noqa: BLE001 - supervised: the unconfirmed batch is read and written again
                self._stage_failed(
                    "write",
                    exc,
                    f"writing from the spool {self.spool.path} (confirmed up to offset {self.spool.confirmed})",
                )
                self.spool.rewind()
                if self._halt_writing.wait(backoff.next_delay()):
                    return

    def _prepare_store(self) -> None:
        """Before the first batch: let the writer read the store's field types and create its database
        while the source connects, not in front of the first write. Best effort: the first write does
        it again when this failed."""
        prepare = getattr(self.writer, "prepare_store", None)
        if prepare is None:
            return
        try:
            prepare()
        except Exception as exc:  # noqa: BLE001 - the first write tries again and reports what is wrong
            log.debug("preparing the store before the first write failed: %s", exc)

    def _drain_step(self) -> bool:
        """Read, write and confirm one batch; True when draining is over."""
        if self._drain_deadline is not None and (
            self.spool.pending_records == 0 or self.writer_failure or time.monotonic() > self._drain_deadline
        ):
            return True
        if self.writer_failure is not None:
            if not self.fatal_retry_s or time.monotonic() < self._retry_fatal_at:
                self._halt_writing.wait(min(0.5, self.fatal_retry_s or 0.5))
                return False
            log.warning("trying to write again after: %s", self.writer_failure)
            self.writer_failure = None
        batch = self.spool.read(self.write_rows)  # a damaged segment raises: supervised by _drain_loop
        if batch is None:
            self.spool.checkpoint()  # idle: the checkpoint catches up with what was confirmed
            self._spooled.wait(0.2)
            self._spooled.clear()
            return False
        if not self._write(batch):
            self.spool.rewind()  # unconfirmed: read it again after a restart of writing
            return False
        self._stage_recovered("write")
        if len(batch.readings) < self.write_rows // 2 and self._drain_deadline is None:
            self._gather()
        return False

    def _gather(self) -> None:
        """After a small batch (the writer keeps up), let the spool gather a larger one (readings are
        durable already), so the store sees fewer, larger writes: for up to ``write_linger_s``, less
        when half a batch is waiting or the stream pauses (no record for ``_QUIET_S``), since
        then waiting longer only leaves the store idle."""
        deadline = time.monotonic() + self.write_linger_s
        enough = self.write_rows // 2 * _ROW_BYTES
        while not self._halt_writing.is_set() and self.spool.unread_bytes < enough:
            left = deadline - time.monotonic()
            if left <= 0 or not self._spooled.wait(min(left, _QUIET_S)):
                return
            self._spooled.clear()

    def _write(self, batch: SpoolBatch) -> bool:
        """Write one batch, retrying until it is written, writing is stopped, or shutdown."""
        while True:
            started = time.monotonic()
            try:
                result = self.writer.write(batch.readings)
            except RetryableWriteError as exc:
                self.metrics.write_retries.inc()
                delay = self.backoff.next_delay(exc.retry_after)
                log.warning("write of %d readings failed, retrying in %.1f s: %s", len(batch.readings), delay, exc)
                if self._wait_retry(delay):
                    return False
                continue
            except FatalWriteError as exc:
                self.writer_failure = exc
                self._retry_fatal_at = time.monotonic() + self.fatal_retry_s
                self.metrics.writer_stopped.set(1)
                retry = (
                    f"writing is tried again in {self.fatal_retry_s:g} s"
                    if self.fatal_retry_s
                    else "restart Faultline once the store is fixed"
                )
                log.error(
                    "WRITING STOPPED: %s. Readings keep going to the spool %s until its budget is full "
                    "(then the broker holds them); fix the store or its settings: %s.",
                    exc,
                    self.spool.path,
                    retry,
                )
                return False
            except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried, loudly
                self.metrics.write_retries.inc()
                delay = self.backoff.next_delay()
                self._stage_failed("write", exc, f"writing {len(batch.readings)} readings (retry in {delay:.1f} s)")
                if self._wait_retry(delay):
                    return False
                continue
            finally:
                self.metrics.write_seconds.observe(time.monotonic() - started)
            break
        self.backoff.reset()
        if self._retry_fatal_at:
            self._retry_fatal_at = 0.0
            self.metrics.writer_stopped.set(0)
            log.warning("writing resumed")
        if result.rejected:
            now = self.clock()
            self.dead_letters.add_many(
                DeadLetter(now, self._topic_of(line.line), line.line, line.reason, "write") for line in result.rejected
            )
            self.metrics.dead_lettered("write", [line.reason for line in result.rejected])
            log.warning(
                "the store refused %d points, dead-lettered; e.g. %s", len(result.rejected), result.rejected[0].reason
            )
        self.spool.confirm(batch.end, batch.records)
        self.metrics.readings_written.inc(result.written)
        if self._on_written is not None:
            try:
                self._on_written(batch.readings)
            except Exception:  # noqa: BLE001 - a consumer's failure must not stop writing
                log.exception("on_written failed for %d readings", len(batch.readings))
        return True

    def _topic_of(self, line: bytes) -> str:
        """The topic a refused point would have come on by itself (from its tags), or "" when unknown."""
        template = getattr(self.decoder, "template", None)
        try:
            return (template.topic(line_tags(line)) if template is not None else None) or ""
        except Exception:  # noqa: BLE001 - a name for a person; never a reason to fail the write
            return ""

    def _wait_retry(self, delay: float) -> bool:
        """Sleep ``delay``; True when writing must stop (shutdown, or its flush time is over)."""
        if self._drain_deadline is not None:
            delay = min(delay, max(0.0, self._drain_deadline - time.monotonic()))
        if self._halt_writing.wait(delay):
            return True
        return self._drain_deadline is not None and time.monotonic() >= self._drain_deadline


_ROW_BYTES = 20  # a spooled row: int32 series, int64 timestamp, float64 value
_QUIET_S = 0.02  # no record for this long: the stream paused, write what is there


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_writer(store: StoreSettings) -> Writer:
    """The writer the ``store`` section asks for (importing only its own client library)."""
    if store.kind == "sqlite":
        from faultline.ingest.writers import SqliteStore

        return SqliteStore(store.path)
    tls = store.tls_context()
    if store.api == "v1":
        import httpx

        from faultline.ingest.writers.influx_v1 import InfluxV1Writer

        return InfluxV1Writer(
            store.url,
            store.database,
            store.username,
            _secret(store.password),
            retention_policy=store.retention_policy,
            timeout=store.timeout_s,
            create_database=True,
            max_lines=store.batch_size,
            concurrency=store.write_concurrency,
            transport=httpx.HTTPTransport(verify=tls) if tls else None,
        )
    from faultline.ingest.writers.influx_v2 import InfluxV2Writer

    assert store.org is not None and store.bucket is not None  # the settings refuse api v2 without them
    return InfluxV2Writer(
        store.url,
        _secret(store.token) or "",
        store.org,
        store.bucket,
        timeout=store.timeout_s,
        max_lines=store.batch_size,
        concurrency=store.write_concurrency,
        ssl_context=tls,
    )


def open_spool(spool: SpoolSettings) -> Spool:
    """The spool at ``spool.path`` with its budget, segment size, fsync and checkpoint interval."""
    return Spool(spool.path, spool.max_bytes, spool.segment_bytes, spool.fsync, spool.checkpoint_interval_s)


def open_source(mqtt_settings: MqttSettings, metrics: IngestMetrics) -> MqttSource:
    """The broker source, counting reconnects and messages on topics outside the subscription."""
    return MqttSource(
        mqtt_settings,
        on_reconnect=metrics.reconnects.inc,
        on_outside=lambda pattern: metrics.outside_subscription.labels(pattern).inc(),
    )


def open_dead_letters(ingest: IngestSettings) -> DeadLetterStore:
    """The dead-letter store at ``ingest.dead_letter_path`` with its size and age retention."""
    return DeadLetterStore(
        ingest.dead_letter_path, max_bytes=ingest.dead_letter_max_bytes, max_age_s=ingest.dead_letter_max_age_s
    )


def build_decoder(
    mqtt_settings: MqttSettings, store: StoreSettings, ingest: IngestSettings, waveform_features=None, publish=None
) -> Decoder:
    """The decoder with the codecs of ``mqtt.codecs``; ``publish`` (``MqttSource.publish``) lets the
    Sparkplug B codec ask an edge node for a rebirth."""
    from faultline.ingest.codecs.routes import build_codecs
    from faultline.ingest.codecs.sparkplug_b import SparkplugB

    limits = DecodeLimits(
        max_payload_bytes=ingest.max_payload_bytes,
        earliest_ns=int(ingest.earliest_ts.timestamp()) * 1_000_000_000,
        max_future_ns=int(ingest.max_future_s * 1e9),
    )
    codecs = build_codecs(mqtt_settings.codec_routes(), TopicTemplate(mqtt_settings.topic).names)
    for _, codec in codecs:
        if isinstance(codec, SparkplugB):
            codec.publish = publish
    return Decoder(
        mqtt_settings.topic,
        limits,
        measurement=store.measurement,
        waveform_features=waveform_features,
        keep_raw_waveform=ingest.store_waveform_samples,
        codecs=codecs,
    )


def run_ingest(
    mqtt_settings: MqttSettings,
    store: StoreSettings,
    spool_settings: SpoolSettings,
    ingest: IngestSettings,
    metrics_settings: MetricsSettings,
    *,
    embedded_broker: bool = False,
    waveform_features=None,
    stop: threading.Event | None = None,
    metrics: IngestMetrics | None = None,
) -> int:
    """Run ingest until SIGINT/SIGTERM (or ``stop`` is set); returns the process exit code.

    With ``embedded_broker`` an in-process MQTT 3.1.1 broker is started at the ``mqtt.url`` address
    when nothing answers there.
    """
    from faultline.ingest.broker import EmbeddedBroker, broker_answers

    stop = stop or threading.Event()
    metrics = metrics or IngestMetrics()
    with contextlib.ExitStack() as resources:
        server = metrics.serve(metrics_settings.host, metrics_settings.port)
        if server:
            resources.callback(server.shutdown)
            log.info("metrics on http://%s:%d/metrics", metrics_settings.host, metrics_settings.port)
        if embedded_broker and not broker_answers(mqtt_settings.host, mqtt_settings.port):
            resources.callback(EmbeddedBroker(mqtt_settings.host, mqtt_settings.port).start().stop)
            mqtt_settings = mqtt_settings.model_copy(update={"protocol": "3.1.1"})
        spool = resources.enter_context(open_spool(spool_settings))
        dead_letters = resources.enter_context(open_dead_letters(ingest))
        writer = build_writer(store)
        resources.callback(writer.close)
        source = open_source(mqtt_settings, metrics)
        decoder = build_decoder(mqtt_settings, store, ingest, waveform_features, publish=source.publish)
        pipeline = Pipeline.configured(source, decoder, spool, writer, dead_letters, metrics, store, spool_settings)
        resources.enter_context(_stop_on_signals(stop))
        store_name = store.path if store.kind == "sqlite" else f"{store.url} ({store.api})"
        log.info(
            "ingesting %s from %s into %s %s",
            ", ".join(mqtt_settings.topic_filters()),
            mqtt_settings.url,
            store.kind,
            store_name,
        )
        pipeline.start()
        stop.wait()
        pipeline.stop(ingest.flush_timeout_s)
    return 0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event):
    """SIGINT and SIGTERM set ``stop`` (only the main thread can install signal handlers)."""

    def on_signal(signum, frame) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["Pipeline", "build_decoder", "build_writer", "run_ingest"]
