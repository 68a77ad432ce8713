"""InfluxDB line protocol, built from columns.

A line is ``measurement,tag1=v1,tag2=v2 field=1.5 1763700000123000000``. Everything before the
value is the same for every row of a series, so it is escaped once per series and cached; the rows
are then formatted in bulk by Arrow's compute kernels (`format_lines`), about 0.25 µs per point where
building an object per point costs several microseconds (`bench/bench_lineprotocol.py`).

Escaping follows the InfluxDB line-protocol reference: in the measurement, commas and spaces are
escaped with a backslash; in tag keys, tag values and field keys, commas, equals signs and spaces.
A backslash is written as-is, except one that a reader would take as an escape -- at the end of a
name (``a\\``), before a character that gets escaped, or before another backslash; the current
line-protocol reference (InfluxDB 2.x/3.x, VictoriaMetrics) reads a doubled backslash as one, so
such backslashes are doubled. InfluxDB 1.x does not (measured on 1.6.7: ``a\\\\b`` is stored with
three backslashes, ``a\\`` fails to parse), so in the ``v1`` dialect such names are refused with
`UnencodableError` instead of being stored altered.

What line protocol cannot carry is refused rather than silently altered:

* line breaks (``\\n``, ``\\r``) anywhere in a name or tag value -- `UnencodableError`;
* empty measurement or field names, and a measurement starting with ``#`` (the line would be read
  as a comment and skipped without an error; measured on InfluxDB 1.6.7) -- `UnencodableError`;
* non-finite values (NaN, infinity) -- the row is refused.

A tag whose value is empty is left out of the line: InfluxDB treats a missing tag and an empty tag
value the same way, and an empty value is a syntax error.

VictoriaMetrics (1.x as Debian ships it) silently drops a line whose field key contains a double
quote; Faultline's field keys are fixed names (``value``, ``rms``, ..) and never do.

Values are always floats, written as the shortest text that reads back as the same float64 (an
integral value as ``5``: without an ``i`` suffix line protocol reads it as a float), so a field never
changes type between writes.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from faultline.ingest.readings import Readings, SeriesKey

__all__ = [
    "LineEncoder",
    "Lines",
    "UnencodableError",
    "RefusedRow",
    "encode",
    "encode_chunks",
    "encode_lines",
    "format_lines",
    "series_prefix",
    "PRECISIONS",
    "DIALECTS",
]

#: Divisor from nanoseconds to each precision line protocol knows.
PRECISIONS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

_PREFIX_CACHE_SIZE = 100_000
_prefixes: dict[str, dict[SeriesKey, str]] = {"v1": {}, "v2": {}}

#: Line-protocol dialects: ``v2`` is the current reference; ``v1`` is what InfluxDB 1.x parses.
DIALECTS = ("v1", "v2")

_MEASUREMENT_SPECIAL = ", "
_KEY_SPECIAL = ",= "


class UnencodableError(ValueError):
    """Raised when a series cannot be written in line protocol (a line break or an empty name)."""


class RefusedRow(NamedTuple):
    """A row that could not be encoded: a readable rendering of it and why."""

    line: str
    reason: str


def _escape(text: str, special: str, what: str, dialect: str) -> str:
    if "\n" in text or "\r" in text:
        raise UnencodableError(f"{what} {text!r} contains a line break, which line protocol cannot carry")
    if "\\" in text:
        doubled = _double_escaping_backslashes(text, special)
        if dialect == "v1" and len(doubled) != len(text):
            raise UnencodableError(
                f"{what} {text!r} has a backslash at its end, before another backslash or "
                f"before one of {special!r}, which InfluxDB 1.x cannot store unaltered"
            )
        text = doubled
    for ch in special:
        if ch in text:
            text = text.replace(ch, "\\" + ch)
    return text


def _double_escaping_backslashes(text: str, special: str) -> str:
    """Double each backslash that a reader would take as an escape: before a special character,
    before another backslash, or at the very end (where it would escape the following separator)."""
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        out.append(ch)
        if ch == "\\" and (i + 1 == n or text[i + 1] in special or text[i + 1] == "\\"):
            out.append("\\")
    return "".join(out)


def series_prefix(key: SeriesKey, dialect: str = "v2") -> str:
    """``measurement,tag=value,.. field=`` for ``key``, escaped; cached.

    Tags are written sorted by key (InfluxDB's own order, cheapest for it to index); tags with an
    empty value are left out.

    Raises
    ------
    UnencodableError
        When a name or tag value holds a line break, or the measurement or field name is empty.

    >>> series_prefix(SeriesKey.of("telemetry", {"site": "plant 1", "asset": "p,7"}))
    'telemetry,asset=p\\\\,7,site=plant\\\\ 1 value='
    """
    cache = _prefixes[dialect]
    prefix = cache.get(key)
    if prefix is not None:
        return prefix
    measurement, tags, field = key
    if not measurement:
        raise UnencodableError(f"series {key!r} has an empty measurement")
    if measurement.startswith("#"):
        raise UnencodableError(f"measurement {measurement!r} starts with '#', which makes the line a comment")
    if not field:
        raise UnencodableError(f"series {key!r} has an empty field name")
    parts = [_escape(measurement, _MEASUREMENT_SPECIAL, "measurement", dialect)]
    for tag, value in sorted(tags):
        if not tag:
            raise UnencodableError(f"series {key!r} has a tag with an empty name")
        if value:
            parts.append(
                f"{_escape(tag, _KEY_SPECIAL, 'tag key', dialect)}={_escape(value, _KEY_SPECIAL, 'tag value', dialect)}"
            )
    prefix = ",".join(parts) + " " + _escape(field, _KEY_SPECIAL, "field key", dialect) + "="
    if len(cache) >= _PREFIX_CACHE_SIZE:
        cache.clear()
    cache[key] = prefix
    return prefix


def encode_lines(readings: Readings, precision: str = "ns", dialect: str = "v2") -> tuple[list[str], list[RefusedRow]]:
    """One line (without newline) per encodable row, and the rows that were refused.

    Parameters
    ----------
    readings : Readings
        ``n`` rows.
    precision : {"ns", "us", "ms", "s"}
        Unit of the written timestamps; coarser precisions truncate (floor) the nanoseconds, and the
        writer must send the same precision to the server.
    dialect : {"v2", "v1"}
        ``v1`` refuses names whose backslashes InfluxDB 1.x would store altered.

    Returns
    -------
    lines : list of str, length <= n
        In row order.
    refused : list of RefusedRow
        Rows of series with an unencodable key, and rows with a non-finite value.
    """
    lines, refused = LineEncoder(readings, precision, dialect).lines()
    return lines.to_list(), refused


class Lines:
    """Encoded lines, newline-terminated and back to back in one buffer.

    The writers send a range of lines as one request body (`body`) and bisect a refused request by
    index, so the lines are never split into Python strings on the way to the server.

    >>> lines = format_lines(["m,t=a v="], np.zeros(2, np.int32), np.array([4.2, 5.0]), np.array([1, 2]))
    >>> len(lines), lines.body()
    (2, b'm,t=a v=4.2 1\\nm,t=a v=5 2')
    >>> lines.slice(1, 2).body()
    b'm,t=a v=5 2'
    """

    __slots__ = ("_data", "_offsets", "_start", "_stop")

    def __init__(self, data: bytes | memoryview, offsets: np.ndarray, start: int = 0, stop: int | None = None):
        self._data, self._offsets = data, offsets
        self._start = start
        self._stop = len(offsets) - 1 if stop is None else stop

    @classmethod
    def empty(cls) -> "Lines":
        return cls(b"", np.zeros(1, np.int64))

    def __len__(self) -> int:
        return self._stop - self._start

    def slice(self, start: int, stop: int) -> "Lines":
        """Lines ``start:stop`` (no copy)."""
        stop = min(stop, len(self))
        return Lines(self._data, self._offsets, self._start + start, self._start + max(start, stop))

    def body(self) -> bytes:
        """All lines as one request body: UTF-8, separated by newlines (none after the last)."""
        if not len(self):
            return b""
        return bytes(self._data[self._offsets[self._start] : self._offsets[self._stop] - 1])

    def to_list(self) -> list[str]:
        return self.body().decode().split("\n") if len(self) else []


class LineEncoder:
    """Encodes one batch in row ranges (see `encode_lines`); series prefixes are looked up once.

    A writer that sends a large batch in several requests encodes each range just before it is
    needed, so the next range can be formatted while the previous one is on the wire.
    """

    def __init__(self, readings: Readings, precision: str = "ns", dialect: str = "v2"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if dialect not in DIALECTS:
            raise ValueError(f"dialect {dialect!r} is not one of {', '.join(DIALECTS)}")
        self.readings = readings
        self.prefixes: list[str | None] = []
        self.problems: dict[int, str] = {}  # series position -> why it cannot be encoded
        for position, key in enumerate(readings.series):
            try:
                self.prefixes.append(series_prefix(key, dialect))
            except UnencodableError as exc:
                self.prefixes.append(None)
                self.problems[position] = str(exc)
        self.ts = readings.ts if precision == "ns" else readings.ts // PRECISIONS[precision]

    def __len__(self) -> int:
        return len(self.readings)

    def lines(self, start: int = 0, stop: int | None = None) -> tuple[Lines, list[RefusedRow]]:
        """Lines and refused rows of rows ``start:stop``."""
        index = self.readings.index[start:stop]
        value = self.readings.value[start:stop]
        ts = self.ts[start:stop]
        if not len(index):
            return Lines.empty(), []
        finite = np.isfinite(value)
        if not self.problems and finite.all():
            return format_lines(self.prefixes, index, value, ts), []
        good = finite.copy()
        for position in self.problems:
            good &= index != position
        refused = []
        for row in np.flatnonzero(~good).tolist():
            key = self.readings.series[index[row]]
            reason = self.problems.get(int(index[row])) or f"value {float(value[row])!r} is not finite"
            refused.append(RefusedRow(f"{key} {float(value[row])!r} {int(ts[row])}", reason))
        return format_lines(self.prefixes, index[good], value[good], ts[good]), refused


def format_lines(prefixes: list, index: np.ndarray, value: np.ndarray, ts: np.ndarray) -> Lines:
    """``prefixes[index[i]] + value[i] + " " + ts[i] + "\\n"`` for every row, formatted in bulk.

    Arrow's compute kernels format the numbers (floats in the shortest text that reads back as the
    same float64, as ``repr`` does, but ``5`` rather than ``5.0``: line protocol reads both as a
    float) and join the pieces in C++, about six times faster than a Python f-string per row.
    """
    if not len(index):
        return Lines.empty()
    values = pc.cast(_arrow(value, np.float64, pa.float64()), pa.large_string())
    stamps = pc.cast(_arrow(ts, np.int64, pa.int64()), pa.large_string())
    if len(prefixes) == 1:
        series = _texts(prefixes)[0]
    else:
        series = pc.take(_texts(prefixes), _arrow(index, np.int32, pa.int32()))
    space, newline, nothing = _texts([" ", "\n", ""])
    joined = pc.binary_join_element_wise(series, values, space, stamps, newline, nothing)
    _, offsets, data = joined.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[joined.offset : joined.offset + len(joined) + 1]
    return Lines(memoryview(data), offsets)


# Arrow arrays are built from buffers, not with ``pa.array`` or ``pa.scalar``: handed Python or numpy
# objects, those import pandas (when it is installed) to ask whether they are pandas objects -- 0.4 s
# in front of the first write and about 60 MB of resident memory for an ingester that never uses it.


def _arrow(column: np.ndarray, dtype: type, arrow_type: pa.DataType) -> pa.Array:
    """``column`` as an Arrow array over the same memory (copied only when not contiguous or of another dtype)."""
    column = np.ascontiguousarray(column, dtype=dtype)
    return pa.Array.from_buffers(arrow_type, len(column), [None, pa.py_buffer(column)])


def _texts(texts: list[str | None]) -> pa.Array:
    """``texts`` as an Arrow ``large_string`` array (``None``, a series that cannot be encoded, as "")."""
    encoded = [text.encode() if text is not None else b"" for text in texts]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = b"".join(encoded)
    return pa.Array.from_buffers(pa.large_string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def encode(readings: Readings, precision: str = "ns", dialect: str = "v2") -> bytes:
    """The whole batch as line protocol (UTF-8, lines separated by ``\\n``).

    Raises
    ------
    UnencodableError
        When any row is refused (see `encode_lines`, which returns refused rows instead).

    >>> encode(Readings.single_series(SeriesKey.of("telemetry", {"asset": "p7"}), [1, 2], [4.2, 5.0]))
    b'telemetry,asset=p7 value=4.2 1\\ntelemetry,asset=p7 value=5 2'
    """
    return _strict_lines(readings, precision, dialect).body()


def _strict_lines(readings: Readings, precision: str, dialect: str) -> Lines:
    lines, refused = LineEncoder(readings, precision, dialect).lines()
    if refused:
        raise UnencodableError(f"{len(refused)} rows cannot be encoded; first: {refused[0].reason}")
    return lines


def encode_chunks(
    readings: Readings, max_lines: int = 5000, precision: str = "ns", dialect: str = "v2"
) -> Iterator[bytes]:
    """`encode` in bodies of at most ``max_lines`` lines each (InfluxDB prefers 5,000-line writes)."""
    lines = _strict_lines(readings, precision, dialect)
    for start in range(0, len(lines), max_lines):
        yield lines.slice(start, start + max_lines).body()


def line_tags(line: bytes) -> dict[str, str]:
    r"""The tags of one line-protocol line (escapes undone), e.g. to name the topic of a refused point.

    >>> line_tags(b"telemetry,asset=pump\\ 1,site=p1 value=1.5 1763700000000000000")
    {'asset': 'pump 1', 'site': 'p1'}
    """
    text = line.decode("utf-8", "replace")
    # in_key: True in a key, False in a value, None in the value of a tag (recorded at its end)
    tags: dict[str, str] = {}
    field: list[str] = []
    escaped, key = False, ""
    in_key: bool | None = False
    for ch in text:
        if escaped:
            field.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ", ":
            if in_key is None:
                tags[key] = "".join(field)
            in_key = ch == ","
            field = []
            if ch == " ":
                break
        elif ch == "=" and in_key is True:
            key, field, in_key = "".join(field), [], None
        else:
            field.append(ch)
    return tags
