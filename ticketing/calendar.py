"""Business time: how much of a stretch of time counts towards an SLA at one site.

A site works in *windows* of local wall-clock time (Monday 08:00–17:00, …) and not on its public
holidays. Business time between two instants is the real time that lies inside those windows: the
length of the overlap, measured on the UTC time line. So a window that spans a daylight-saving change
is as long as the clocks on the wall say it lasted (a 00:00–24:00 window is 23 h on the last Sunday
of March in Berlin), and arithmetic never goes through wall-clock `datetime` subtraction, which
Python does naively when both sides share a time zone.

``add(start, d)`` is the *earliest* instant at which ``d`` of business time has passed since
``start``. For ``d > 0`` that instant lies inside a working window (it may be the window's closing
time: a deadline of Friday 17:00 is met by work done before close of business), wherever ``start``
lies; the clock of a job opened on Saturday starts on Monday morning. By that definition
``elapsed(start, add(start, d)) == d`` for every ``start``.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from faultline.vocabulary import require_aware

#: A working window as offsets from local midnight: ``(08:00, 17:00)`` is
#: ``(timedelta(hours=8), timedelta(hours=17))``; the end may be 24:00.
Span = tuple[timedelta, timedelta]

_DAY = timedelta(days=1)
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(text: str) -> Span:
    """The working window written ``"08:00-17:00"`` (``"22:00-24:00"`` reaches midnight).

    >>> parse_span("08:00-17:30")
    (datetime.timedelta(seconds=28800), datetime.timedelta(seconds=63000))
    """
    match = _SPAN.match(text)
    if not match:
        raise ValueError(f"not a working window: {text!r} (write e.g. 08:00-17:00)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if m1 > 59 or m2 > 59:
        raise ValueError(f"not a working window: {text!r} (minutes run 00-59)")
    return _checked_span((timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)), text)


def _checked_span(span: Span, shown: object) -> Span:
    start, end = span
    if not timedelta(0) <= start < end <= _DAY:
        raise ValueError(f"working window {shown!r} must start before it ends, within 00:00-24:00")
    return span


def zone(tz: ZoneInfo | str) -> ZoneInfo:
    """A `ZoneInfo` from itself or an IANA name, with an error naming a bad name."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)") from exc


class Calendar(Protocol):
    """What SLA code needs from a calendar; `BusinessCalendar` and `AlwaysOpen` both provide it."""

    tz: ZoneInfo

    def add(self, start: datetime, duration: timedelta) -> datetime: ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta: ...

    def is_open(self, at: datetime) -> bool: ...


def _utc(value: datetime, what: str) -> datetime:
    return require_aware(value, what).astimezone(UTC)


def _check_duration(duration: timedelta) -> None:
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration!r}")


class AlwaysOpen:
    """The 24×7 calendar: every second counts. Results are shown in ``tz``.

    >>> cal = AlwaysOpen("Europe/Berlin")
    >>> cal.add(datetime(2026, 3, 29, 1, 30, tzinfo=cal.tz), timedelta(hours=1)).isoformat()
    '2026-03-29T03:30:00+02:00'
    """

    def __init__(self, tz: ZoneInfo | str = "UTC"):
        self.tz = zone(tz)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _check_duration(duration)
        return (_utc(start, "start") + duration).astimezone(self.tz)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return _utc(end, "end") - _utc(start, "start")

    def is_open(self, at: datetime) -> bool:
        require_aware(at, "time")
        return True

    def __repr__(self) -> str:
        return f"AlwaysOpen({self.tz.key!r})"


class BusinessCalendar:
    """Working windows per weekday in a site's time zone, closed on holidays.

    Parameters
    ----------
    tz
        The site's IANA time zone (``"Europe/Berlin"``) or a `ZoneInfo`.
    hours
        Weekday (0 = Monday … 6 = Sunday) to its working windows, as `Span` offsets from local
        midnight; a weekday that is absent is not worked.
    holidays
        Dates (local) on which the site does not work, e.g. ``holidays.country_holidays("DE",
        subdiv="BE")`` or a set of `date`.
    max_closed_days
        How many days in a row without a working window make ``add`` give up: a calendar that never
        opens would otherwise search forever.

    Examples
    --------
    >>> cal = BusinessCalendar("Europe/Berlin", {d: [parse_span("08:00-17:00")] for d in range(5)})
    >>> friday = datetime(2026, 11, 20, 16, 0, tzinfo=cal.tz)
    >>> cal.add(friday, timedelta(hours=2)).isoformat()
    '2026-11-23T09:00:00+01:00'
    >>> cal.elapsed(friday, datetime(2026, 11, 23, 9, 0, tzinfo=cal.tz))
    datetime.timedelta(seconds=7200)
    """

    def __init__(
        self,
        tz: ZoneInfo | str,
        hours: Mapping[int, Sequence[Span]],
        holidays: Container[date] = frozenset(),
        *,
        max_closed_days: int = 3660,
    ):
        self.tz = zone(tz)
        self.hours = {day: self._checked_day(day, spans) for day, spans in hours.items() if spans}
        if not self.hours:
            raise ValueError("a business calendar needs working hours on at least one weekday")
        self.holidays = holidays
        self.max_closed_days = max_closed_days
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @staticmethod
    def _checked_day(day: int, spans: Iterable[Span]) -> tuple[Span, ...]:
        if day not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {day!r}")
        ordered = tuple(sorted(_checked_span(tuple(s), s) for s in spans))  # type: ignore[arg-type]
        for (_, end), (start, _) in zip(ordered, ordered[1:]):
            if start < end:
                raise ValueError(f"working windows on {WEEKDAYS[day]} overlap: {ordered!r}")
        return ordered

    def _instant(self, day: date, offset: timedelta) -> datetime:
        # Wall-clock time of that day; a time that does not exist (02:30 when clocks spring forward)
        # resolves with the offset before the change, as `zoneinfo` does for fold=0.
        wall = datetime.combine(day, time()) + offset
        return wall.replace(tzinfo=self.tz).astimezone(UTC)

    def windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working windows of one local date as ``(start, end)`` UTC instants; () when closed."""
        cached = self._cache.get(day)
        if cached is None:
            if day in self.holidays:
                cached = ()
            else:
                pairs = ((self._instant(day, s), self._instant(day, e)) for s, e in self.hours.get(day.weekday(), ()))
                # a window squeezed to nothing by a DST jump is no window
                cached = tuple((s, e) for s, e in pairs if s < e)
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[day] = cached
        return cached

    def _local_date(self, at_utc: datetime) -> date:
        return at_utc.astimezone(self.tz).date()

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which ``duration`` of business time has passed since ``start``."""
        start_utc = _utc(start, "start")
        _check_duration(duration)
        if not duration:
            return start_utc.astimezone(self.tz)
        remaining = duration
        day = self._local_date(start_utc)
        closed_days = 0
        while True:
            windows = self.windows(day)
            for opens, closes in windows:
                if closes <= start_utc:
                    continue
                begin = max(opens, start_utc)
                if remaining <= closes - begin:
                    return (begin + remaining).astimezone(self.tz)
                remaining -= closes - begin
            closed_days = 0 if windows else closed_days + 1
            if closed_days > self.max_closed_days:
                raise ValueError(f"calendar has no working time for {self.max_closed_days} days after {day}")
            day += _DAY

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; negative when ``end`` is before ``start``."""
        start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
        if end_utc < start_utc:
            return -self.elapsed(end, start)
        total = timedelta(0)
        day, last = self._local_date(start_utc), self._local_date(end_utc)
        while day <= last:
            for opens, closes in self.windows(day):
                overlap = min(closes, end_utc) - max(opens, start_utc)
                if overlap > timedelta(0):
                    total += overlap
            day += _DAY
        return total

    def is_open(self, at: datetime) -> bool:
        """True when ``at`` lies inside a working window (its opening included, its closing not)."""
        at_utc = _utc(at, "time")
        return any(opens <= at_utc < closes for opens, closes in self.windows(self._local_date(at_utc)))

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.tz.key!r}, {len(self.hours)} working weekdays)"


__all__ = ["AlwaysOpen", "BusinessCalendar", "Calendar", "Span", "WEEKDAYS", "parse_span", "zone"]
