"""Exponential backoff with jitter that forgets after a healthy period."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Delays of ``initial·2ⁿ`` capped at ``maximum``, each jittered to 50-100 %.

    A failure that comes more than ``reset_after`` seconds after the retry
    that followed the previous one starts again from ``initial`` (as
    client-go's backoff manager does), so a blip after a long healthy
    stretch is retried quickly while a persistent failure settles at
    ``maximum``.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self._clock = clock
        self._rand = rand
        self._attempt = 0
        self._last: float | None = None

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next try."""
        now = self._clock()
        if self._last is not None and now - self._last > self.reset_after:
            self._attempt = 0
        base = min(self.maximum, self.initial * 2.0 ** min(self._attempt, 62))
        self._attempt += 1
        delay = base * (0.5 + 0.5 * self._rand())
        self._last = now + delay  # the healthy stretch is measured from the retry
        return delay
