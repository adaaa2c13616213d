"""When a target's log line may be written again: one gate per kind of line per target.

A target that fails the same way every scrape used to log its error once and
then never again, so an operator reading the log an hour later saw nothing of
a target that was still down; logging every repeat instead writes one line
per scrape per broken target. The gate lets a line through when its text
differs from the last one let through, or when ``period`` passed since then,
and counts what it held back, so the next line says how many repeats it stands
for. The clock is a parameter so tests step it instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RepeatGate:
    """Holds back a line that repeats the last one let through within ``period`` seconds."""

    __slots__ = ("_clock", "_last", "_since", "period", "suppressed")

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self._clock = clock
        self._last: str | None = None
        self._since = 0.0
        #: Lines held back since the last one let through.
        self.suppressed = 0

    def admit(self, text: str) -> int | None:
        """None when ``text`` is to be held back; else the number of lines held back
        before it (then counted from zero again)."""
        now = self._clock()
        if text == self._last and now - self._since < self.period:
            self.suppressed += 1
            return None
        held, self.suppressed = self.suppressed, 0
        self._last, self._since = text, now
        return held

    def reset(self) -> int:
        """Forget the last line (the condition it reported ended); return how many repeats
        of it were held back."""
        held, self.suppressed, self._last = self.suppressed, 0, None
        return held
