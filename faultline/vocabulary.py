"""The words every part of Faultline speaks: durations, backoff, clocks, severity, stream keys.

``ingest``, ``detectors`` and ``ticketing`` never import each other; what they must agree on lives
here, once. This module does no I/O and imports nothing from the project, so any part may use it.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, NamedTuple, Protocol, runtime_checkable

from pydantic import BeforeValidator

__all__ = [
    "SEVERITIES",
    "Backoff",
    "Clock",
    "Duration",
    "FixedClock",
    "ManualClock",
    "NaiveDatetimeError",
    "Seconds",
    "Severity",
    "StreamKey",
    "SystemClock",
    "feature_sensor",
    "parse_duration",
    "parse_seconds",
    "require_aware",
]


# --- durations --------------------------------------------------------------------------------

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})\s*(ms|min|s|m|h|d|w)", re.IGNORECASE)
_ISO = re.compile(
    rf"P(?:({_NUMBER})W)?(?:({_NUMBER})D)?(?:T(?:({_NUMBER})H)?(?:({_NUMBER})M)?(?:({_NUMBER})S)?)?", re.IGNORECASE
)
_ISO_UNITS = (timedelta(weeks=1), timedelta(days=1), timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=1))
_HINT = "write e.g. 250ms, 30s, 15m, 1h30m, 7d, 2w, a number of seconds, or PT15M"


def parse_duration(value: object) -> timedelta:
    """A `timedelta` from a duration as people write it in configuration and on the command line.

    Accepted: a `timedelta`; a number of seconds (``90``, ``"90"``); units ``ms``, ``s``, ``m`` or
    ``min``, ``h``, ``d``, ``w``, combined (``"1h30m"``, ``"1d 12h"``); ISO 8601 (``"PT15M"``,
    ``"P1DT2H"``; no years or months, which have no fixed length). A leading ``-`` makes it
    negative (a clock skew); callers that need a length reject negatives themselves.

    >>> parse_duration("1h30m"), parse_duration("250ms"), parse_duration("-5s")
    (datetime.timedelta(seconds=5400), datetime.timedelta(microseconds=250000), datetime.timedelta(days=-1, seconds=86395))
    >>> parse_duration("PT15M") == parse_duration(900) == parse_duration("15 min")
    True
    >>> parse_duration("1h30")
    Traceback (most recent call last):
    ...
    ValueError: not a duration: '1h30' (write e.g. 250ms, 30s, 15m, 1h30m, 7d, 2w, a number of seconds, or PT15M)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} ({_HINT})")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip()
    sign, body = (-1, text[1:].lstrip()) if text.startswith("-") else (1, text.removeprefix("+").lstrip())
    if re.fullmatch(_NUMBER, body):
        return sign * timedelta(seconds=float(body))
    if body[:1] in ("P", "p"):
        iso = _ISO.fullmatch(body)
        if iso and body.upper() not in ("P", "PT") and not body.upper().endswith("T"):
            return sign * sum((float(n) * u for n, u in zip(iso.groups(), _ISO_UNITS) if n), timedelta(0))
    else:
        parts = _PART.findall(body)
        if parts and not _PART.sub("", body).strip():
            return sign * sum((float(n) * _UNITS[u.lower()] for n, u in parts), timedelta(0))
    raise ValueError(f"not a duration: {value!r} ({_HINT})")


def parse_seconds(value: object) -> float:
    """Seconds, as a float, from anything `parse_duration` reads; never negative.

    >>> parse_seconds("1d12h"), parse_seconds(30), parse_seconds("10m"), parse_seconds("250ms")
    (129600.0, 30.0, 600.0, 0.25)
    >>> parse_seconds("-5")
    Traceback (most recent call last):
    ...
    ValueError: duration must be >= 0, got '-5'
    """
    seconds = parse_duration(value).total_seconds()
    if seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds


#: A configuration field holding a duration (``15m``, ``4h``, ``7d``, ``PT15M``, seconds) as a `timedelta`.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
#: The same, held as a non-negative number of seconds.
Seconds = Annotated[float, BeforeValidator(parse_seconds)]


# --- backoff ----------------------------------------------------------------------------------


class Backoff:
    """Delays between retries: ``base * 2**(attempt - 1)``, capped, with jitter, honouring Retry-After.

    Use it with an attempt counter it keeps (`next_delay`, `reset`: a reconnect loop, a writer) or
    with one kept elsewhere (`delay`: a notification whose attempts are counted in a database).

    Parameters
    ----------
    base : float
        First delay in seconds.
    cap : float
        No delay is longer than this, not even one a server asks for with Retry-After.
    jitter : bool
        Draw each delay uniformly from ``[d/2, d]`` ("equal jitter"), so that many clients that
        failed together do not retry together, while no delay collapses to zero.
    rng : random.Random, optional
        Source of jitter; pass a seeded one in tests.

    Examples
    --------
    >>> b = Backoff(base=1, cap=10, jitter=False)
    >>> [b.next_delay() for _ in range(5)]
    [1.0, 2.0, 4.0, 8.0, 10.0]
    >>> b.next_delay(retry_after=30)
    10.0
    >>> b.reset(); b.next_delay(retry_after=3)
    3.0
    >>> Backoff(base=2, cap=300, jitter=False).delay(4)
    16.0
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, jitter: bool = True, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base!r}, cap={cap!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def __repr__(self) -> str:
        return f"Backoff(base={self.base!r}, cap={self.cap!r}, jitter={self.jitter!r})"

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counted from 1).

        With ``retry_after`` (seconds, from the server) the delay is at least that, still capped;
        ``rng`` overrides this backoff's own source of jitter.
        """
        delay = min(self.cap, self.base * 2 ** min(max(attempt - 1, 0), 62))
        if self.jitter:
            delay = (rng or self.rng).uniform(delay / 2, delay)
        if retry_after is not None and retry_after > delay:
            delay = min(self.cap, float(retry_after))
        return delay

    def next_delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt, counting this one."""
        self.attempt += 1
        return self.delay(self.attempt, retry_after)

    def reset(self) -> None:
        """Start over from ``base`` (call after a success)."""
        self.attempt = 0


# --- clocks -----------------------------------------------------------------------------------


class NaiveDatetimeError(ValueError):
    """Raised when a datetime without a time zone reaches code that needs an instant."""

    def __init__(self, value: datetime, what: str = "time"):
        self.value = value
        super().__init__(f"{what} {value.isoformat()!r} has no time zone; give an offset such as +01:00 or Z")


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Return ``value`` unchanged, or raise `NaiveDatetimeError` naming it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(value, what)
    return value


@runtime_checkable
class Clock(Protocol):
    """Where code that needs the time gets it, so that tests move time instead of sleeping:
    anything with ``now()`` returning an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant."""

    def __init__(self, at: datetime):
        # kept in UTC: arithmetic on a zoned datetime is wall-clock arithmetic, wrong across DST
        self._at = require_aware(at, "clock time").astimezone(UTC)

    def now(self) -> datetime:
        return self._at


class ManualClock(FixedClock):
    """A clock that moves only when told to: by a test, or by a replay following its data.

    >>> clock = ManualClock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=90)).isoformat()
    '2026-03-02T09:30:00+00:00'
    >>> clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    Traceback (most recent call last):
    ...
    ValueError: a clock does not run backwards: 2026-03-02T09:00:00+00:00 is before 2026-03-02T09:30:00+00:00
    """

    def advance(self, by: timedelta) -> datetime:
        """Move forward by ``by`` (never backwards) and return the new time."""
        if by < timedelta(0):
            raise ValueError(f"a clock does not run backwards: advance({by!r})")
        self._at = self._at + by
        return self._at

    def set(self, at: datetime) -> datetime:
        """Jump to ``at``, which must not be before the current time."""
        require_aware(at, "clock time")
        if at < self._at:
            raise ValueError(f"a clock does not run backwards: {at.isoformat()} is before {self._at.isoformat()}")
        self._at = at.astimezone(UTC)
        return self._at


# --- severity ---------------------------------------------------------------------------------


class Severity(StrEnum):
    """How bad a finding is: ``low`` < ``medium`` < ``high`` < ``critical`` (members compare equal to
    their names, so ``Severity.HIGH == "high"``).

    >>> Severity("high") == "high", SEVERITIES.index(Severity.CRITICAL)
    (True, 3)
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: The severity names from least to most severe; an index into it is a severity level.
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)


# --- stream keys ------------------------------------------------------------------------------

#: What joins a waveform's sensor and one of its features into the name of the feature's stream.
FEATURE_SEPARATOR = "."


def feature_sensor(sensor: str, feature: str) -> str:
    """The sensor name of the stream that holds ``feature`` of waveform ``sensor``.

    >>> feature_sensor("accel", "rms")
    'accel.rms'
    """
    return f"{sensor}{FEATURE_SEPARATOR}{feature}"


class StreamKey(NamedTuple):
    """One stream of readings: a sensor on an asset (its site is the asset's). Detectors number
    streams by this key; a waveform's features are streams of their own (`feature`).

    >>> key = StreamKey("P-101", "accel")
    >>> key.feature("rms")
    StreamKey(asset='P-101', sensor='accel.rms')
    >>> key.is_feature, key.feature("rms").is_feature
    (False, True)
    """

    asset: str
    sensor: str

    def feature(self, name: str) -> StreamKey:
        """The stream of feature ``name`` of this (waveform) stream."""
        return StreamKey(self.asset, feature_sensor(self.sensor, name))

    @property
    def is_feature(self) -> bool:
        """Whether this stream holds a waveform feature rather than a sensor's own readings."""
        return FEATURE_SEPARATOR in self.sensor
