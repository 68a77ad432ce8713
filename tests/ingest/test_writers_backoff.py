"""Capped, jittered exponential backoff that honours Retry-After."""

import random

import pytest

from ingest.writers import Backoff


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
