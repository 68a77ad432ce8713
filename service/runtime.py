"""The one process of ``faultline run``: ingest → detectors → alert rules → work orders, and the API.

Threads do the blocking work, the asyncio loop serves HTTP and the event stream:

* ingest's committer and drainer threads (``ingest.pipeline``); each batch the store confirmed is
  handed to ``Detection.handle`` through a queue, read by the ``detect`` thread;
* ``Detection`` runs the live engine (and a shadow engine, when one is running) over the batch,
  records the findings and hands the live ones to ticketing's intake, which opens, adds to or
  reopens work orders;
* the escalation thread ticks ticketing's ``EscalationScheduler`` for the unfinished orders;
* ``EventBus`` carries reading, finding and work-order events to the server-sent event stream.

Detector and alert state (the engine's arrays) is saved in the service state file by the save-state
thread every few seconds and whenever findings were produced (off the detect thread: a save of 10,000
streams takes about 0.15 s), and on shutdown; it is restored on start. Readings are handed to
detection after they are written: a reading that is in the store has been seen by the detectors,
and a backtest over the store replays what the live engine saw.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from faultline.detectors import DetectorsConfig, Engine, Finding
from faultline.vocabulary import Clock, SystemClock, feature_sensor
from faultline.ingest.metrics import IngestMetrics
from faultline.ingest.pipeline import Pipeline, build_writer, open_dead_letters, open_source, open_spool
from faultline.ingest.readings import Readings
from faultline.service.checkpoints import SharedCheckpoints
from faultline.service.leader import leadership_for
from faultline.service.readers import WAVEFORM, reader_for
from faultline.service.settings import (
    Settings,
    default_detectors_config,
    default_detectors_path,
    shipped_ticketing_config,
)
from faultline.service.state import ServiceDb
from faultline.service.tokens import TokenStore
from faultline.service.versions import DetectorVersions, current_version, log_fresh
from faultline.service.waveforms import waveform_features
from faultline.ticketing import (
    EscalationResponder,
    EscalationScheduler,
    FindingIn,
    FindingIntake,
    Lifecycle,
    OrderEvent,
    ServiceDesk,
    Status,
    TicketingConfig,
    WorkOrderStore,
)
from faultline.ticketing.attachments import Attachments, FolderBlobs
from faultline.ticketing.escalation import EscalationAction
from faultline.ticketing.report import report_pdf
from faultline.ticketing.s3 import S3Blobs
from faultline.ticketing.adapters import Dispatcher
from faultline.ticketing.responders import fired_steps

if TYPE_CHECKING:
    from faultline.ingest.broker import EmbeddedBroker
    from faultline.ingest.spool import Spool
    from faultline.ingest.writers.base import Writer

log = logging.getLogger(__name__)
DEADMAN_TICK_S = 60.0  # with no data arriving at all, ask the deadman this often

#: How often findings waiting in the intake queue are handed to the intake again.
INTAKE_RETRY_S = 5.0
LEADER_RETRY_S = 2.0  # a worker that does not lead asks for the leader lock this often
ORDER_REFRESH_S = 10.0  # the leader re-reads unfinished orders (changed by other workers) this often


# --- events ---------------------------------------------------------------------------------------


class EventBus:
    """Fan-out of live events to the asyncio subscribers (the SSE stream); ``publish`` is thread-safe.

    A subscriber that does not keep up loses its oldest events rather than slowing the service.
    """

    def __init__(self, queue_size: int = 1000):
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def listening(self) -> bool:
        """True while anyone is subscribed (events published now reach someone)."""
        return bool(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or not self._subscribers:
            return
        loop.call_soon_threadsafe(self._deliver, {"kind": kind, "data": data})

    def _deliver(self, event: dict[str, Any] | None) -> None:
        for q in list(self._subscribers):
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    def subscribe(self) -> asyncio.Queue:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(self.queue_size)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subscribers.discard(q)

    def close(self) -> None:
        """Tell every subscriber the stream ends (``None``)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, None)


# --- metrics --------------------------------------------------------------------------------------


class ServiceMetrics:
    """Every stage's counters on one registry: ingest's, and detection's and ticketing's here."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.ingest = IngestMetrics(r)
        self.detector_batches = Counter("faultline_detector_batches", "Batches the detectors processed", registry=r)
        self.detector_readings = Counter("faultline_detector_readings", "Readings the detectors scored", registry=r)
        self.detector_rejected = Counter(
            "faultline_detector_rejected",
            "Readings the detectors did not score because their value is not finite",
            registry=r,
        )
        self.detector_seconds = Histogram(
            "faultline_detector_seconds",
            "Detector time per batch",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        self.findings = Counter("faultline_findings", "Findings by status", ["status", "shadow"], registry=r)
        self.orders = Counter("faultline_work_order_events", "Work-order changes by action", ["action"], registry=r)
        self.escalations = Counter("faultline_escalations", "Escalation steps fired", registry=r)
        self.intake_failures = Counter("faultline_intake_failures", "Findings the intake could not record", registry=r)
        self.intake_pending = Gauge(
            "faultline_intake_pending", "Findings waiting to be retried into a work order", registry=r
        )
        self.notifications = Counter(
            "faultline_notifications",
            "Notification delivery attempts by receiver and outcome (delivered, retry, dead)",
            ["channel", "outcome"],
            registry=r,
        )
        self.detect_queue = Gauge("faultline_detector_queue", "Batches waiting for the detectors", registry=r)
        self.leader = Gauge(
            "faultline_leader",
            "1 while this worker runs escalation and the notification "
            "dispatcher (one worker of those sharing a work-order store does)",
            registry=r,
        )
        self.config_reloads = Counter(
            "faultline_config_reloads",
            "Hot reloads of the detectors section by outcome (applied, unchanged, rejected)",
            ["outcome"],
            registry=r,
        )
        self.streams = Gauge(
            "faultline_streams", "Streams (asset and sensor) that sent a reading since the start", registry=r
        )
        self.anomaly_score = Gauge(
            "faultline_anomaly_score",
            "Largest combined detector score of the asset's latest batch (1.0 = a check's alarm level)",
            ["asset"],
            registry=r,
        )


# --- detection ------------------------------------------------------------------------------------


def finding_in(f: Finding, site: str) -> FindingIn:
    """The detectors' finding as ticketing's intake takes it, filed under ticketing's ``site``."""
    return FindingIn(
        site=site,
        asset=f.asset,
        sensor=f.sensor,
        fault_mode=f.fault_mode,
        severity=f.severity,
        score=float(f.score),
        started_at=f.started_at,
        ended_at=f.ended_at,
        detector=f.detector,
        detector_version=f.detector_version,
        rule=f.rule,
        config_version=f.config_version,
        thresholds=f.thresholds,
        evidence=f.evidence,
        kind=f.kind,
    )


def finding_from_record(record: dict[str, Any]) -> FindingIn:
    """A stored finding (``Finding.as_record`` with its ticketing site) as the intake takes it, for a retry."""
    ended = record.get("ended_at")
    return FindingIn(
        site=record["site"],
        asset=record["asset"],
        sensor=record["sensor"],
        fault_mode=record["fault_mode"],
        severity=record["severity"],
        score=float(record["score"]),
        started_at=datetime.fromisoformat(record["started_at"]),
        ended_at=datetime.fromisoformat(ended) if ended else None,
        detector=record["detector"],
        detector_version=record["detector_version"],
        rule=record["rule"],
        config_version=record["config_version"],
        thresholds=record.get("thresholds") or {},
        evidence=record.get("evidence") or {},
    )


def readings_arrays(
    engine: Engine, readings: Readings, sites: dict[str, str], measurement: str = "telemetry"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``readings`` the detectors take, as the engine's arrays, sorted by time.

    Rows of series without asset and sensor tags and raw waveform samples are left out; non-finite
    values are kept for the engine to reject (and the caller to count: ingest dead-letters them, so
    one here is a bug worth seeing). Waveform features become ``<sensor>.<feature>``.
    Newly seen streams are registered with ``engine``; ``sites`` learns each asset's site tag.

    Returns
    -------
    stream : ndarray of int64, shape (m,)
        Engine stream ids.
    ts : ndarray of int64, shape (m,)
        Nanoseconds since the epoch, ascending.
    value : ndarray of float64, shape (m,)
    """
    ids = np.full(len(readings.series), -1, dtype=np.int64)
    for i, key in enumerate(readings.series):
        asset, sensor = key.tag("asset"), key.tag("sensor")
        if not asset or not sensor:
            continue
        if key.measurement == WAVEFORM:
            sensor = feature_sensor(sensor, key.field)
        elif key.measurement != measurement:
            continue
        ids[i] = engine.stream_id(asset, sensor)
        site = key.tag("site")
        if site:
            sites.setdefault(asset, site)
    stream = ids[readings.index]
    keep = stream >= 0
    s, t, v = stream[keep], readings.ts[keep], readings.value[keep]
    order = np.argsort(t, kind="stable")
    return s[order], t[order], v[order]


@dataclass
class Latest:
    """The newest reading of one (asset, sensor)."""

    site: str | None
    ts_ns: int
    value: float


class Detection:
    """The live engine and, optionally, a shadow engine; findings go to the state file and the intake."""

    def __init__(self, runtime: "Runtime", engine: Engine):
        self.rt = runtime
        self.engine = engine
        self.shadow: Engine | None = None
        self.shadow_version: int | None = None
        self.lock = threading.RLock()
        self.latest: dict[tuple[str, str], Latest] = {}
        self.active: dict[tuple[str, str, str], dict[str, Any]] = {}  # open alerts by (asset, sensor, rule)
        self.sites: dict[str, str] = {}
        self.dirty = False
        self.last_data_ns = 0

    def handle(self, readings: Readings) -> list[Finding]:
        """Score one written batch with the live (and shadow) engine; returns the live findings."""
        started = time.monotonic()
        with self.lock:
            s, t, v = readings_arrays(self.engine, readings, self.sites, self.rt.settings.store.measurement)
            if not len(s):
                return []
            now_ns = _ns(self.rt.clock.now())  # silence is judged per stream against the wall clock
            result = self.engine.process(s, t, v, now_ns=now_ns)
            peaks = self._peak_scores(s, result.score)
            self.last_data_ns = max(self.last_data_ns, int(t[-1]))
            findings = result.findings
            rejected = len(result.rejected)
            if rejected:
                first_bad = self.engine.stream(int(s[result.rejected[0]]))
                finite = np.isfinite(v)
                s, t, v = s[finite], t[finite], v[finite]
            seen = self._remember_latest(s, t, v)
            # an event per stream costs more than scoring it: only when the event stream has listeners
            fresh = (
                [
                    {"asset": a, "sensor": sn, "site": x.site, "ts": _iso_ns(x.ts_ns), "value": x.value}
                    for a, sn in seen
                    for x in (self.latest[(a, sn)],)
                ]
                if self.rt.bus.listening
                else []
            )
            shadow_findings: list[Finding] = []
            if self.shadow is not None:
                ss, st, sv = readings_arrays(self.shadow, readings, self.sites, self.rt.settings.store.measurement)
                shadow_findings = self.shadow.process(ss, st, sv, now_ns=now_ns).findings
            self.dirty = True
        metrics = self.rt.metrics
        metrics.detector_batches.inc()
        metrics.detector_readings.inc(len(s))
        metrics.streams.set(len(self.latest))
        for asset, peak in peaks.items():
            metrics.anomaly_score.labels(asset).set(peak)
        if rejected:
            metrics.detector_rejected.inc(rejected)
            log.warning(
                "%d readings were not scored because their value is not finite (first: %s %s)", rejected, *first_bad
            )
        self._record_all(findings, shadow_findings)
        metrics.detector_seconds.observe(time.monotonic() - started)
        if fresh:
            self.rt.bus.publish("readings", {"readings": fresh})
        return findings

    def _record_all(self, findings: list[Finding], shadow_findings: list[Finding]) -> None:
        """Record live and shadow findings; save the detector state when there were any."""
        for f in findings:
            self._record(f)
        for f in shadow_findings:
            self._record_shadow(f)
        if findings or shadow_findings:
            self.rt.save_soon()

    def tick(self) -> list[Finding]:
        """Ask the deadman at the wall clock with no data in hand: a plant gone silent as a whole."""
        now_ns = _ns(self.rt.clock.now())
        with self.lock:
            findings = self.engine.silent(now_ns, live=True)
            shadow_findings = self.shadow.silent(now_ns, live=True) if self.shadow is not None else []
        self._record_all(findings, shadow_findings)
        return findings

    def _peak_scores(self, s: np.ndarray, score: np.ndarray) -> dict[str, float]:
        """The largest combined score per asset in this batch (NaN, a reading not scored, counts as 0)."""
        order = np.argsort(s, kind="stable")
        streams, scores = s[order], np.nan_to_num(score[order], nan=0.0)
        starts = np.flatnonzero(np.r_[True, streams[1:] != streams[:-1]])
        peaks: dict[str, float] = {}
        for sid, peak in zip(streams[starts].tolist(), np.maximum.reduceat(scores, starts).tolist()):
            asset = self.engine.stream(sid)[0]
            peaks[asset] = max(peaks.get(asset, 0.0), peak)
        return peaks

    def _remember_latest(self, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> list[tuple[str, str]]:
        """Keep the last row of each stream of this time-sorted batch; returns the streams' (asset, sensor)."""
        uniq, first = np.unique(s[::-1], return_index=True)
        last = len(s) - 1 - first
        seen = []
        for sid, i in zip(uniq.tolist(), last.tolist()):
            asset, sensor = self.engine.stream(sid)
            latest = Latest(self.sites.get(asset), int(t[i]), float(v[i]))
            old = self.latest.get((asset, sensor))
            if old is None or old.ts_ns <= latest.ts_ns:
                self.latest[(asset, sensor)] = latest
            seen.append((asset, sensor))
        return seen

    def acknowledge(self, asset: str, fault_mode: str | None = None) -> int:
        """Acknowledge the live (and shadow) alerts of ``asset``: latched ones may clear now (by the
        rule's hysteresis and flap suppression). Called when an order is resolved or closed, and by the API."""
        with self.lock:
            done = self.engine.acknowledge(asset, fault_mode)
            if self.shadow is not None:
                self.shadow.acknowledge(asset, fault_mode)
            self.dirty = True
        return done

    def site_of(self, asset: str) -> str:
        return self.engine.config.asset(asset).site or self.sites.get(asset) or "default"

    def _record(self, f: Finding) -> None:
        rt = self.rt
        rt.metrics.findings.labels(f.status, "no").inc()
        key = (f.asset, f.sensor, f.rule)
        record = f.as_record()
        record["site"] = f.site or self.site_of(f.asset)
        with self.lock:
            if f.status == "closed":
                self.active.pop(key, None)
            else:
                self.active[key] = record
        record["site"] = rt.ticketing_site(record["site"])
        order_id = None
        pending = False
        if f.status in ("opened", "escalated"):
            if rt.db.intake_pending_count(record["site"], f.asset, f.fault_mode):
                pending = True  # older findings of this order wait for the intake: queue behind them
            else:
                try:
                    order_id = rt.intake.receive(finding_in(f, record["site"])).order.id
                    rt.intake_ok()
                except Exception as exc:  # noqa: BLE001 - a finding the intake refused is kept, counted and retried
                    pending = True
                    rt.intake_failed(f"{f.asset}/{f.sensor} {f.fault_mode}", exc)
        fid = rt.db.add_finding(record, rt.clock.now(), order_id=order_id, intake_pending=pending)
        if pending:
            rt.metrics.intake_pending.set(rt.db.intake_pending_count())
        rt.bus.publish("finding", {"id": fid, "order_id": order_id, **record})

    def _record_shadow(self, f: Finding) -> None:
        rt = self.rt
        rt.metrics.findings.labels(f.status, "yes").inc()
        record = f.as_record()
        record["site"] = f.site or self.site_of(f.asset)
        if f.status in ("opened", "escalated"):
            current = rt.orders.find_open(record["site"], f.asset, f.fault_mode)
            record["would"] = "add evidence to " + current.number if current is not None else "open a work order"
        else:
            record["would"] = "nothing (alert closed)"
        fid = rt.db.add_finding(record, rt.clock.now(), shadow=True)
        rt.bus.publish("shadow_finding", {"id": fid, **record})


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1e6) * 1000


def _iso_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


# --- the runtime ----------------------------------------------------------------------------------


class Runtime:
    """Everything a ``faultline run`` holds, opened from the settings.

    Parameters
    ----------
    settings : Settings
    clock : where "now" comes from for work orders, findings and tokens
    embedded_broker : start an in-process MQTT broker when none answers at ``mqtt.url``
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        embedded_broker: bool = False,
        config_path: Path | None = None,
    ):
        self.settings = settings
        self.config_path = config_path  # the file `faultline run` read: hot reload reads it again
        self.clock = clock or SystemClock()
        self.embedded_broker = embedded_broker
        self.metrics = ServiceMetrics()
        self.bus = EventBus()
        self.ticketing: TicketingConfig = settings.ticketing or shipped_ticketing_config()
        if settings.ticketing is None:
            from faultline.ticketing.config import default_config_path

            log.info(
                "ticketing: no ticketing: section in the configuration; the shipped sample %s is in force",
                default_config_path(),
            )
        self._unknown_sites: set[str] = set()
        self._intake_error: str | None = None
        self.db = ServiceDb(settings.service.state_path)
        # detector state: in the worker's own file, or where a worker taking over its shard finds it
        self.checkpoints: ServiceDb | SharedCheckpoints = self.db
        if settings.service.state_url is not None:
            self.checkpoints = SharedCheckpoints(settings.service.state_url, settings.service.shard)
        self.tokens = TokenStore(self.db, self.clock)
        self.orders = WorkOrderStore(self.ticketing.store_url)
        self.desk = ServiceDesk(self.orders, Lifecycle.from_config(self.ticketing, self.clock), self._on_order_event)
        folder = settings.attachments.path or Path(settings.service.state_path).parent / "attachments"
        s3 = settings.attachments.s3
        blobs = FolderBlobs(folder) if s3 is None else S3Blobs.from_settings(s3, Path(folder) / ".incoming")
        self.attachments = Attachments(self.desk, blobs, settings.attachments)
        self.intake = FindingIntake.from_config(self.ticketing, self.orders, self.clock, notify=self._on_order_event)
        self.reader = reader_for(settings.store)
        self.dead_letters = open_dead_letters(settings.ingest)
        self.detection = Detection(self, self._open_engine())
        # bearing-defect ratios need the asset's bearing and speed: from the configuration in force
        self.waveform_features = waveform_features(lambda: self.detection.engine.config)
        self._sched_lock = threading.RLock()  # an escalation changes an order, which re-tracks it
        self.scheduler = EscalationScheduler(self.clock, self._escalate)
        self.responder = EscalationResponder(self.desk, self.ticketing)
        with self._sched_lock:
            for order in self.orders.orders():
                self._track(order)
        self.dispatcher = Dispatcher(
            self.orders,
            self.ticketing,
            self.clock,
            on_outcome=lambda channel, outcome: self.metrics.notifications.labels(channel, outcome).inc(),
            report=lambda order: (
                f"{order.number}-service-report.pdf",
                report_pdf(order, self.attachments.thumbnail_of),
            ),
        )
        self._dispatch_wake = threading.Event()
        self.leadership = leadership_for(self.ticketing.store_url, settings.service.state_path)
        self._leading = False
        self._refreshed_at = float("-inf")
        self.versions = DetectorVersions(self.db, self.detection, self.clock, lambda force: self.save_state(force))
        self.versions.restore_shadow()
        self.pipeline: Pipeline | None = None
        self.broker: EmbeddedBroker | None = None
        self._metrics_server = None
        self._spool: Spool | None = None
        self._writer: Writer | None = None
        self._queue: queue.Queue[Readings | None] = queue.Queue(maxsize=64)
        self._threads: list[threading.Thread] = []
        self._background: list[tuple[str, Callable[[threading.Event], None]]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._save_lock = threading.Lock()
        self._save_wake = threading.Event()
        self.started_at = self.clock.now()

    # --- configuration versions and engines ---------------------------------------------------
    def _open_engine(self) -> Engine:
        file_config, source = self.settings.detectors, "the configuration file"
        if file_config is None:
            file_config, source = default_detectors_config(), f"the shipped sample {default_detectors_path()}"
            log.info("detectors: no detectors: section in the configuration; using %s", source)
        digest = file_config.digest()
        versions = self.db.versions()
        applied = [v for v in versions if v["status"] == "applied"]
        known_file = self.db.load_state("config_file")
        if not applied or (known_file or {}).get("digest") != digest:
            # first start, or the file changed since the last start: the file's configuration applies
            if not applied or applied[-1]["digest"] != digest:
                for v in applied:
                    self.db.set_version_status(v["number"], "superseded")
                self.db.add_version(
                    file_config.model_dump(mode="json", by_alias=True),
                    digest,
                    "applied",
                    self.clock.now(),
                    note=f"from {source}",
                    author="config file",
                )
            self.db.save_state("config_file", {"digest": digest}, self.clock.now())
        current = current_version(self.db)
        config = DetectorsConfig.model_validate(current["config"])
        label = f"v{current['number']}"
        log.info(
            "detector configuration in force: v%d (%s), %d checks in %d asset classes",
            current["number"],
            current.get("note") or "applied through the API",
            sum(len(c.checks) for c in config.classes.values()),
            len(config.classes),
        )
        if not any(c.checks for c in config.classes.values()):
            log.warning(
                "the detector configuration has no checks: readings are stored but nothing is detected "
                "(add a detectors: section, e.g. from config/detectors.yaml)"
            )
        saved = self.checkpoints.load_state("live")
        if saved is not None:
            try:
                engine = Engine.from_dict(config, saved, label)
                log.info("detector state restored (%d streams)", len(saved.get("streams", [])))
                log_fresh(engine)
                return engine
            except Exception:  # noqa: BLE001 - a state file from an incompatible version: start afresh, loudly
                log.exception("could not restore the saved detector state; starting the detectors afresh")
        return Engine(config, label)

    def save_state(self, force: bool = False) -> None:
        """Save the engines' state (detector and alert arrays) when anything changed.

        The snapshot is taken under the detection lock; writing it (the slow part: about 0.15 s at
        10,000 streams) is not, so detection goes on meanwhile. One save at a time, in order."""
        with self._save_lock:
            with self.detection.lock:
                if not (self.detection.dirty or force):
                    return
                live = self.detection.engine.to_dict()
                shadow = (
                    None
                    if self.detection.shadow is None
                    else {"version": self.detection.shadow_version, "engine": self.detection.shadow.to_dict()}
                )
                self.detection.dirty = False
            now = self.clock.now()
            self.checkpoints.save_state("live", live, now)  # where a worker taking over the shard finds it
            if shadow is not None:
                self.db.save_state("shadow", shadow, now)

    def save_soon(self) -> None:
        """Have the saver thread save the state now (findings were produced); at once when it is not running."""
        if self._threads:
            self._save_wake.set()
        else:
            self.save_state()

    # --- work orders ---------------------------------------------------------------------------
    def _track(self, order) -> None:
        """Keep the escalation scheduler's view of ``order`` current (dropped once resolved or closed)."""
        if order.status in (Status.RESOLVED, Status.CLOSED):
            self.scheduler.forget(order.id)
            return
        policy = self.ticketing.policy_for(order.priority, order.service_type, order.site)
        # the steps fired so far are on the order (its escalation records); an escalation's own
        # record arrives here before the scheduler has marked the step fired
        self.scheduler.track(
            order.id, order, self.ticketing.escalation_clock(order.site, policy), fired=fired_steps(order)
        )

    def on_order_event(self, event: OrderEvent) -> None:
        """Tell the escalation tracker, detection, notifications and the event stream of a saved change."""
        self._on_order_event(event)

    def add_background(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        """A loop `start` runs in its own thread with the stop event (the composition root adds them)."""
        self._background.append((name, loop))

    def _on_order_event(self, event: OrderEvent) -> None:
        order = event.order
        self.metrics.orders.labels(event.action).inc()
        with self._sched_lock:
            self._track(order)
        if order.status in (Status.RESOLVED, Status.CLOSED):
            self.detection.acknowledge(order.asset, order.fault_mode)
        self._wake.set()
        self._dispatch_wake.set()
        self.bus.publish(
            "work_order",
            {
                "action": event.action,
                "actor": event.actor,
                "at": event.at.isoformat(),
                "id": order.id,
                "number": order.number,
                "status": order.status.value,
                "priority": order.priority,
                "site": order.site,
                "asset": order.asset,
                "fault_mode": order.fault_mode,
            },
        )

    def _escalate(self, order_id: Hashable, action: EscalationAction) -> None:
        assert isinstance(order_id, int)  # the scheduler tracks stored orders by their ids
        self.responder(order_id, action)
        self.metrics.escalations.inc()

    # --- the intake: sites, failures and the retry queue ------------------------------------------
    def ticketing_site(self, site: str) -> str:
        """The ticketing site a finding of ``site`` is filed under: itself when configured, else the
        configured ``default_site`` (logged once per site), else unchanged (the intake will refuse it)."""
        if site in self.ticketing.sites:
            return site
        default = self.ticketing.default_site
        if site not in self._unknown_sites:
            self._unknown_sites.add(site)
            if default is not None:
                log.warning(
                    "site %r is not in the ticketing configuration: its work orders go to default_site %r",
                    site,
                    default,
                )
            else:
                log.error(
                    "site %r is not in the ticketing configuration (sites: %s) and no default_site is set: "
                    "its findings wait in the intake queue until it is added",
                    site,
                    ", ".join(sorted(self.ticketing.sites)),
                )
        return default if default is not None else site

    def intake_failed(self, what: str, exc: Exception) -> None:
        self.metrics.intake_failures.inc()
        message = f"{type(exc).__name__}: {exc}"
        if message != self._intake_error:  # once per distinct cause, not once per finding
            log.error("could not turn finding %s into a work order (%s); it waits in the intake queue", what, message)
        self._intake_error = message

    def intake_ok(self) -> None:
        self._intake_error = None

    def retry_intake(self, limit: int = 100) -> int:
        """Hand the waiting findings to the intake again, oldest first. A finding that still fails holds
        back the later ones of its (site, asset, fault mode), so an order takes its findings in order;
        the others go on. Returns how many went through."""
        done = 0
        refused: set[tuple[str, str, str]] = set()
        with self.detection.lock:  # a finding recorded meanwhile must queue behind these
            for item in self.db.intake_pending(limit):
                record = item["record"]
                key = (record.get("site") or "default", record["asset"], record["fault_mode"])
                if key in refused:
                    continue
                stored_site = key[0]
                record["site"] = self.ticketing_site(stored_site)
                try:
                    order_id = self.intake.receive(finding_from_record(record)).order.id
                except Exception as exc:  # noqa: BLE001 - still refused: keep it, count it, try later
                    self.intake_failed(f"{record['asset']}/{record['sensor']} {record['fault_mode']}", exc)
                    refused.add(key)
                    continue
                assert order_id is not None  # the intake returns stored orders
                self.db.intake_done(item["id"], order_id)
                done += 1
            pending = self.db.intake_pending_count()
        if done and not pending:
            self.intake_ok()
            log.info("intake queue drained (%d findings recorded on work orders)", done)
        self.metrics.intake_pending.set(pending)
        return done

    def reload_catalogue(self, catalogue: dict[str, Any], actor: str) -> TicketingConfig:
        """Put a new service catalogue in force without a restart: ``catalogue`` holds ``policies``
        (and may hold ``escalation``, the default chain). It is validated with the rest of the ticketing
        section first; an invalid one raises ``ValueError`` naming the problem and changes nothing.
        The change is audited (``catalogue_reloaded``), and every open order is tracked again under it;
        orders keep the deadlines they have until their next change."""
        from pydantic import ValidationError

        unknown = sorted(set(catalogue) - {"policies", "escalation"})
        if unknown or "policies" not in catalogue:
            raise ValueError(
                f"a catalogue has policies (and escalation); got {', '.join(sorted(catalogue)) or 'nothing'}"
            )
        try:
            new = TicketingConfig.model_validate({**self.ticketing.model_dump(mode="json"), **catalogue})
        except ValidationError as exc:
            raise ValueError(f"the catalogue does not validate: {exc}") from None
        self.orders.record(
            actor=actor,
            at=self.clock.now(),
            action="catalogue_reloaded",
            change={"set": {k: new.model_dump(mode="json")[k] for k in catalogue}},
        )
        with self._sched_lock:
            self.ticketing = new
            self.desk.lifecycle = Lifecycle.from_config(new, self.clock)
            self.intake = FindingIntake.from_config(new, self.orders, self.clock, notify=self._on_order_event)
            self.responder = EscalationResponder(self.desk, new)
            for order in self.orders.orders():
                self._track(order)
        log.info("service catalogue reloaded by %s: %s", actor, ", ".join(new.policies))
        return new

    def reload_catalogue_file(self, path) -> None:
        """SIGHUP: read the configuration file again and put its catalogue in force (logged, never raised:
        an invalid file leaves the catalogue in force as it was)."""
        from faultline.service.settings import load_settings

        try:
            section = load_settings(path).ticketing
            if section is None:
                log.info("SIGHUP: %s has no ticketing: section; the service catalogue in force stays", path)
                return
            catalogue = {k: section.model_dump(mode="json")[k] for k in ("policies", "escalation")}
            if catalogue == {k: self.ticketing.model_dump(mode="json")[k] for k in catalogue}:
                log.info("SIGHUP: the service catalogue of %s is the one in force; nothing to reload", path)
                return
            self.reload_catalogue(catalogue, "SIGHUP")
        except Exception as exc:  # noqa: BLE001 - a bad edit must not stop the service
            log.error("catalogue not reloaded from %s (the one in force stays): %s", path, exc)

    # --- threads -------------------------------------------------------------------------------
    def feed(self, readings: Readings) -> None:
        """Hand a written batch to the detect thread (blocks while it is 64 batches behind)."""
        self._queue.put(readings)
        self.metrics.detect_queue.set(self._queue.qsize())

    def _detect_loop(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=DEADMAN_TICK_S)
            except queue.Empty:  # no data at all for a while: the deadman still asks the clock
                try:
                    self.detection.tick()
                except Exception:
                    log.exception("deadman tick failed")
                continue
            self.metrics.detect_queue.set(self._queue.qsize())
            if batch is None:
                return
            try:
                self.detection.handle(batch)
            except Exception:  # noqa: BLE001 - one bad batch must not stop detection
                log.exception("detectors failed on a batch of %d readings", len(batch))

    def _save_loop(self) -> None:
        """Save the detector state every ``service.save_state_every_s`` and whenever findings ask for it."""
        while not self._stop.is_set():
            self._save_wake.wait(self.settings.service.save_state_every_s)
            self._save_wake.clear()
            try:
                self.save_state()
            except Exception:  # noqa: BLE001 - the state file may be briefly busy; the next save catches up
                log.exception("saving the detector state failed; trying again at the next save")

    def leads(self) -> bool:
        """Whether this worker runs escalation and notifications now (see `service.leader`). On
        becoming leader it takes over every unfinished order of the store, whoever opened it."""
        held = self.leadership.held()
        if held != self._leading:
            self._leading = held
            self.metrics.leader.set(1 if held else 0)
            if held:
                self._refresh_orders(force=True)
        return held

    def _refresh_orders(self, force: bool = False) -> None:
        """Re-read the unfinished orders from the store: other workers open, acknowledge and resolve
        orders too, and a step must be judged on the order as it is now. Every ORDER_REFRESH_S, and
        whenever a step falls due."""
        due = self.scheduler.next_due()
        if not (
            force
            or time.monotonic() - self._refreshed_at >= ORDER_REFRESH_S
            or (due is not None and due <= self.clock.now())
        ):
            return
        with self._sched_lock:
            for order in self.orders.orders(closed_after=self.clock.now()):
                self._track(order)
        self._refreshed_at = time.monotonic()

    def _escalation_loop(self) -> None:
        retried_at = 0.0
        while not self._stop.is_set():
            wait = 30.0
            try:
                if self.leads():
                    self._refresh_orders()
                    with self._sched_lock:
                        fired = self.scheduler.tick()
                        wait = self.scheduler.sleep_seconds(30.0)
                    if fired:
                        log.info("fired %d escalation steps", len(fired))
                else:
                    wait = LEADER_RETRY_S
            except Exception:  # noqa: BLE001
                log.exception("escalation tick failed")
                wait = 5.0
            if time.monotonic() - retried_at >= INTAKE_RETRY_S:
                retried_at = time.monotonic()
                try:
                    self.retry_intake()
                except Exception:  # noqa: BLE001
                    log.exception("intake retry failed")
            self._wake.wait(max(min(wait, INTAKE_RETRY_S), 0.05))
            self._wake.clear()

    def _dispatch_loop(self) -> None:
        """Deliver the notification outbox: after every order change, and when a retry falls due."""
        while not self._stop.is_set():
            wait = 5.0
            try:
                if not self._leading:  # the leader dispatches; the escalation loop asks for leadership
                    self._dispatch_wake.wait(LEADER_RETRY_S)
                    self._dispatch_wake.clear()
                    continue
                self.dispatcher.run_once()
                due = self.dispatcher.next_due()
                if due is not None:
                    wait = min(wait, max(0.0, (due - self.clock.now()).total_seconds()))
            except Exception:  # noqa: BLE001 - the store may be briefly busy; the outbox keeps everything
                log.exception("notification dispatch failed; trying again shortly")
            self._dispatch_wake.wait(max(wait, 0.05))
            self._dispatch_wake.clear()

    def nudge(self) -> None:
        """Look at escalations, the intake queue and the notification outbox now (after a clock moved)."""
        self._wake.set()
        self._dispatch_wake.set()

    def start(self, ingest: bool = True) -> "Runtime":
        """Start the detect, escalation and notification threads and, with ``ingest``, the MQTT pipeline."""
        # the outbox runs even with no receiver configured, so its cursor keeps up with the log and a
        # receiver added later hears of what follows, not of months of old changes
        self.dispatcher.begin()
        loops = [
            ("detect", self._detect_loop),
            ("escalation", self._escalation_loop),
            ("notifications", self._dispatch_loop),
            ("save-state", self._save_loop),
        ]
        loops += [(name, functools.partial(loop, self._stop)) for name, loop in self._background]
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if ingest:
            self._start_ingest()
        return self

    def _start_ingest(self) -> None:
        from faultline.ingest.broker import EmbeddedBroker, broker_answers

        s = self.settings
        mqtt = s.mqtt
        if self.embedded_broker and not broker_answers(mqtt.host, mqtt.port):
            self.broker = EmbeddedBroker(mqtt.host, mqtt.port).start()
            mqtt = mqtt.model_copy(update={"protocol": "3.1.1"})
        self._spool = open_spool(s.spool)
        self._writer = build_writer(s.store)
        source = open_source(mqtt, self.metrics.ingest)
        self.decoder = self.new_decoder(mqtt, publish=source.publish)
        self.source = source
        self.pipeline = Pipeline.configured(
            source,
            self.decoder,
            self._spool,
            self._writer,
            self.dead_letters,
            self.metrics.ingest,
            s.store,
            s.spool,
            on_written=self.feed,
        )
        self.pipeline.start()
        # the metrics section's own port keeps working for scrapers set up for `faultline ingest`
        self._metrics_server = self.metrics.ingest.serve(s.metrics.host, s.metrics.port)
        log.info("ingesting %s from %s into %s", ", ".join(mqtt.topic_filters()), mqtt.url, s.store.kind)

    def new_decoder(self, mqtt=None, publish=None):
        """Ingest's decoder for these settings; waveform blocks get the bearing-defect ratios of their asset;
        ``publish`` lets the Sparkplug B codec request rebirths on the broker connection."""
        from faultline.ingest.pipeline import build_decoder

        return build_decoder(
            mqtt or self.settings.mqtt,
            self.settings.store,
            self.settings.ingest,
            self.waveform_features,
            publish=publish,
        )

    def replay_dead_letter(self, record) -> tuple[bool, str]:
        """Decode a stored payload again; on success its readings go to the spool (then store, detectors)."""
        if record.stage != "decode":
            return False, "only decode-stage dead letters can be replayed (write-stage ones hold refused points)"
        decoder = getattr(self, "decoder", None)
        if decoder is None:
            decoder = self.decoder = self.new_decoder()
        readings, rejected = decoder.decode_many([(record.topic, record.payload, record.received_at)])
        if rejected:
            return False, rejected[0].reason
        if self.pipeline is not None:
            self.pipeline._append(readings)
        else:
            from faultline.ingest.pipeline import build_writer

            writer = build_writer(self.settings.store)
            try:
                writer.write(readings)
            finally:
                writer.close()
            if self._threads:
                self.feed(readings)
            else:
                self.detection.handle(readings)
        self.dead_letters.delete([record.id])
        return True, f"{len(readings)} readings"

    def ready(self) -> dict[str, bool]:
        """What /readyz reports: broker connected (when ingesting), store reachable, work-order DB open."""
        checks = {
            "store": self.reader.ping(),
            "work_orders": self._orders_ok(),
            "intake": self.db.intake_pending_count() == 0,
        }
        if self.pipeline is not None:
            checks["broker"] = self.source.connected.is_set()
            checks["writer"] = self.pipeline.writer_failure is None
            checks["ingest_stages"] = self.pipeline.healthy  # no stage failing with an unexpected error
        return checks

    def _orders_ok(self) -> bool:
        try:
            self.orders.find_open("-", "-", "-")
            return True
        except Exception:  # noqa: BLE001
            return False

    def stop(self) -> None:
        """Stop ingest (flushing what is spooled), drain detection, save state, close everything."""
        self._stop.set()
        self.nudge()
        self._save_wake.set()
        if self.pipeline is not None:
            self.pipeline.stop(self.settings.ingest.flush_timeout_s)
        if self._threads:
            self._queue.put(None)
            for thread in self._threads:
                thread.join(30)
        self.save_state(force=True)
        self.bus.close()

    def close(self) -> None:
        for thing in (self._writer, self._spool, self.reader, self.dead_letters):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001
                    log.warning("closing %s failed", type(thing).__name__, exc_info=True)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        if self.broker is not None:
            self.broker.stop()
        self.dispatcher.close()
        self.leadership.close()
        if self.checkpoints is not self.db:
            self.checkpoints.close()
        self.orders.close()
        self.db.close()


async def serve(
    runtime: Runtime, app, host: str, port: int, stop: asyncio.Event, on_listening: Callable[[str], None] | None = None
) -> None:
    """Serve ``app`` with uvicorn on this loop until ``stop`` is set, then stop the runtime."""
    import contextlib
    import socket

    import uvicorn

    runtime.bus.bind(asyncio.get_running_loop())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=3, limit_concurrency=200
    )
    server = uvicorn.Server(config)
    # our own handlers decide when to stop; uvicorn has no option for it but replacing the method
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        await task
        return
    if on_listening:
        on_listening(f"http://{host}:{sock.getsockname()[1]}")
    await stop.wait()
    runtime.bus.close()
    server.should_exit = True
    await task
    await asyncio.to_thread(runtime.stop)


__all__ = ["Detection", "EventBus", "Runtime", "ServiceMetrics", "finding_in", "readings_arrays", "serve"]
