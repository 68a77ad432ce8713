"""Business-time deadlines per second: the business calendar with its per-day window cache against
the same arithmetic recomputing each day's windows (zone conversion and holiday look-up) every time.

    .venv/bin/python -m bench.bench_business_time [--orders 20000] [--seed 1]

Both sides compute the corrective policy's two deadlines (2 h response, 48 h resolution on north's
Mon–Fri 08:00–17:00 Berlin calendar with DE-BE holidays) for the same seeded opening times spread
over 2026–2027, and then measure the business time from each opening to a year later (what SLA
reports over a backlog do). Prints orders/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from faultline.ticketing.calendar import BusinessCalendar
from faultline.ticketing.config import default_ticketing_config


class UncachedCalendar(BusinessCalendar):
    """The baseline: every question recomputes the windows of every day it passes."""

    def windows(self, day):
        self._cache.clear()
        return super().windows(day)


def run(calendar, openings) -> float:
    start = time.perf_counter()
    for opened in openings:
        calendar.add(opened, timedelta(hours=2))
        calendar.add(opened, timedelta(hours=48))
    for opened in openings[: len(openings) // 20]:
        calendar.elapsed(opened, opened + timedelta(days=365))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    openings = [base + timedelta(seconds=rng.randrange(2 * 365 * 86400)) for _ in range(args.orders)]
    site = default_ticketing_config().site("north")
    ours = BusinessCalendar(site.timezone, site.business_calendar.hours, site.holidays.table())
    baseline = UncachedCalendar(site.timezone, site.business_calendar.hours, site.holidays.table())
    assert [ours.add(o, timedelta(hours=48)) for o in openings[:200]] == [
        baseline.add(o, timedelta(hours=48)) for o in openings[:200]
    ]
    t_base, t_ours = run(baseline, openings), run(ours, openings)
    print(f"baseline (windows recomputed): {args.orders / t_base:10.0f} orders/s")
    print(f"ours (per-day window cache):   {args.orders / t_ours:10.0f} orders/s")
    print(f"ratio ours / baseline:         {t_base / t_ours:10.2f}x")


if __name__ == "__main__":
    main()
