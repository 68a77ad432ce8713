"""The spool: an append-only, crash-safe local log of decoded readings between the broker and the writers.

A message is acknowledged to the broker only after its readings are in the spool and ``fsync``'d, and
the spool forgets a batch only after a writer confirmed it, so an acknowledged reading survives a crash
of the ingester, of the store, or of the machine.

On disk a spool is a directory of segment files and one checkpoint::

    00000000000000000000.seg   records, each framed as  <u32 length><u32 crc32(body)> body
    00000000000067108880.seg   ... a segment's name is the spool offset of its first byte
    checkpoint                 <u64 offset><u32 crc32>: everything before offset is written

Offsets are byte positions in the spool as if all segments were one file, so "confirmed up to offset"
is one number. A crash can leave a partly written record at the tail; its length or CRC does not
match, and opening the spool truncates it. That record was never fsync'd, so it was never
acknowledged: the broker still holds its message and sends it again.

A record body holds one ``Readings`` batch as raw column bytes::

    <u32 rows><u32 keys_len> keys (JSON: [[measurement, [[tag, value], ..], field], ..])
    index int32[rows]  ts int64[rows]  value float64[rows]
    [<u32 n> (u64 message key, i64 receive time)[n]]    optional: receive stamps

The receive stamps say which time was given to each message stored without a device timestamp
(keyed by a hash of its topic and payload), so a message the broker sends again after a crash or a
dropped connection gets the same time, and its readings overwrite themselves instead of doubling
(`Spool.recent_stamps`). Older spools without them read as before.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

from faultline.ingest.readings import Readings, SeriesKey

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<II")
_BODY_HEAD = struct.Struct("<II")
_CHECKPOINT = struct.Struct("<QI")
_SUFFIX = ".seg"
_MAX_RECORD = 1 << 31
_RECENT_STAMPS = 100_000


class SpoolFull(Exception):
    """Raised when appending would take the spool over its disk budget; nothing was written."""

    def __init__(self, needed: int, used: int, budget: int):
        self.needed, self.used, self.budget = needed, used, budget
        super().__init__(f"spool full: {used} of {budget} bytes used, record needs {needed}")


class SpoolRecordTooLarge(ValueError):
    """Raised when one record would be over a quarter of the budget: it might never fit, so split it."""

    def __init__(self, needed: int, limit: int):
        self.needed, self.limit = needed, limit
        super().__init__(
            f"a spool record of {needed} bytes is over the record limit of {limit} (a quarter of the spool's budget)"
        )


class SpoolCorrupt(Exception):
    """Raised when a sealed segment holds a record whose CRC does not match (disk damage, not a crash)."""


def encode_readings(readings: Readings, stamps: dict[int, int] | None = None) -> bytes:
    """The record body of a batch: series keys as JSON, the three columns' raw bytes, receive stamps."""
    keys = orjson.dumps([[k.measurement, k.tags, k.field] for k in readings.series])
    parts = [
        _BODY_HEAD.pack(len(readings), len(keys)),
        keys,
        np.ascontiguousarray(readings.index, dtype="<i4").tobytes(),
        np.ascontiguousarray(readings.ts, dtype="<i8").tobytes(),
        np.ascontiguousarray(readings.value, dtype="<f8").tobytes(),
    ]
    if stamps:
        parts.append(struct.pack("<I", len(stamps)))
        parts.append(np.array(list(stamps.items()), dtype="<u8").tobytes())
    return b"".join(parts)


def _records(f: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset just after it, body) of each whole record of an open segment from ``start`` to ``end``,
    stopping early at the first record that is torn or damaged."""
    f.seek(start)
    at = start
    while at < end:
        head = f.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return
        length, crc = _FRAME.unpack(head)
        body = f.read(length) if length < _MAX_RECORD else b""
        if len(body) < length or length >= _MAX_RECORD or zlib.crc32(body) != crc:
            return
        at += _FRAME.size + length
        yield at, body


def _stamps_of(body: bytes | memoryview) -> dict[int, int]:
    """The receive stamps at the end of a record body (empty for records without them)."""
    rows, keys_len = _BODY_HEAD.unpack_from(body, 0)
    at = _BODY_HEAD.size + keys_len + 20 * rows
    if len(body) < at + 4:
        return {}
    (n,) = struct.unpack_from("<I", body, at)
    pairs = np.frombuffer(body, dtype="<u8", count=2 * n, offset=at + 4).reshape(n, 2)
    return dict(zip(pairs[:, 0].tolist(), pairs[:, 1].astype(np.int64).tolist()))


def decode_readings(body: bytes | memoryview) -> Readings:
    """Inverse of ``encode_readings``; the arrays are copies, independent of ``body``."""
    rows, keys_len = _BODY_HEAD.unpack_from(body, 0)
    at = _BODY_HEAD.size
    series = tuple(
        SeriesKey(m, tuple((str(k), str(v)) for k, v in tags), f)
        for m, tags, f in orjson.loads(bytes(body[at : at + keys_len]))
    )
    at += keys_len
    index = np.frombuffer(body, dtype="<i4", count=rows, offset=at).astype(np.int32)
    at += 4 * rows
    ts = np.frombuffer(body, dtype="<i8", count=rows, offset=at).astype(np.int64)
    at += 8 * rows
    value = np.frombuffer(body, dtype="<f8", count=rows, offset=at).astype(np.float64)
    return Readings(series, index, ts, value)


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Readings read from the spool; pass ``end`` and ``records`` to ``Spool.confirm`` once written."""

    readings: Readings
    end: int
    records: int


class Spool:
    """A durable, bounded log of ``Readings`` batches.

    One thread appends (``append``), one thread reads and confirms (``read``, ``confirm``); the two may
    run at the same time. Only the appending thread touches the active segment.

    Parameters
    ----------
    path : directory of the segments and the checkpoint; created if missing.
    max_bytes : disk budget; ``append`` raises ``SpoolFull`` rather than exceed it.
    segment_bytes : a segment is sealed and a new one started past this size.
    fsync : ``False`` only for tests and benchmarks that must not measure the disk.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        max_bytes: int = 1024**3,
        segment_bytes: int = 64 * 1024**2,
        fsync: bool = True,
        checkpoint_interval_s: float = 0.0,
    ):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        # a fully written active segment stays on disk until it rolls, so it must be a small part
        # of the budget
        self.segment_bytes = max(1, min(segment_bytes, max_bytes // 8))
        # an emptied spool keeps at most its active segment (under segment_bytes plus one record), so
        # a record of a quarter of the budget always fits once the writer catches up: no livelock
        self.max_record_bytes = max(_FRAME.size + 1, max_bytes // 4)
        self._fsync = fsync
        self._lock = threading.Lock()  # the offsets, segments and stamps; never held over disk I/O
        # one append (or the close) at a time, held over the write and fsync: the file a record is
        # written to cannot be closed, or rolled away, under it
        self._writing = threading.Lock()
        self._checkpoint_path = self.path / "checkpoint"
        #: receive stamps of records in segments already deleted (a broker may still resend those)
        self._stamps_path = self.path / "stamps"
        self.confirmed = self._read_checkpoint()
        self.checkpoint_interval_s = checkpoint_interval_s
        self._segments: list[int] = []  # base offsets, ascending
        self._end = 0  # offset after the last durable record
        self._pending_records = 0
        self._fd: int | None = None
        self._reader: tuple[int, BinaryIO] | None = None
        #: receive stamps of the records on disk (confirmed or not): message key -> epoch ns
        self.recent_stamps: dict[int, int] = {}
        self._open()
        self._read_at = self.confirmed
        self._checkpointed = self.confirmed  # what the checkpoint file says
        self._checkpoint_at = time.monotonic()

    # -- opening and recovery -------------------------------------------------------------------

    def _read_checkpoint(self) -> int:
        try:
            raw = self._checkpoint_path.read_bytes()
        except FileNotFoundError:
            return 0
        if len(raw) != _CHECKPOINT.size or zlib.crc32(raw[:8]) != _CHECKPOINT.unpack(raw)[1]:
            # empty, truncated or damaged (the file system lost the rename's data, or the disk did):
            # rebuild from the log, replaying every segment still on disk. The writes repeat points the
            # store already has, which overwrite themselves; skipping them would lose data
            log.error(
                "spool checkpoint %s is damaged (%d bytes); replaying the segments on disk",
                self._checkpoint_path,
                len(raw),
            )
            return 0
        return _CHECKPOINT.unpack(raw)[0]

    def _segment_file(self, base: int) -> Path:
        return self.path / f"{base:020d}{_SUFFIX}"

    def _open(self) -> None:
        self._load_stamps()
        bases = sorted(int(p.stem) for p in self.path.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        # segments wholly before the checkpoint were written; a crash may have left them behind
        left_behind = []
        while len(bases) > 1 and bases[1] <= self.confirmed:
            left_behind.append(self._segment_file(bases.pop(0)))
        if left_behind:  # their stamps first: the crash may have come before the stamps file was saved
            for file in left_behind:
                self._collect_stamps(file, file.stat().st_size)
            self._save_stamps()
            for file in left_behind:
                file.unlink()
        if not bases:
            bases = [self.confirmed]
            self._segment_file(self.confirmed).touch()
        self._segments = bases
        # a damaged checkpoint reads as 0: replay from the oldest segment still on disk
        self.confirmed = max(self.confirmed, bases[0])
        for i, base in enumerate(bases):
            last = i == len(bases) - 1
            start = max(self.confirmed, base) - base
            if start:  # the first segment's written records, still on disk: a broker may resend them
                self._collect_stamps(self._segment_file(base), start)
            good_end, records = self._scan(self._segment_file(base), start, last)
            self._pending_records += records
            if last:
                self._end = base + good_end
        self._fd = os.open(self._segment_file(bases[-1]), os.O_WRONLY | os.O_APPEND)
        if self.confirmed > self._end:
            log.error(
                "spool checkpoint %d is past the spool's end %d; the spool was damaged", self.confirmed, self._end
            )
            self.confirmed = self._end
        if len(self.recent_stamps) > _RECENT_STAMPS:  # the newest are the ones a broker may still resend
            self.recent_stamps = dict(list(self.recent_stamps.items())[-_RECENT_STAMPS:])
        if self._pending_records:
            log.info("spool %s: %d records (%d bytes) to replay", self.path, self._pending_records, self.pending_bytes)

    def _scan(self, file: Path, start: int, last: bool) -> tuple[int, int]:
        """Check every record from ``start``; truncate a torn tail. Returns (good end, records)."""
        size = file.stat().st_size
        records, at = 0, start
        with open(file, "rb") as f:
            for after, body in _records(f, start, size):
                records, at = records + 1, after
                self.recent_stamps.update(_stamps_of(body))
        if at < size:
            if last:
                log.warning(
                    "spool %s: discarding %d bytes of a record torn by a crash (never acknowledged)",
                    file.name,
                    size - at,
                )
            else:
                log.error("spool %s: damaged record at byte %d; %d bytes after it are lost", file.name, at, size - at)
            with open(file, "r+b") as f:
                f.truncate(at)
                os.fsync(f.fileno())
        return at, records

    def _collect_stamps(self, file: Path, end: int) -> None:
        """Receive stamps of the whole records before ``end`` (written ones a broker may still resend)."""
        with open(file, "rb") as f:
            for _, body in _records(f, 0, end):
                self.recent_stamps.update(_stamps_of(body))

    def _remember(self, stamps: dict[int, int]) -> None:
        with self._lock:
            self.recent_stamps.update(stamps)
            if len(self.recent_stamps) > 2 * _RECENT_STAMPS:  # the newest are the ones a broker may resend
                self.recent_stamps = dict(list(self.recent_stamps.items())[-_RECENT_STAMPS:])

    def _save_stamps(self) -> None:
        """The newest receive stamps to ``stamps`` (temporary file, renamed over): read back at open,
        so a message the broker sends again after its spool segment was deleted keeps its time."""
        with self._lock:
            pairs = list(self.recent_stamps.items())[-_RECENT_STAMPS:]
        data = np.array(pairs, dtype="<u8").tobytes()
        tmp = self._stamps_path.with_suffix(".tmp")
        tmp.write_bytes(struct.pack("<I", zlib.crc32(data)) + data)
        os.replace(tmp, self._stamps_path)

    def _load_stamps(self) -> None:
        try:
            raw = self._stamps_path.read_bytes()
        except FileNotFoundError:
            return
        if len(raw) < 4 or (len(raw) - 4) % 16 or zlib.crc32(raw[4:]) != struct.unpack_from("<I", raw)[0]:
            log.warning("spool stamps file %s is damaged; ignored", self._stamps_path)
            return
        pairs = np.frombuffer(raw, dtype="<u8", offset=4).reshape(-1, 2)
        self.recent_stamps.update(zip(pairs[:, 0].tolist(), pairs[:, 1].astype(np.int64).tolist()))

    # -- appending --------------------------------------------------------------------------------

    @property
    def disk_bytes(self) -> int:
        """Bytes of the segments on disk (including confirmed ones not deleted yet)."""
        return self._end - self._segments[0]

    @property
    def pending_bytes(self) -> int:
        """Bytes not yet confirmed written."""
        return self._end - self.confirmed

    @property
    def unread_bytes(self) -> int:
        """Bytes appended after what `read` has returned."""
        return self._end - self._read_at

    @property
    def pending_records(self) -> int:
        """Records not yet confirmed written."""
        return self._pending_records

    def append(self, readings: Readings, stamps: dict[int, int] | None = None) -> int:
        """Write one record and make it durable (one write, one fsync); returns the offset after it.

        Raises ``SpoolFull`` (writing nothing) when the record would exceed the disk budget now, and
        ``SpoolRecordTooLarge`` when it is over ``max_record_bytes`` (it might never fit: split it).
        """
        body = encode_readings(readings, stamps)
        if len(body) + _FRAME.size > self.max_record_bytes:
            raise SpoolRecordTooLarge(len(body) + _FRAME.size, self.max_record_bytes)
        if stamps:
            self._remember(stamps)
        frame = _FRAME.pack(len(body), zlib.crc32(body)) + body
        with self._writing:
            with self._lock:
                if self.disk_bytes + len(frame) > self.max_bytes:
                    raise SpoolFull(len(frame), self.disk_bytes, self.max_bytes)
                if self._fd is None:
                    raise ValueError("the spool is closed")
                if self._end - self._segments[-1] >= self.segment_bytes:
                    self._roll()
                fd = self._fd
            os.write(fd, frame)
            if self._fsync:
                os.fsync(fd)
            with self._lock:
                self._end += len(frame)
                self._pending_records += 1
                return self._end

    def _roll(self) -> None:
        """Seal the active segment and start one at the current end (called with the lock held)."""
        assert self._fd is not None  # append checked that the spool is open
        os.close(self._fd)
        file = self._segment_file(self._end)
        self._fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._sync_dir()
        self._segments.append(self._end)

    def _sync_dir(self) -> None:
        if not self._fsync:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading and confirming ------------------------------------------------------------------

    def read(self, max_rows: int = 50_000) -> SpoolBatch | None:
        """The next durable records after the last ``read``, joined, up to about ``max_rows`` rows.

        Always returns at least one whole record when there is one; ``None`` when nothing is new.
        """
        batches, records = [], 0
        rows = 0
        while rows < max_rows:
            with self._lock:
                end = self._end
                segments = list(self._segments)
            if self._read_at >= end:
                break
            base = max(b for b in segments if b <= self._read_at)
            f = self._reader_for(base)
            f.seek(self._read_at - base)
            head = f.read(_FRAME.size)
            if len(head) < _FRAME.size:  # end of a sealed segment: the next one starts here
                self._read_at = min(b for b in segments if b > base)
                continue
            length, crc = _FRAME.unpack(head)
            body = f.read(length) if length < _MAX_RECORD else b""
            if len(body) < length or length >= _MAX_RECORD or zlib.crc32(body) != crc:
                later = [b for b in segments if b > base]
                if not later:
                    raise SpoolCorrupt(f"{self._segment_file(base).name}: bad record at byte {self._read_at - base}")
                # a sealed segment damaged after it was written (disk fault): its records were
                # acknowledged, so say loudly what is lost, and keep the rest of the spool flowing
                log.error(
                    "spool %s: damaged record at byte %d; skipping the %d bytes after it",
                    self._segment_file(base).name,
                    self._read_at - base,
                    later[0] - self._read_at,
                )
                self._read_at = later[0]
                continue
            readings = decode_readings(body)
            batches.append(readings)
            rows += len(readings)
            records += 1
            self._read_at += _FRAME.size + length
        if not records:
            return None
        return SpoolBatch(Readings.concat(batches), self._read_at, records)

    def _reader_for(self, base: int) -> BinaryIO:
        if self._reader is None or self._reader[0] != base:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (base, open(self._segment_file(base), "rb"))
        return self._reader[1]

    def rewind(self) -> None:
        """Read again from the checkpoint (what was read but not confirmed)."""
        self._read_at = self.confirmed

    def confirm(self, end: int, records: int) -> None:
        """Everything before ``end`` is written.

        The checkpoint (fsync'd, then the spent segments deleted) is written at once when a sealed
        segment is spent (to free its disk), else at most every ``checkpoint_interval_s`` and by
        `checkpoint` and `close`: two fsyncs per batch cost the drainer about as much as the
        write. A crash before the checkpoint only writes those batches again: the store overwrites
        the same points (same series and time), and receive stamps come back from the records.
        """
        with self._lock:
            if end <= self.confirmed:
                return
            spent = len(self._segments) > 1 and self._segments[1] <= end
        due = spent or time.monotonic() - self._checkpoint_at >= self.checkpoint_interval_s
        if due:
            self._save_checkpoint(end)  # a failure raises with nothing confirmed: the batch is read again
        with self._lock:
            self.confirmed = end
            self._pending_records -= records
        if due:
            self._delete_spent(end)

    def checkpoint(self) -> None:
        """Make the confirmed offset durable and delete the segments wholly before it."""
        end = self.confirmed
        if end > self._checkpointed:
            self._save_checkpoint(end)
            self._delete_spent(end)

    def _save_checkpoint(self, end: int) -> None:
        # atomic: a temporary file, written and fsync'd, renamed over the old one, then the folder fsync'd
        # (the rename itself is durable only once the directory entry is)
        tmp = self._checkpoint_path.with_suffix(".tmp")
        data = struct.pack("<Q", end)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, _CHECKPOINT.pack(end, zlib.crc32(data)))
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._checkpoint_path)
        self._sync_dir()
        self._checkpointed, self._checkpoint_at = end, time.monotonic()

    def _delete_spent(self, end: int) -> None:
        with self._lock:
            spent = []
            # only sealed segments go; the active one is the appender's and rolls at segment_bytes
            while len(self._segments) > 1 and self._segments[1] <= end:
                spent.append(self._segments.pop(0))
        if spent and self.recent_stamps:
            self._save_stamps()  # the deleted records' stamps outlive them, for a broker's late resend
        for base in spent:
            if self._reader is not None and self._reader[0] == base:
                self._reader[1].close()
                self._reader = None
            self._segment_file(base).unlink(missing_ok=True)

    def close(self) -> None:
        """Write the checkpoint and close the files, after an append under way has made its record durable."""
        with self._writing:
            if self._fd is not None:
                self.checkpoint()
            with self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "Spool",
    "SpoolBatch",
    "SpoolCorrupt",
    "SpoolFull",
    "SpoolRecordTooLarge",
    "decode_readings",
    "encode_readings",
]
