"""The shared vocabulary: backoff and durations (clocks, severity and stream keys are doctested)."""

import random
import re
from datetime import timedelta

import pytest

from faultline.vocabulary import Backoff, parse_duration, parse_seconds


def test_doubles_up_to_the_cap_without_jitter():
    b = Backoff(base=0.5, cap=5, jitter=False)
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_between_half_and_full_delay_and_is_seeded():
    delays = [Backoff(base=1, cap=8, rng=random.Random(7)) for _ in range(2)]
    runs = [[b.next_delay() for _ in range(6)] for b in delays]
    assert runs[0] == runs[1]
    for delay, full in zip(runs[0], [1, 2, 4, 8, 8, 8]):
        assert full / 2 <= delay <= full
    assert len(set(runs[0])) > 1


def test_retry_after_is_honoured_and_capped():
    b = Backoff(base=1, cap=30, jitter=False)
    assert b.next_delay(retry_after=12) == 12.0
    assert b.next_delay(retry_after=600) == 30.0
    assert b.next_delay(retry_after=0.1) == 4.0  # never shorter than our own backoff


def test_reset_starts_over():
    b = Backoff(base=1, cap=30, jitter=False)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.next_delay() == 1.0


def test_many_attempts_do_not_overflow():
    b = Backoff(base=1, cap=30, jitter=False)
    for _ in range(2000):
        delay = b.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize("base, cap", [(0, 1), (2, 1), (-1, 5)])
def test_bad_settings_are_errors(base, cap):
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)


def test_attempts_counted_elsewhere_give_the_same_delays():
    kept = Backoff(base=2, cap=300, rng=random.Random(3))
    counted, rng = Backoff(base=2, cap=300), random.Random(3)
    assert [kept.next_delay() for _ in range(9)] == [counted.delay(n, rng=rng) for n in range(1, 10)]
    assert Backoff(base=2, cap=300, jitter=False).delay(3, retry_after=20) == 20.0


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90m", 5400),
        ("2h", 7200),
        ("7d", 604800),
        ("2w", 1209600),
        ("1d12h", 129600),
        ("1h 30m", 5400),
        ("15 min", 900),
        ("250ms", 0.25),
        ("4H", 14400),
        (30, 30),
        (2.5, 2.5),
        ("90", 90),
        ("-5s", -5),
        ("+5s", 5),
        ("PT15M", 900),
        ("P1DT2H", 93600),
        ("P2W", 1209600),
        ("pt0.5s", 0.5),
        ("-PT1M", -60),
        (timedelta(minutes=3), 180),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "soon", "7 days", "2 hours", "5x", "1h30", "P", "PT", "P1Y", "P1M", "P1DT", "h", "--5s", True]
)
def test_bad_durations_name_the_value(text):
    with pytest.raises(ValueError, match=f"not a duration: {re.escape(repr(text))}"):
        parse_duration(text)


def test_seconds_are_never_negative():
    assert parse_seconds("1d12h") == 129600 and parse_seconds("250ms") == 0.25 and parse_seconds("PT1M") == 60
    for bad in ("-5", -5, "-PT1S"):
        with pytest.raises(ValueError, match="must be >= 0"):
            parse_seconds(bad)
