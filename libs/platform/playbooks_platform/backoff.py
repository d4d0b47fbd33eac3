"""Retry delays with jitter: replicas that failed together must not retry together.

Without jitter every replica of a service that lost the database or the broker at the same
moment retries at the same moments too (0.2 s, 0.4 s, 0.8 s...), and the recovering server
takes their reconnects in bursts. "Equal jitter" keeps half of each delay and draws the other
half at random: a retry never comes sooner than half the nominal delay (a quick first retry
stays quick), and replicas spread over the other half.
"""

from __future__ import annotations

import random

_random = random.Random()  # its own generator: nothing else's seed decides when replicas retry


def jittered(delay: float) -> float:
    """A delay between ``delay / 2`` and ``delay``, uniformly."""
    if delay <= 0:
        return 0.0
    half = delay / 2
    return half + _random.uniform(0, half)


class Backoff:
    """Exponential delays with equal jitter, capped: ``next()`` for each failed try, ``reset()`` after success."""

    def __init__(self, base: float, cap: float, factor: float = 2.0) -> None:
        self.base, self.cap, self.factor = base, cap, factor
        self._nominal = base

    def next(self) -> float:
        """The delay to wait before the next try (jittered), and double the nominal one for the try after."""
        delay = jittered(min(self._nominal, self.cap))
        self._nominal = min(self._nominal * self.factor, self.cap)
        return delay

    def reset(self) -> None:
        self._nominal = self.base
