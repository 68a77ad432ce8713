"""Device timestamps to epoch nanoseconds: numbers by magnitude (s, ms, µs, ns), or ISO 8601 text.

A number's unit is read from its size, so a gateway may send whichever its clock gives:

=================  ==========================  ===================================
``abs(value)``     unit                        e.g. 2025-11-21T04:40:00Z
=================  ==========================  ===================================
below 1e11         seconds                     ``1763700000`` or ``1763700000.123``
1e11 up to 1e14    milliseconds                ``1763700000123``
1e14 up to 1e17    microseconds                ``1763700000123456``
1e17 and above     nanoseconds                 ``1763700000123456789``
=================  ==========================  ===================================

The bounds are far apart: seconds reach 1e11 in the year 5138, and milliseconds are above 1e11
from 1973 on, so any time after 2000 (``ingest.earliest_ts``) has exactly one reading. Fractions
are kept to the nanosecond where the unit allows (a float of seconds holds about a microsecond).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from faultline.ingest.errors import PayloadError, shown

MS = 1_000_000  # nanoseconds per millisecond
#: [low, high) of a number read as epoch milliseconds; the hot path checks this range only
MS_RANGE = (100_000_000_000, 100_000_000_000_000)
_UNITS = ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000))  # (below, ns per unit)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"^(.*\d\d:?\d\d:?\d\d)[.,](\d+)(.*)$")


def ns_per_unit(value: int | float) -> int:
    """Nanoseconds per unit of an epoch number of this size.

    >>> ns_per_unit(1763700000), ns_per_unit(1763700000123), ns_per_unit(1763700000123456)
    (1000000000, 1000000, 1000)
    >>> ns_per_unit(1763700000123456789)
    1
    """
    size = abs(value)
    for below, ns in _UNITS:
        if size < below:
            return ns
    return 1


def timestamp_ns(raw: object, what: str = '"ts"') -> int:
    """Epoch nanoseconds from an epoch number (s, ms, µs or ns by magnitude) or ISO 8601 text with offset.

    Raises `PayloadError` naming ``what`` for any other type, a non-finite number or an ISO string
    without a UTC offset (a local time would be stored hours off without anyone noticing).

    >>> timestamp_ns(1763700000123), timestamp_ns(1763700000), timestamp_ns(1763700000.5)
    (1763700000123000000, 1763700000000000000, 1763700000500000000)
    >>> timestamp_ns(1763700000123456), timestamp_ns(1763700000123456789)
    (1763700000123456000, 1763700000123456789)
    >>> timestamp_ns("2025-11-21T04:40:00.123456789Z")
    1763700000123456789
    """
    # type(raw) is tested, not isinstance: a bool is not a timestamp
    if type(raw) is int:
        return raw * ns_per_unit(raw)
    if type(raw) is float:
        if raw - raw != 0.0:
            raise PayloadError(f"{what} is {raw!r}, expected a finite number")
        unit = ns_per_unit(raw)
        whole = math.floor(raw)  # keeps whole units exact; raw * unit would round them
        return whole * unit + round((raw - whole) * unit)
    if type(raw) is str:
        return iso_ns(raw, what)
    raise PayloadError(
        f"{what} is {shown(raw)}, expected epoch seconds, milliseconds, microseconds or "
        "nanoseconds, or an ISO 8601 string"
    )


def iso_ns(text: str, what: str) -> int:
    """Epoch nanoseconds of ISO 8601 ``text`` with a UTC offset (every fraction digit to the ns)."""
    fraction_ns = 0
    match = _FRACTION.match(text)
    if match:  # datetime keeps microseconds only; keep every digit up to nanoseconds
        text = match.group(1) + match.group(3)
        fraction_ns = int(match.group(2)[:9].ljust(9, "0"))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{what} {shown(text)} is not an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        raise PayloadError(f"{what} {shown(text)} has no UTC offset; add Z or +hh:mm")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000 + fraction_ns


def hours(ns: int) -> str:
    """``ns`` as hours for a reason text; past a trillion hours it says so (Python ints from JSON such
    as 10**400 would overflow a float, and the digits of 1e308 ns in hours help nobody).

    >>> hours(5_400_000_000_000), hours(10**320)
    ('1.5 h', 'more than 1e+12 h')
    """
    if ns > 3_600_000_000_000 * 10**12:
        return "more than 1e+12 h"
    return f"{ns / 3.6e12:.1f} h"


def iso(ns: int) -> str:
    """``ns`` as ISO 8601 UTC text for a reason."""
    try:
        return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return "out of the calendar's range"


__all__ = ["MS", "MS_RANGE", "hours", "iso", "iso_ns", "ns_per_unit", "timestamp_ns"]
