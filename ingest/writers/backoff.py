"""Capped, jittered exponential backoff that honours a server's Retry-After."""

from __future__ import annotations

import random


class Backoff:
    """Delays between retries: ``base * 2**attempt``, capped, with jitter.

    Parameters
    ----------
    base : float
        First delay in seconds.
    cap : float
        No delay is longer than this, not even one a server asks for with Retry-After.
    jitter : bool
        Draw each delay uniformly from ``[d/2, d]`` ("equal jitter"), so that many writers that
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
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, jitter: bool = True,
                 rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base!r}, cap={cap!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt.

        With ``retry_after`` (seconds, from the server) the delay is at least that, still capped.
        """
        delay = min(self.cap, self.base * 2 ** min(self.attempt, 62))
        self.attempt += 1
        if self.jitter:
            delay = self.rng.uniform(delay / 2, delay)
        if retry_after is not None and retry_after > delay:
            delay = min(self.cap, float(retry_after))
        return delay

    def reset(self) -> None:
        """Start over from ``base`` (call after a success)."""
        self.attempt = 0
