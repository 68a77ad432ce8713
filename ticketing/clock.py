"""Where SLA code gets the time from, so that tests move time instead of sleeping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BeforeValidator


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
    """Anything with ``now()`` returning an aware datetime."""

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
    """A clock that moves only when a test says so.

    >>> clock = ManualClock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=90)).isoformat()
    '2026-03-02T09:30:00+00:00'
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


_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|min|m|s)", re.IGNORECASE)
_UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1),
         "min": timedelta(minutes=1), "s": timedelta(seconds=1)}


def parse_duration(value: object) -> timedelta:
    """A `timedelta` from ``"15m"``, ``"4h"``, ``"1h30m"``, ``"7d"``, ``"2w"``, seconds, or a timedelta.

    ISO 8601 durations (``"PT15M"``) are passed on for pydantic to read.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip()
    if text.upper().startswith("P"):
        return value  # type: ignore[return-value]  # pydantic's own ISO 8601 parser takes it from here
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise ValueError(f"not a duration: {value!r} (write e.g. 15m, 4h, 1h30m, 7d or PT15M)")
    return sum((float(n) * _UNIT[u.lower()] for n, u in parts), timedelta(0))


#: A configuration field holding a duration written ``15m``, ``4h``, ``7d`` or ISO 8601.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


__all__ = ["Duration", "parse_duration", "Clock", "FixedClock", "ManualClock", "NaiveDatetimeError", "SystemClock", "require_aware"]
