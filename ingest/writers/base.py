"""The writer interface, and the line-protocol writer: field type conflicts refused at once, other
rejected lines found by bisection."""

from __future__ import annotations

import email.utils
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, NamedTuple, Protocol, runtime_checkable

import numpy as np

from faultline.ingest.lineprotocol import LineEncoder, Lines
from faultline.ingest.readings import Readings
from faultline.ingest.writers.errors import FatalWriteError, RetryableWriteError
from faultline.ingest.writers.field_types import CONFLICT, Field, FieldTypes, conflict_in, conflict_reason

log = logging.getLogger(__name__)


class _ConflictsLearned(Exception):
    """Raised inside a write when the store named field types we did not know: write the batch again."""


class RejectedLine(NamedTuple):
    """A point the store refused (or that could not be encoded): the line and the reason given."""

    line: bytes
    reason: str


class WriteResult(NamedTuple):
    """What one `Writer.write` did: points stored, and points refused for good (dead-letter them)."""

    written: int
    rejected: list[RejectedLine]


@runtime_checkable
class Writer(Protocol):
    """A time-series store's writing end.

    ``write`` either stores every point it does not return as rejected, or raises
    `RetryableWriteError` (write the same batch again later: writes are idempotent, the same series
    and timestamp overwrite) or `FatalWriteError` (stop writing; an operator must act).
    """

    def write(self, readings: Readings) -> WriteResult: ...

    def close(self) -> None: ...


class EncodedBatch(NamedTuple):
    """Readings already turned into line protocol by `LineProtocolWriter.prepare`.

    ``lines`` are ready to send; ``refused`` are rows that could not be encoded at all.
    """

    lines: Lines
    refused: list[RejectedLine]


class Response(NamedTuple):
    """An HTTP answer reduced to what classification needs."""

    status: int
    message: str
    retry_after: float | None = None


def point_keys(readings: Readings, start: int, stop: int) -> np.ndarray:
    """One int64 per row of ``start:stop`` that equal (series, timestamp) pairs share.

    Different pairs can collide (the timestamp and the series position are mixed by a wrapping
    multiply-add); a collision only makes two requests wait for each other, never reorders them.
    """
    with np.errstate(over="ignore"):
        return readings.ts[start:stop] * np.int64(1_000_003) + readings.index[start:stop]


class _Points:
    """The (series, timestamp) pairs of rows ``start:stop``: compared by time range first (two
    requests of a batch read from the spool rarely overlap in time), by `point_keys` when they do."""

    __slots__ = ("_readings", "_start", "_stop", "lo", "hi", "_keys")

    def __init__(self, readings: Readings, start: int, stop: int):
        ts = readings.ts[start:stop]
        self._readings, self._start, self._stop = readings, start, stop
        self.lo, self.hi = (int(ts.min()), int(ts.max())) if len(ts) else (0, -1)
        self._keys: np.ndarray | None = None

    def keys(self) -> np.ndarray:
        if self._keys is None:
            self._keys = point_keys(self._readings, self._start, self._stop)
        return self._keys

    def shared_with(self, other: "_Points") -> bool:
        """True when some row here may have the series and timestamp of a row of ``other``."""
        if self.hi < other.lo or other.hi < self.lo:
            return False
        return bool(np.isin(self.keys(), other.keys()).any())


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class LineProtocolWriter:
    """Base of the HTTP writers: encode, send in chunks, classify the answer, bisect 400s.

    Subclasses implement ``_post(body) -> Response`` (raising `RetryableWriteError` for connection
    errors and timeouts) and ``_close_client()``.

    Classification of the status code:

    * 2xx: written;
    * 401, 403: `FatalWriteError` ("check the credentials");
    * 404: `FatalWriteError` (no such database or bucket);
    * 429, 5xx: `RetryableWriteError` with the Retry-After seconds;
    * 413: the chunk is split in halves and each half written; a single line that is still too
      large is rejected;
    * 4xx naming a field type conflict: the field becomes suspect (`ingest.writers.field_types`)
      and the batch is written again with the points of suspect fields apart, a request per
      field, where a conflict that dropped every point refuses them all at once;
    * other 4xx: some line of the chunk is bad. The chunk is bisected until the bad lines are
      isolated; they are returned as rejected with the server's message, the rest is written.
      InfluxDB 1.x already stored the good lines of a partial write, and writing them again
      overwrites them with the same values, so bisection never duplicates.
    """

    #: which line-protocol dialect the server parses (see `ingest.lineprotocol`)
    dialect = "v2"
    #: whether ``_field_types`` can list the store's field types (else they are learned from conflicts)
    lists_field_types = False

    def __init__(self, max_lines: int = 5000, concurrency: int = 2):
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {max_lines!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.max_lines = max_lines
        self.concurrency = concurrency
        self._sender: ThreadPoolExecutor | None = None
        #: the fields the store may hold as other than float: their points go in requests of their own
        self.field_types = FieldTypes()
        self._listing_read = False
        self._learn_on_conflict = True

    def _field_types(self) -> dict[Field, set[str]] | None:
        """The store's field types, ``(measurement, field) -> {type, ..}``; None when it cannot list them."""
        return None

    def learn_field_types(self) -> bool:
        """Read the store's listing of field types (where it has one); True when a field became suspect."""
        self._listing_read = True
        if not self.lists_field_types:
            return False
        try:
            types = self._field_types()
        except Exception:  # learning is an optimisation; the conflict messages still teach
            log.debug("could not read the store's field types", exc_info=True)
            return False
        if types and self.field_types.learn_listing(types):
            log.warning(
                "the store holds %d fields as other than float in some shard (e.g. %s); their points are "
                "written apart, and dead-lettered if refused",
                len(self.field_types.suspect),
                next(iter(self.field_types.suspect)),
            )
            return True
        return False

    def prepare_store(self) -> None:
        """Read the store's field types now (the first `write` does otherwise); no error is raised."""
        if not self._listing_read:
            self.learn_field_types()

    def _learn_conflict(self, message: str) -> bool:
        """After a field type conflict: read the listing again (every new conflict at once) and take
        the field the message names; True when the batch is to be written again with it apart."""
        listed = self.learn_field_types()
        named = self.field_types.learn_error(message)
        if named:
            log.warning(
                "the store reports a field type conflict; the points of that field are written apart, "
                "and dead-lettered if refused: %s",
                message,
            )
        # suspect already: learned meanwhile by a request in flight beside this one, which held points
        # of the field; the batch is written again with them apart
        return listed or named or self.field_types.names_suspect(message)

    def _post(self, body: bytes) -> Response:  # pragma: no cover - subclasses
        raise NotImplementedError

    def _close_client(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection pool (and the sending thread, if one was started)."""
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None
        self._close_client()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, readings: Readings) -> WriteResult:
        """Write every point of ``readings``; see the class docstring for failures.

        A batch of more than ``max_lines`` rows goes out in several requests, up to ``concurrency``
        of them in flight at once: the server parses and stores them on separate cores, and the
        next request's lines are formatted while the others are on the wire (sending waits on the
        network and releases the GIL). Two requests are in flight together only when no point of
        one has the series and timestamp of a point of the other, so where a batch holds the same
        point twice the later row still wins, as with one request after the other. When a request
        fails the error is raised after the requests in flight finished; writing the whole batch
        again is safe (same series and timestamp overwrite).
        """
        if not self._listing_read:
            self.learn_field_types()
        # each retry has learned another suspect field; past one per series, bisect instead
        for _ in range(len(readings.series) + 1):
            try:
                return self._write_split(readings)
            except _ConflictsLearned:
                continue  # idempotent: the batch again, the newly suspect fields apart
        return self._write_split(readings, learn=False)

    def _write_split(self, readings: Readings, learn: bool = True) -> WriteResult:
        readings, apart = self.field_types.split(readings)
        self._learn_on_conflict = learn
        # the suspect fields' requests go out beside the others (no point of theirs is in another)
        suspects = [self._pool().submit(self._write_suspect, key, rows) for key, rows in apart.items()]
        try:
            result = self._write_unrouted(readings)
        finally:
            wait(suspects)
        written, rejected = result.written, list(result.rejected)
        for future in suspects:
            sent, found = future.result()
            written += sent
            rejected.extend(found)
        return WriteResult(written, rejected)

    def _write_suspect(self, key: Field, rows: Readings) -> tuple[int, list[RejectedLine]]:
        """Write the points of one suspect field in requests of their own; the store's answer decides."""
        lines, refused = LineEncoder(rows, "ns", self.dialect).lines()
        rejected = [RejectedLine(row.line.encode(), row.reason) for row in refused]
        written = 0
        for start in range(0, len(lines), self.max_lines):
            written += self.write_lines(lines.slice(start, start + self.max_lines), rejected, field=key)
        if written == len(lines):
            self.field_types.accepts(key)  # learned from the points written: it takes floats
            log.info("the store took floats for %s; its points are written with the others again", key)
        return written, rejected

    def _pool(self) -> ThreadPoolExecutor:
        if self._sender is None:
            self._sender = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix=f"{type(self).__name__}-send"
            )
        return self._sender

    def _write_unrouted(self, readings: Readings) -> WriteResult:
        if len(readings) <= self.max_lines:
            return self.write_prepared(self.prepare(readings))
        sender = self._pool()
        encoder = LineEncoder(readings, "ns", self.dialect)
        rejected: list[RejectedLine] = []
        written = 0

        def send(lines: Lines) -> tuple[int, list[RejectedLine]]:
            found: list[RejectedLine] = []
            return self.write_lines(lines, found), found

        def collect() -> None:
            nonlocal written
            sent, found = in_flight.pop(0)[0].result()
            written += sent
            rejected.extend(found)

        in_flight: list[tuple[Future, _Points | None]] = []
        try:
            for start in range(0, len(encoder), self.max_lines):
                lines, refused = encoder.lines(start, start + self.max_lines)
                rejected.extend(RejectedLine(row.line.encode(), row.reason) for row in refused)
                points = _Points(readings, start, start + self.max_lines) if self.concurrency > 1 else None
                while in_flight and (
                    len(in_flight) >= self.concurrency
                    or (
                        points is not None  # None only with one request at a time
                        and any(other is not None and points.shared_with(other) for _, other in in_flight)
                    )
                ):
                    collect()
                in_flight.append((sender.submit(send, lines), points))
            while in_flight:
                collect()
        finally:
            wait([future for future, _ in in_flight])  # never leave a request running behind an exception
        return WriteResult(written, rejected)

    def prepare(self, readings: Readings) -> EncodedBatch:
        """Encode ``readings`` for this server (no I/O).

        Splitting `write` in two lets a caller encode the next batch in another thread while this
        one is on the wire, so the server is never idle waiting for Python to format lines. An
        `EncodedBatch` can be written again after a `RetryableWriteError`.
        """
        lines, refused = LineEncoder(readings, "ns", self.dialect).lines()
        return EncodedBatch(lines, [RejectedLine(row.line.encode(), row.reason) for row in refused])

    def write_prepared(self, batch: EncodedBatch) -> WriteResult:
        """Send a batch from `prepare` in requests of at most ``max_lines`` lines."""
        rejected = list(batch.refused)
        written = 0
        for start in range(0, len(batch.lines), self.max_lines):
            written += self.write_lines(batch.lines.slice(start, start + self.max_lines), rejected)
        return WriteResult(written, rejected)

    def write_lines(self, lines: Lines, rejected: list[RejectedLine], field: Field | None = None) -> int:
        """Send already-encoded lines (one request unless bisecting); append refused ones to ``rejected``.

        ``field``: every line is a point of this (measurement, field); a field type conflict that
        dropped as many points as there are lines refuses them all at once, with the type held.
        Returns the number of lines written.
        """
        if not lines:
            return 0
        answer = self._post(lines.body())
        status = answer.status
        if 200 <= status < 300:
            return len(lines)
        if status in (401, 403):
            raise FatalWriteError(
                f"the store refused the credentials (HTTP {status}: {answer.message}); "
                "check the username/password or token",
                status,
            )
        if status == 404:
            raise FatalWriteError(
                f"the store has no such database or bucket (HTTP 404: {answer.message}); "
                "check the url, database or bucket",
                status,
            )
        if status == 429 or status >= 500:
            raise RetryableWriteError(
                f"the store is unavailable (HTTP {status}: {answer.message})", answer.retry_after, status
            )
        if 400 <= status < 500:
            conflict = conflict_in(answer.message) if field is not None else None
            if conflict is not None and conflict[0] == field and conflict[2] == len(lines):
                reason = conflict_reason(field, conflict[1])
                rejected.extend(RejectedLine(line, reason) for line in lines.body().split(b"\n"))
                return 0
            if (
                field is None
                and self._learn_on_conflict
                and CONFLICT.search(answer.message)
                and self._learn_conflict(answer.message)
            ):
                raise _ConflictsLearned()
            if len(lines) == 1:
                reason = "too large for the store (HTTP 413)" if status == 413 else f"HTTP {status}: {answer.message}"
                rejected.append(RejectedLine(lines.body(), reason))
                return 0
            if status != 413:
                log.debug("HTTP %s on %d lines, bisecting: %s", status, len(lines), answer.message)
            half = len(lines) // 2
            return self.write_lines(lines.slice(0, half), rejected, field) + self.write_lines(
                lines.slice(half, len(lines)), rejected, field
            )
        raise RetryableWriteError(f"unexpected HTTP {status} from the store: {answer.message}", None, status)
