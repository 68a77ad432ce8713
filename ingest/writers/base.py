"""The writer interface, and the line-protocol writer that finds rejected lines by bisection."""

from __future__ import annotations

import email.utils
import logging
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ingest.lineprotocol import LineEncoder, Lines
from ingest.readings import Readings
from ingest.writers.errors import FatalWriteError, RetryableWriteError

log = logging.getLogger(__name__)

# InfluxDB 1.x: 'partial write: field type conflict: input field "value" on measurement "telemetry" is type
# float, already exists as type integer dropped=3'
_CONFLICT = re.compile(r'field type conflict: input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)"'
                       r" is type (\w+), already exists as type (\w+)")


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
    * other 4xx: some line of the chunk is bad. The chunk is bisected until the bad lines are
      isolated; they are returned as rejected with the server's message, the rest is written.
      InfluxDB 1.x already stored the good lines of a partial write, and writing them again
      overwrites them with the same values, so bisection never duplicates.
    """

    #: which line-protocol dialect the server parses (see `ingest.lineprotocol`)
    dialect = "v2"

    def __init__(self, max_lines: int = 5000, concurrency: int = 2):
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {max_lines!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.max_lines = max_lines
        self.concurrency = concurrency
        self._sender: ThreadPoolExecutor | None = None
        #: (measurement, field) -> the type the store holds, for fields it keeps as other than float
        #: (every Faultline value is a float): their points are refused at once, not found by bisection
        self.conflicting_fields: dict[tuple[str, str], str] = {}
        self._fields_learned = False

    def _field_types(self) -> dict[tuple[str, str], set[str]] | None:
        """The store's field types, ``(measurement, field) -> {type, ..}``; None when it cannot say."""
        return None

    def learn_field_types(self) -> bool:
        """Ask the store which fields it holds as non-floats; True when that added any."""
        self._fields_learned = True
        try:
            types = self._field_types()
        except Exception:  # learning is an optimisation; bisection still finds the lines
            log.debug("could not read the store's field types", exc_info=True)
            return False
        if not types:
            return False
        before = len(self.conflicting_fields)
        for key, kinds in types.items():
            if "float" not in kinds:  # a field held as float in some shard may take our points there
                self.conflicting_fields[key] = "/".join(sorted(kinds))
        if len(self.conflicting_fields) > before:
            log.warning("the store holds %d fields as other than float (e.g. %s); their points are dead-lettered",
                        len(self.conflicting_fields), next(iter(self.conflicting_fields)))
            return True
        return False

    def _route_conflicts(self, readings: Readings) -> tuple[Readings, list[RejectedLine]]:
        """Split off the rows of fields the store holds with another type, as rejected lines."""
        if not self._fields_learned:
            self.learn_field_types()
        if not self.conflicting_fields:
            return readings, []
        bad = [i for i, k in enumerate(readings.series) if (k.measurement, k.field) in self.conflicting_fields]
        if not bad:
            return readings, []
        mask = np.isin(readings.index, bad)
        lines, refused = LineEncoder(readings.take(mask), "ns", self.dialect).lines()
        rejected = [RejectedLine(row.line.encode(), row.reason) for row in refused]
        bad_rows = readings.take(mask)
        for n, line in enumerate(lines.body().split(b"\n") if len(lines) else []):
            key = bad_rows.series[int(bad_rows.index[n])] if not refused else None
            kind = self.conflicting_fields.get((key.measurement, key.field)) if key else "another type"
            rejected.append(RejectedLine(line, f"field type conflict: the store holds this field as {kind}, "
                                               "the reading is a float"))
        return readings.take(~mask), rejected

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
        for _ in range(3):
            try:
                return self._write_routed(readings)
            except _ConflictsLearned:
                continue  # idempotent: the batch again, the newly known conflicts routed at once
        return self._write_routed(readings, learn=False)

    def _write_routed(self, readings: Readings, learn: bool = True) -> WriteResult:
        readings, conflicts = self._route_conflicts(readings)
        self._learn_on_conflict = learn
        result = self._write_unrouted(readings)
        return WriteResult(result.written, conflicts + result.rejected)

    def _write_unrouted(self, readings: Readings) -> WriteResult:
        if len(readings) <= self.max_lines:
            return self.write_prepared(self.prepare(readings))
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=self.concurrency,
                                              thread_name_prefix=f"{type(self).__name__}-send")
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

        in_flight: list[tuple[Future, np.ndarray | None]] = []
        try:
            for start in range(0, len(encoder), self.max_lines):
                lines, refused = encoder.lines(start, start + self.max_lines)
                rejected.extend(RejectedLine(row.line.encode(), row.reason) for row in refused)
                keys = point_keys(readings, start, start + self.max_lines) if self.concurrency > 1 else None
                while in_flight and (len(in_flight) >= self.concurrency
                                     or any(np.isin(keys, other).any() for _, other in in_flight)):
                    collect()
                in_flight.append((self._sender.submit(send, lines), keys))
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

    def write_lines(self, lines: Lines, rejected: list[RejectedLine]) -> int:
        """Send already-encoded lines (one request unless bisecting); append refused ones to ``rejected``.

        Returns the number of lines written.
        """
        if not lines:
            return 0
        answer = self._post(lines.body())
        status = answer.status
        if 200 <= status < 300:
            return len(lines)
        if status in (401, 403):
            raise FatalWriteError(f"the store refused the credentials (HTTP {status}: {answer.message}); "
                                  "check the username/password or token", status)
        if status == 404:
            raise FatalWriteError(f"the store has no such database or bucket (HTTP 404: {answer.message}); "
                                  "check the url, database or bucket", status)
        if status == 429 or status >= 500:
            raise RetryableWriteError(f"the store is unavailable (HTTP {status}: {answer.message})",
                                      answer.retry_after, status)
        if 400 <= status < 500:
            if (status == 400 and getattr(self, "_learn_on_conflict", False) and _CONFLICT.search(answer.message)
                    and self.learn_field_types()):
                raise _ConflictsLearned()
            if len(lines) == 1:
                reason = ("too large for the store (HTTP 413)" if status == 413
                          else f"HTTP {status}: {answer.message}")
                rejected.append(RejectedLine(lines.body(), reason))
                return 0
            if status != 413:
                log.debug("HTTP %s on %d lines, bisecting: %s", status, len(lines), answer.message)
            half = len(lines) // 2
            return (self.write_lines(lines.slice(0, half), rejected)
                    + self.write_lines(lines.slice(half, len(lines)), rejected))
        raise RetryableWriteError(f"unexpected HTTP {status} from the store: {answer.message}", None, status)
