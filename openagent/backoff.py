"""Capped exponential backoff with jitter, for every retry loop in the agent.

Delivery retries of a batch, reconnects to the Whatap collector and informer
restarts after API errors all wait the same way, so an SRE reads one rule.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays of ``min(maximum, initial * multiplier**n)`` for attempt n, jittered.

    Jitter shortens each delay by a random fraction of up to ``jitter``, so a
    delay never exceeds the cap and many agents do not retry in step; with
    the defaults (multiplier 2, jitter below 0.5) each delay is longer than
    the one before until the cap. With ``reset_after``, a failure that comes
    more than that many seconds after the previous retry starts over from
    ``initial``: a blip after a long healthy stretch is retried quickly, a
    persistent failure settles at ``maximum``. A server's ``Retry-After``
    hint replaces the computed delay: never shortened, capped at
    ``retry_after_max``, plus up to 10 % so that clients spread out.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        reset_after: float | None = None,
        retry_after_max: float = 300.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial}, {maximum}")
        if multiplier < 1 or not 0 <= jitter < 1:
            raise ValueError(f"backoff needs multiplier >= 1 and 0 <= jitter < 1, got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.reset_after = reset_after
        self.retry_after_max = retry_after_max
        self.rng = rng or random.Random()
        self._clock = clock
        self.step = 0
        self._last: float | None = None

    def base(self, step: int) -> float:
        """The delay of attempt ``step`` before jitter."""
        return min(self.maximum, self.initial * self.multiplier ** min(step, 64))

    def next(self, retry_after: float | None = None) -> float:
        """Record a failure; return how long to wait before the next attempt."""
        if self.reset_after is not None:
            now = self._clock()
            if self._last is not None and now - self._last > self.reset_after:
                self.step = 0
        delay = self.base(self.step) * (1 - self.jitter * self.rng.random())
        self.step += 1
        if retry_after is not None and retry_after > 0:
            delay = min(retry_after, self.retry_after_max) * self.rng.uniform(1.0, 1.1)
        if self.reset_after is not None:
            self._last = self._clock() + delay  # the healthy stretch counts from the retry
        return delay

    def reset(self) -> None:
        """Start again from ``initial`` (the last attempt succeeded)."""
        self.step = 0
