"""When to scrape: stable per-target offsets and the adaptive timeout.

Every target gets an offset inside its interval, derived from a hash of its
identity and a per-agent seed, so targets found together do not fire
together and a restarted agent keeps its rhythm. Scrapes are due at
``offset + k * interval`` on the wall clock, and start at the next tick of a
grid shared by all targets (`wake_time`), so that the scrapes due within one
tick start in one wake-up of the event loop.
"""

from __future__ import annotations

import hashlib
import math


def offset_for(target_id: str, interval: float, seed: str = "") -> float:
    """Stable offset in ``[0, interval)`` for ``target_id``."""
    digest = hashlib.blake2b(f"{seed}\x00{target_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def next_time(now: float, interval: float, offset: float) -> float:
    """The first scrape time ``offset + k * interval`` that is not before ``now``."""
    k = math.ceil((now - offset) / interval)
    return offset + k * interval


def wake_time(due: float, quantum: float) -> float:
    """The first tick of the ``quantum`` grid (seconds since the epoch) at or after ``due``.

    At 1,000 targets on a 15 s interval, 67 scrapes a second each woke the
    event loop on their own; with a 0.25 s grid about 17 start per wake-up.
    The grid delays a scrape by less than one quantum and keeps each target's
    spacing (the interval is a multiple of the quantum), and a scrape's
    timestamp is still the time it actually starts.
    """
    if quantum <= 0:
        return due
    return math.ceil(due / quantum - 1e-9) * quantum


def grid_step(quantum: float, interval: float) -> float:
    """The wake-up grid for targets of ``interval``: ``quantum``, or finer for short
    intervals (at least 20 ticks per interval), and always a divisor of the interval, so
    that a target's scrapes stay evenly spaced. 0 means no grid."""
    if quantum <= 0 or interval <= 0:
        return 0.0
    return interval / max(20, math.ceil(interval / quantum - 1e-9))


class AdaptiveTimeout:
    """The Go agent's adaptive timeout, kept within the interval.

    After ``failure_threshold`` consecutive timeouts the timeout grows by
    ``multiplier``, up to min(5 x base, interval - 5 s) (the interval term only
    when the interval is above 5 s), and never beyond the interval itself, so
    scrapes of one target cannot overlap. Any success resets it to the base;
    other errors leave it alone.
    """

    __slots__ = ("base", "consecutive", "current", "enabled", "maximum", "multiplier", "threshold")

    def __init__(
        self,
        base: float,
        interval: float,
        *,
        enabled: bool = True,
        failure_threshold: int = 2,
        multiplier: float = 2.0,
    ) -> None:
        self.base = base
        self.current = base
        self.enabled = enabled
        self.threshold = max(1, failure_threshold)
        self.multiplier = multiplier
        cap = 5 * base
        if interval > 5:
            cap = min(cap, interval - 5)
        self.maximum = min(max(cap, base), interval)
        self.consecutive = 0

    def on_success(self) -> None:
        """A scrape succeeded: back to the base timeout."""
        self.current = self.base
        self.consecutive = 0

    def on_timeout(self) -> None:
        """A scrape timed out: grow after enough consecutive timeouts."""
        if not self.enabled:
            return
        self.consecutive += 1
        if self.consecutive >= self.threshold:
            self.current = min(self.current * self.multiplier, self.maximum)
            self.consecutive = 0
