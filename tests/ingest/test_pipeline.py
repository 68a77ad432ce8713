"""The pipeline's rules, with a scripted source and writer (the real ones are covered by the e2e tests)."""

import threading
import time

import numpy as np
import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.deadletter import DeadLetterStore
from faultline.ingest.metrics import IngestMetrics, reason_class
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.pipeline import Pipeline
from faultline.ingest.source import Delivery
from faultline.ingest.spool import Spool, encode_readings
from faultline.vocabulary import Backoff
from faultline.ingest.writers import FatalWriteError, RejectedLine, RetryableWriteError, WriteResult
from tests.ingest.publishing import wait_for


class ScriptedSource:
    """Hands out queued deliveries and records which were acknowledged."""

    def __init__(self):
        self.queue: list[Delivery] = []
        self.acked: list[Delivery] = []
        self.lock = threading.Lock()

    def add(self, payloads, topic="faultline/s1/pump1/bearing_temp"):
        n = len(self.acked) + len(self.queue)
        msgs = [(topic, p, 1763700000000 * 1_000_000) for p in payloads]
        with self.lock:
            self.queue.append(Delivery(msgs, [(n * 100 + i, 1) for i in range(len(msgs))], [0] * len(msgs)))

    def take(self, max_messages, timeout, linger=0.0):
        with self.lock:
            if self.queue:
                return self.queue.pop(0)
        time.sleep(timeout)
        return None

    def ack(self, delivery):
        self.acked.append(delivery)

    def start(self):
        pass

    def stop_taking(self):
        pass

    def stop(self):
        pass


class ScriptedWriter:
    """Fails as told, then stores what it is given."""

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.written = []

    def write(self, readings):
        if self.failures:
            raise self.failures.pop(0)
        self.written.append(readings)
        bad = (
            [
                RejectedLine(
                    b"telemetry,asset=pump1,sensor=bearing_temp,site=s1 value=666 1", "HTTP 400: field type conflict"
                )
            ]
            if any(readings.value == 666)
            else []
        )
        return WriteResult(len(readings) - len(bad), bad)

    def close(self):
        pass


def reading(i: int) -> bytes:
    return orjson.dumps({"ts": 1763700000000 + i, "value": i})


@pytest.fixture
def parts(tmp_path):
    spool = Spool(tmp_path / "spool", fsync=False)
    dead = DeadLetterStore(tmp_path / "dl.sqlite")
    yield spool, dead
    spool.close()
    dead.close()


def make(parts, writer, source=None, **kw):
    spool, dead = parts
    source = source or ScriptedSource()
    metrics = IngestMetrics()
    p = Pipeline(
        source,
        Decoder("faultline/{site}/{asset}/{sensor}"),
        spool,
        writer,
        dead,
        metrics,
        backoff=Backoff(0.01, 0.05, jitter=False),
        commit_wait_s=0.001,
        **kw,
    )
    return p, source, metrics


def value(metrics, name, labels=None):
    return metrics.registry.get_sample_value(name, labels or {}) or 0


def test_good_and_bad_messages_acked_bad_ones_dead_lettered(parts):
    writer = ScriptedWriter()
    p, source, metrics = make(parts, writer)
    source.add([reading(1), b"{oops", reading(2)])
    p.start()
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == 2, 5, "two readings written")
    assert p.stop(1.0)
    assert len(source.acked) == 1 and len(source.acked[0]) == 3
    assert [r.payload for r in parts[1].list()] == [b"{oops"]
    assert value(metrics, "faultline_dead_letters_total", {"stage": "decode", "reason": "not_json"}) == 1


def test_retryable_failures_are_retried_until_written(parts):
    writer = ScriptedWriter([RetryableWriteError("503", retry_after=0.01), RetryableWriteError("refused")])
    p, source, metrics = make(parts, writer)
    source.add([reading(i) for i in range(5)])
    p.start()
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == 5, 5, "written after retries")
    p.stop(1.0)
    assert value(metrics, "faultline_write_retries_total") == 2
    assert parts[0].pending_records == 0


def test_rejected_points_go_to_dead_letter_stage_write(parts):
    writer = ScriptedWriter()
    p, source, metrics = make(parts, writer)
    source.add([reading(1), reading(666)])
    p.start()
    wait_for(lambda: parts[1].count("write") == 1, 5, "write-stage dead letter")
    p.stop(1.0)
    assert parts[1].list()[0].reason == "HTTP 400: field type conflict"
    assert parts[1].list()[0].topic == "faultline/s1/pump1/bearing_temp"  # the topic its tags came from
    assert value(metrics, "faultline_readings_written_total") == 1


def test_fatal_write_error_stops_writing_but_spooling_and_acking_go_on(parts):
    writer = ScriptedWriter([FatalWriteError("HTTP 401", status=401)])
    p, source, metrics = make(parts, writer)
    source.add([reading(1)])
    p.start()
    wait_for(lambda: p.writer_failure is not None, 5, "writer to stop")
    source.add([reading(2), reading(3)])
    wait_for(lambda: len(source.acked) == 2, 5, "later messages spooled and acknowledged")
    assert not p.stop(0.5)
    assert writer.written == []
    assert parts[0].pending_records == 2  # kept for the next start
    assert value(metrics, "faultline_writer_stopped") == 1


def test_full_spool_holds_acks_back_until_the_writer_makes_room(tmp_path):
    one_record = (
        len(
            encode_readings(
                Decoder("faultline/{site}/{asset}/{sensor}").decode_many(
                    [("faultline/s1/pump1/bearing_temp", reading(1), 1763700000000 * 1_000_000)]
                )[0]
            )
        )
        + 8
    )
    spool = Spool(tmp_path / "spool", max_bytes=one_record * 4, segment_bytes=one_record, fsync=False)
    dead = DeadLetterStore(tmp_path / "dl.sqlite")
    gate = threading.Event()

    class GatedWriter(ScriptedWriter):
        def write(self, readings):
            gate.wait()
            return super().write(readings)

    writer = GatedWriter()
    p, source, metrics = make((spool, dead), writer)
    for i in range(6):
        source.add([reading(i)])
    p.start()
    wait_for(lambda: value(metrics, "faultline_spool_full_total") >= 1, 5, "spool to fill")
    acked_while_full = len(source.acked)
    time.sleep(0.2)
    assert len(source.acked) == acked_while_full < 6  # nothing acknowledged that is not spooled
    gate.set()
    wait_for(lambda: len(source.acked) == 6, 5, "every message acknowledged once there is room")
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == 6, 5, "all written")
    assert p.stop(1.0)
    spool.close()
    dead.close()


def test_shutdown_leaves_unwritten_readings_in_the_spool_for_next_start(parts):
    writer = ScriptedWriter([RetryableWriteError("down")] * 1000)
    p, source, metrics = make(parts, writer)
    source.add([reading(i) for i in range(3)])
    p.start()
    wait_for(lambda: len(source.acked) == 1, 5, "acknowledged once spooled")
    started = time.monotonic()
    assert not p.stop(0.3)
    assert time.monotonic() - started < 5
    spool = parts[0]
    spool.rewind()
    assert len(spool.read().readings) == 3


@pytest.mark.parametrize(
    "reason,label",
    [
        ("not JSON: unexpected character", "not_json"),
        ("payload is 5000 bytes, over the limit of 4096", "too_large"),
        ("topic 'a/b' has 2 segments, template 'x' has 4", "topic"),
        ('"ts" has 2 elements but "value" has 1', "length"),
        ("ts 1000 is 1970-01-01T00:00:01Z, before 2000-01-01T00:00:00Z", "timestamp"),
        ("\"value\" is string 'hot', expected a number", "type"),
        ("something new", "other"),
    ],
)
def test_reason_classes_are_bounded_labels(reason, label):
    assert reason_class(reason) == label


def test_on_written_sees_exactly_the_confirmed_batches_and_its_failure_does_not_stop_writing(parts):
    seen = []

    def consumer(readings):
        seen.append(readings.value.tolist())
        raise RuntimeError("a detector bug")

    writer = ScriptedWriter([RetryableWriteError("down")])
    p, source, metrics = make(parts, writer, on_written=consumer)
    source.add([reading(1), reading(2)])
    p.start()
    wait_for(lambda: seen, 5, "the written batch")
    source.add([reading(3)])
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == 3, 5, "writing went on")
    p.stop(1.0)
    assert [v for batch in seen for v in batch] == [1.0, 2.0, 3.0]


def test_writing_is_tried_again_after_a_fatal_error_and_resumes(parts):
    writer = ScriptedWriter([FatalWriteError("HTTP 401", status=401), FatalWriteError("HTTP 403", status=403)])
    p, source, metrics = make(parts, writer, fatal_retry_s=0.2)
    source.add([reading(1)])
    p.start()
    wait_for(lambda: p.writer_failure is not None, 5, "writer to stop")
    assert value(metrics, "faultline_writer_stopped") == 1
    source.add([reading(2)])
    # the 403 on the first retry stops writing again; the second retry finds the store fixed
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == 2, 5, "both written after the retries")
    assert value(metrics, "faultline_writer_stopped") == 0 and p.writer_failure is None
    assert p.stop(1.0)


# -- supervised stages: an unexpected error anywhere is retried, nothing is lost -------------------------


class FailsOnce:
    """Wraps ``target`` so that its method ``name`` raises ``error`` on call number ``at`` (once)."""

    def __init__(self, target, name, error, at=1):
        self._target, self._name, self._error, self._at, self.calls = target, name, error, at, 0

    def __getattr__(self, attr):
        value = getattr(self._target, attr)
        if attr != self._name:
            return value

        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self._at:
                raise self._error
            return value(*args, **kwargs)

        return wrapped


STAGE_FAULTS = {
    # stage, which part fails, and how
    "take": ("commit", "source", "take", RuntimeError("a source bug")),
    "dead-letter locked": ("commit", "dead", "add_many", __import__("sqlite3").OperationalError("database is locked")),
    "spool append": ("commit", "spool", "append", OSError(28, "No space left on device")),
    "ack": ("commit", "source", "ack", RuntimeError("socket gone")),
    "spool read": ("write", "spool", "read", OSError(5, "Input/output error")),
    "writer": ("write", "writer", "write", KeyError("a writer bug")),
    "confirm": ("write", "spool", "confirm", OSError(5, "Input/output error")),
    "write-stage dead letter": ("write", "dead", "add_many", __import__("sqlite3").OperationalError("locked")),
}


@pytest.mark.parametrize("fault", list(STAGE_FAULTS))
def test_an_unexpected_error_in_any_stage_is_counted_retried_and_loses_nothing(tmp_path, fault):
    stage, part, method, error = STAGE_FAULTS[fault]
    spool = Spool(tmp_path / "spool", fsync=False)
    dead = DeadLetterStore(tmp_path / "dl.sqlite")
    writer, source = ScriptedWriter(), ScriptedSource()
    parts = {"spool": spool, "dead": dead, "writer": writer, "source": source}
    # the write-stage dead letter fails on its first call: the delivery has one point the store refuses
    parts[part] = FailsOnce(parts[part], method, error)
    metrics = IngestMetrics()
    p = Pipeline(
        parts["source"],
        Decoder("faultline/{site}/{asset}/{sensor}"),
        parts["spool"],
        parts["writer"],
        parts["dead"],
        metrics,
        backoff=Backoff(0.01, 0.05, jitter=False),
        commit_wait_s=0.001,
    )
    source.add([reading(1), b"{oops" if stage == "commit" else reading(666), reading(2)])
    p.start()
    wait_for(lambda: value(metrics, "faultline_stage_failures_total", {"stage": stage}) == 1, 5, "the failure counted")
    source.add([reading(3)])  # the stream goes on
    wait_for(lambda: {1.0, 2.0, 3.0} <= {v for r in writer.written for v in r.value.tolist()}, 10, "all written")
    wait_for(lambda: p.healthy, 5, "the stage to be healthy again")
    assert p.stop(1.0)
    assert len(source.acked) == 2 and [len(d) for d in source.acked] == [3, 1]  # each delivery acked once
    # the bad message or refused point; a batch written again after its confirm failed is refused again
    assert dead.count() == (2 if fault == "confirm" else 1)
    assert value(metrics, "faultline_stage_failing", {"stage": stage}) == 0
    spool.close()
    dead.close()


def test_a_failing_stage_is_reported_until_it_works_again(parts):
    writer = ScriptedWriter()
    spool, dead = parts
    locked = FailsOnce(dead, "count", None, at=0)

    def add_many(*args):
        if not released.is_set():
            raise __import__("sqlite3").OperationalError("database is locked")
        return dead.add_many(*args)

    released = threading.Event()
    locked.add_many = add_many
    source = ScriptedSource()
    metrics = IngestMetrics()
    p = Pipeline(
        source,
        Decoder("faultline/{site}/{asset}/{sensor}"),
        spool,
        writer,
        locked,
        metrics,
        backoff=Backoff(0.01, 0.05, jitter=False),
        commit_wait_s=0.001,
    )
    source.add([reading(1), b"{oops"])
    p.start()
    wait_for(lambda: value(metrics, "faultline_stage_failures_total", {"stage": "commit"}) >= 2, 5, "retries")
    assert not p.healthy and "database is locked" in p.stage_failures["commit"]
    assert value(metrics, "faultline_stage_failing", {"stage": "commit"}) == 1
    assert source.acked == []  # the broker still holds the delivery
    released.set()
    wait_for(lambda: len(source.acked) == 1, 10, "the delivery committed once the store is free")
    wait_for(lambda: p.healthy, 5, "healthy again")
    assert p.stop(1.0)
    assert [r.payload for r in dead.list()] == [b"{oops"]


def test_a_delivery_larger_than_the_whole_spool_budget_is_split_not_livelocked(tmp_path):
    # two messages of 30,000 readings are one 1.2 MB spool record, over the 1 MiB budget: the delivery
    # was retried for ever (across restarts too) while the spool looked empty
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, fsync=False)
    dead = DeadLetterStore(tmp_path / "dl.sqlite")
    writer = ScriptedWriter()
    p, source, metrics = make((spool, dead), writer)
    n = 60_000
    source.add(
        [
            orjson.dumps(
                {"ts": list(range(1763700000000 + k, 1763700000000 + n, 2)), "value": [-v for v in range(k, n, 2)]}
            )
            for k in (0, 1)
        ]
    )  # ScriptedWriter refuses 666
    p.start()
    wait_for(lambda: value(metrics, "faultline_readings_written_total") == n, 20, "every reading written")
    assert p.stop(1.0)
    assert len(source.acked) == 1
    assert sorted(-v for r in writer.written for v in r.value.tolist()) == list(map(float, range(n)))
    assert dead.count() == 0
    spool.close()
    dead.close()


def test_the_drainer_stops_gathering_when_half_a_batch_waits_or_the_stream_pauses(parts):
    # write_linger_s of an hour: before, the drainer waited all of it after every small batch
    p, _, _ = make(parts, ScriptedWriter(), write_rows=40, write_linger_s=3600)
    spool, _ = parts
    quiet = threading.Thread(target=p._gather)
    quiet.start()
    quiet.join(30)
    assert not quiet.is_alive()  # nothing arrives: the stream paused, write what is there

    stop = threading.Event()

    def stream():  # a record every 5 ms: never quiet
        key = SeriesKey.of("telemetry", {"asset": "a"})
        while not stop.wait(0.005):
            spool.append(Readings.single_series(key, np.arange(1), np.arange(1.0)))
            p._spooled.set()

    feeder = threading.Thread(target=stream)
    feeder.start()
    gathering = threading.Thread(target=p._gather)
    gathering.start()
    gathering.join(30)
    stop.set()
    feeder.join()
    assert not gathering.is_alive() and spool.unread_bytes >= 20 * 20  # half of write_rows' bytes waited
