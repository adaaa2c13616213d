"""How long to wait before sending a batch again: capped exponential backoff with jitter."""

from __future__ import annotations

import random


class Backoff:
    """Delays for the retries of one batch.

    The n-th retry waits ``initial * multiplier**n`` seconds, capped at
    ``maximum``, times a random factor in ``[1 - jitter, 1 + jitter]`` (so
    that many agents do not retry in step). With the default jitter of 0.2
    and multiplier 2, each wait is longer than the one before. A server's
    ``Retry-After`` hint replaces the computed wait (never shortened, capped
    at ``retry_after_max``, plus up to 10 % so that clients spread out).
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        retry_after_max: float = 300.0,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"need 0 < initial ({initial}) <= maximum ({maximum})")
        if multiplier < 1 or not 0 <= jitter < 1:
            raise ValueError("need multiplier >= 1 and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.retry_after_max = retry_after_max
        self._next = initial

    def reset(self) -> None:
        """Start over (a new batch, or the last send succeeded)."""
        self._next = self.initial

    def next(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt."""
        base = self._next
        self._next = min(self._next * self.multiplier, self.maximum)
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.retry_after_max) * random.uniform(1.0, 1.1)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)
