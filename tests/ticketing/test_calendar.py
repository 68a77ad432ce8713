"""Business time: worked examples, then properties over random instants and durations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from faultline.ticketing.calendar import AlwaysOpen, BusinessCalendar, parse_span
from faultline.vocabulary import NaiveDatetimeError

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {day: [parse_span("08:00-17:00")] for day in range(5)}
DE_BE = holidays.country_holidays("DE", subdiv="BE")
CAL = BusinessCalendar(BERLIN, OFFICE, DE_BE)
H = timedelta(hours=1)


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_the_holiday_table_is_what_the_examples_assume():
    # checked against the `holidays` package, not assumed: 24 Dec is a working day in Berlin
    assert date(2026, 12, 24) not in DE_BE
    assert all(d in DE_BE for d in (date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2026, 3, 8)))


class TestWorkedExamples:
    def test_within_one_day(self):
        assert CAL.add(berlin(2026, 11, 23, 9, 0), 2 * H) == berlin(2026, 11, 23, 11, 0)

    def test_friday_afternoon_rolls_over_the_weekend(self):
        assert CAL.add(berlin(2026, 11, 20, 16, 0), 2 * H) == berlin(2026, 11, 23, 9, 0)

    def test_christmas_eve_afternoon_rolls_over_christmas_and_the_weekend(self):
        # Thu 24 Dec 16:30: 30 min left that day; Fri 25 and Sat 26 are holidays, then Sunday
        assert CAL.add(berlin(2026, 12, 24, 16, 30), 2 * H) == berlin(2026, 12, 28, 9, 30)

    def test_opened_on_a_saturday_starts_on_monday_morning(self):
        assert CAL.add(berlin(2026, 11, 21, 11, 0), 2 * H) == berlin(2026, 11, 23, 10, 0)
        assert CAL.elapsed(berlin(2026, 11, 21, 11, 0), berlin(2026, 11, 23, 10, 0)) == 2 * H

    def test_opened_before_hours_starts_at_opening(self):
        assert CAL.add(berlin(2026, 11, 24, 6, 15), 30 * timedelta(minutes=1)) == berlin(2026, 11, 24, 8, 30)

    def test_opened_after_hours_starts_next_morning(self):
        assert CAL.add(berlin(2026, 11, 24, 19, 45), 3 * H) == berlin(2026, 11, 25, 11, 0)

    def test_a_deadline_may_be_the_closing_time_itself(self):
        assert CAL.add(berlin(2026, 11, 23, 8, 0), 9 * H) == berlin(2026, 11, 23, 17, 0)

    def test_womens_day_is_a_holiday_in_berlin_only(self):
        # Mon 8 Mar 2027 is International Women's Day, a public holiday in Berlin but not in Bavaria
        bavaria = BusinessCalendar(BERLIN, OFFICE, holidays.country_holidays("DE", subdiv="BY"))
        friday = berlin(2027, 3, 5, 16, 0)
        assert CAL.add(friday, 2 * H) == berlin(2027, 3, 9, 9, 0)
        assert bavaria.add(friday, 2 * H) == berlin(2027, 3, 8, 9, 0)

    def test_48_business_hours_span_more_than_a_week_over_new_year(self):
        assert CAL.add(berlin(2026, 12, 24, 16, 30), 48 * H) == berlin(2027, 1, 5, 10, 30)

    def test_lunch_break_is_not_counted(self):
        cal = BusinessCalendar("Europe/Berlin", {0: [parse_span("08:00-12:00"), parse_span("13:00-17:00")]})
        assert cal.add(berlin(2026, 11, 23, 11, 0), 2 * H) == berlin(2026, 11, 23, 14, 0)
        assert cal.elapsed(berlin(2026, 11, 23, 11, 0), berlin(2026, 11, 23, 14, 0)) == 2 * H

    def test_result_is_in_the_site_zone_whatever_the_input_zone(self):
        due = CAL.add(datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 2 * H)
        assert due.tzinfo is BERLIN and due == berlin(2026, 11, 23, 9, 0)

    def test_elapsed_backwards_is_negative(self):
        a, b = berlin(2026, 11, 20, 16, 0), berlin(2026, 11, 23, 9, 0)
        assert CAL.elapsed(b, a) == -CAL.elapsed(a, b) == -2 * H

    def test_is_open(self):
        assert CAL.is_open(berlin(2026, 11, 23, 8, 0))
        assert not CAL.is_open(berlin(2026, 11, 23, 17, 0))
        assert not CAL.is_open(berlin(2026, 12, 25, 10, 0))


@pytest.mark.parametrize(
    "day",
    sorted(
        d for d, _ in holidays.country_holidays("DE", subdiv="BE", years=range(2025, 2029)).items() if d.weekday() < 5
    ),
)
def test_no_business_time_on_a_weekday_holiday(day):
    midnight = datetime(day.year, day.month, day.day, tzinfo=BERLIN)
    assert CAL.elapsed(midnight, midnight + timedelta(days=1)) == timedelta(0)
    assert CAL.add(midnight, timedelta(minutes=1)).date() > day


class TestDaylightSaving:
    def test_24x7_counts_real_hours_across_spring_forward(self):
        cal = AlwaysOpen(BERLIN)
        # Sun 29 Mar 2026 01:30 CET + 1 h = 03:30 CEST (02:00-03:00 does not exist)
        assert cal.add(berlin(2026, 3, 29, 1, 30), H) == berlin(2026, 3, 29, 3, 30)
        assert cal.elapsed(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 23 * H

    def test_24x7_counts_real_hours_across_fall_back(self):
        cal = AlwaysOpen(BERLIN)
        assert cal.elapsed(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 25 * H
        # 01:30 CEST + 2 h = 02:30 CET (the second 02:30 of the night)
        due = cal.add(berlin(2026, 10, 25, 1, 30), 2 * H)
        assert due.utcoffset() == H and (due.hour, due.minute) == (2, 30)

    def test_full_day_windows_are_23_and_25_hours_on_the_change_days(self):
        cal = BusinessCalendar(BERLIN, {d: [parse_span("00:00-24:00")] for d in range(7)})
        assert cal.elapsed(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 23 * H
        assert cal.elapsed(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 25 * H

    def test_office_hours_keep_their_wall_clock_times_after_the_change(self):
        # Friday 16:00 CET before the spring change: Monday's hours are 08:00-17:00 CEST
        due = CAL.add(berlin(2026, 3, 27, 16, 0), 2 * H)
        assert due == berlin(2026, 3, 30, 9, 0) and due.utcoffset() == 2 * H

    def test_night_shift_window_that_spans_the_missing_hour(self):
        cal = BusinessCalendar(BERLIN, {6: [parse_span("01:00-04:00")]})
        # 01:00 CET to 04:00 CEST is two real hours
        assert cal.elapsed(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 29, 5, 0)) == 2 * H


class TestBadInput:
    def test_naive_times_are_refused_naming_the_value(self):
        with pytest.raises(NaiveDatetimeError, match="2026-11-23T09:00:00"):
            CAL.add(datetime(2026, 11, 23, 9, 0), H)
        with pytest.raises(NaiveDatetimeError, match="end"):
            CAL.elapsed(berlin(2026, 11, 23, 9, 0), datetime(2026, 11, 23, 10, 0))

    def test_negative_duration(self):
        with pytest.raises(ValueError, match="negative"):
            CAL.add(berlin(2026, 11, 23, 9, 0), -H)

    @pytest.mark.parametrize("text", ["8-17", "17:00-08:00", "08:00-25:00", "08:61-09:00", ""])
    def test_bad_windows(self, text):
        with pytest.raises(ValueError, match="window"):
            parse_span(text)

    def test_overlapping_windows(self):
        with pytest.raises(ValueError, match="overlap"):
            BusinessCalendar("UTC", {0: [parse_span("08:00-12:00"), parse_span("11:00-13:00")]})

    def test_unknown_zone(self):
        with pytest.raises(ValueError, match="Europe/Berlim"):
            BusinessCalendar("Europe/Berlim", OFFICE)

    def test_calendar_that_never_opens(self):
        with pytest.raises(ValueError, match="at least one weekday"):
            BusinessCalendar("UTC", {})
        every_day = type("Always", (), {"__contains__": lambda self, d: True})()
        with pytest.raises(ValueError, match="no working time"):
            BusinessCalendar("UTC", OFFICE, every_day, max_closed_days=30).add(datetime(2026, 1, 1, tzinfo=UTC), H)


# --- properties ----------------------------------------------------------------------------------

# instants from 2025 to 2028, at minute resolution plus odd seconds, so DST days and holidays are hit
instants = st.integers(min_value=0, max_value=4 * 366 * 24 * 3600).map(
    lambda s: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
)
# the weeks around the DST changes, to hit them often
dst_instants = st.sampled_from(
    [
        datetime(2026, 3, 27, tzinfo=UTC),
        datetime(2026, 10, 23, tzinfo=UTC),
        datetime(2027, 3, 26, tzinfo=UTC),
        datetime(2027, 10, 29, tzinfo=UTC),
    ]
).flatmap(lambda base: st.integers(0, 4 * 24 * 3600).map(lambda s: base + timedelta(seconds=s)))
durations = st.integers(min_value=1, max_value=80 * 3600).map(lambda s: timedelta(seconds=s))
# night shifts, one of them across the hour repeated when DST ends (Sunday 00:30-03:30)
NIGHTS = BusinessCalendar(
    BERLIN, {6: [parse_span("00:30-03:30")], 0: [parse_span("22:00-24:00")], 1: [parse_span("00:00-06:00")]}
)
calendars = st.sampled_from(
    [
        CAL,
        BusinessCalendar(BERLIN, {d: [parse_span("06:00-14:00"), parse_span("14:30-22:00")] for d in range(6)}, DE_BE),
        NIGHTS,
        BusinessCalendar(
            "America/New_York",
            {d: [parse_span("09:00-17:30")] for d in range(5)},
            holidays.country_holidays("US", subdiv="NY"),
        ),
    ]
)


@settings(max_examples=300, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), durations)
def test_a_deadline_lies_inside_working_hours(cal, start, duration):
    due = cal.add(start, duration)
    just_before = due - timedelta(microseconds=1)
    # the instant just before the deadline is working time (not a holiday, not a weekend, not at
    # night): the deadline lies inside a working window or is its closing time
    assert cal.is_open(just_before)


@settings(max_examples=300, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), durations)
def test_adding_then_measuring_round_trips(cal, start, duration):
    assert cal.elapsed(start, cal.add(start, duration)) == duration


@settings(max_examples=300, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), durations)
def test_the_deadline_is_the_earliest_such_instant(cal, start, duration):
    due = cal.add(start, duration)
    assert cal.elapsed(start, due - timedelta(microseconds=1)) < duration


@settings(max_examples=200, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), durations, durations)
def test_monotonic_and_additive(cal, start, d1, d2):
    first = cal.add(start, d1)
    assert cal.add(start, d1 + d2) >= first
    assert cal.add(start, d1 + d2) == cal.add(first, d2)


@settings(max_examples=200, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), st.integers(0, 10 * 24 * 3600), durations)
def test_a_later_start_never_gives_an_earlier_deadline(cal, start, later_by, duration):
    later = start + timedelta(seconds=later_by)
    assert cal.add(later, duration) >= cal.add(start, duration)
    assert cal.elapsed(start, later) <= cal.elapsed(start, later + duration)


@settings(max_examples=200, deadline=None)
@given(calendars, st.one_of(instants, dst_instants), st.one_of(instants, dst_instants))
# found by hypothesis: the end is 02:00 CEST on the night DST ends, a wall time Berlin shows twice
@example(NIGHTS, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC))
def test_measuring_then_adding_lands_at_or_before_the_end(cal, start, end):
    assume(end >= start)
    back = cal.add(start, cal.elapsed(start, end))
    assert back <= end
    # and exactly at the end when the end is working time. Compared as UTC instants: Python never
    # calls a wall time in a repeated hour (here 02:00 in Berlin on the night DST ends) equal to a
    # time of another zone, even when both are the same instant (PEP 495)
    if cal.is_open(end - timedelta(microseconds=1)) and cal.elapsed(start, end) > timedelta(0):
        assert back.astimezone(UTC) == end.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(
    calendars, st.one_of(instants, dst_instants), st.one_of(instants, dst_instants), st.one_of(instants, dst_instants)
)
def test_elapsed_is_additive_over_a_split(cal, a, b, c):
    a, b, c = sorted((a, b, c))
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)
    assert cal.elapsed(a, c) <= c - a


@settings(max_examples=200, deadline=None)
@given(st.one_of(instants, dst_instants), durations)
def test_a_calendar_open_all_week_is_the_24x7_calendar(start, duration):
    all_week = BusinessCalendar(BERLIN, {d: [parse_span("00:00-24:00")] for d in range(7)})
    assert all_week.add(start, duration) == AlwaysOpen(BERLIN).add(start, duration)
