"""Samples whose exposed timestamp no receiver would take are dropped at scrape time.

Measured: one target exposing a sample stamped hours in the past made a real
Prometheus reject whole remote-write requests (its write handler answers 400
for the request when one sample is out of bounds), so that target's neighbours
in the same batch were lost with it. Prometheus's own scraper meets the same
bound one sample at a time: its head appender refuses a sample older than
``appendableMinValidTime``, the newest time in the head less half the block
range (2 h by default), so 1 h behind its newest sample. The agent cannot read
a receiver's newest time; its own clock stands in for it.

The default age bound is 50 minutes: that hour, less 10 minutes for the time a
sample spends in the agent's batches, queues and retries before it arrives.
Samples stamped more than 10 minutes ahead of the agent's clock are a clock
error on the exporter's side (VictoriaMetrics, for one, refuses samples far
ahead). Either bound is 0 to leave that side open.

Only samples that carry a timestamp of their own are checked, and only when
the target's timestamps are honoured; dcgm-exporter writes none, and a parse
without any pays nothing here (`Parsed.timestamps` is None). When some are
there, one ``min`` and one ``max`` over the stamps settle the usual case where
all are in bounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from openagent.model import Series
from openagent.scrape.errors import shown
from openagent.scrape.repeats import RepeatGate
from openagent.telemetry import get_logger

log = get_logger("scrape")

#: Default `TimestampBounds.max_age`, in seconds (see the module docs).
DEFAULT_MAX_AGE = 50 * 60.0
#: Default `TimestampBounds.max_ahead`, in seconds.
DEFAULT_MAX_AHEAD = 10 * 60.0


@dataclass(frozen=True, slots=True)
class TimestampBounds:
    """How far from the agent's clock an exposed timestamp may be, in seconds (0: no bound)."""

    max_age: float = DEFAULT_MAX_AGE
    max_ahead: float = DEFAULT_MAX_AHEAD

    def window(self, now_ms: int) -> tuple[int | None, int | None]:
        """The oldest and newest timestamps (ms) taken at ``now_ms``; None where open."""
        oldest = now_ms - int(self.max_age * 1000) if self.max_age > 0 else None
        newest = now_ms + int(self.max_ahead * 1000) if self.max_ahead > 0 else None
        return oldest, newest


@dataclass(slots=True)
class OutOfBounds:
    """The samples of one scrape that are in bounds, and the first one that is not."""

    series: list[Series]
    values: list[float]
    timestamps: list[int]
    dropped: int
    first: Series
    first_ms: int


def _limits(window: tuple[int | None, int | None]) -> tuple[int, int]:
    """The window as two inclusive limits (an open side is no limit)."""
    oldest, newest = window
    return (
        oldest if oldest is not None else -(1 << 63),
        newest if newest is not None else 1 << 63,
    )


def in_bounds(
    series: list[Series],
    values: list[float],
    timestamps: list[int],
    window: tuple[int | None, int | None],
) -> OutOfBounds | None:
    """None when every timestamp lies within ``window``; else the samples that do, and
    what was dropped."""
    lo, hi = _limits(window)
    if not timestamps or (lo <= min(timestamps) and max(timestamps) <= hi):
        return None
    keep = [i for i, ts in enumerate(timestamps) if lo <= ts <= hi]
    first = next(i for i, ts in enumerate(timestamps) if not lo <= ts <= hi)
    return OutOfBounds(
        [series[i] for i in keep],
        [values[i] for i in keep],
        [timestamps[i] for i in keep],
        len(timestamps) - len(keep),
        series[first],
        timestamps[first],
    )


def histograms_in_bounds(
    keep: list[int], timestamps: list[int], window: tuple[int | None, int | None]
) -> list[int]:
    """The positions of ``keep`` whose native histogram's timestamp lies within ``window``."""
    lo, hi = _limits(window)
    return [i for i in keep if lo <= timestamps[i] <= hi]


class TimestampGuard:
    """One target's bounds check: filters a scrape's samples, counts what it dropped, and
    names the drops in one log line per ``period`` (the target's interval)."""

    __slots__ = ("_gate", "_unlogged", "_where", "bounds", "dropped", "first")

    def __init__(
        self,
        bounds: TimestampBounds,
        period: float,
        where: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self._where = where
        self._gate = RepeatGate(period, clock)
        self._unlogged = 0
        #: Samples dropped in the current scrape, and the first of them with its time.
        self.dropped = 0
        self.first: tuple[Series, int] | None = None

    def samples(
        self, series: list[Series], values: list[float], timestamps: list[int], now_ms: int
    ) -> tuple[list[Series], list[float], list[int]]:
        """The samples of a scrape whose timestamps lie within bounds."""
        out = in_bounds(series, values, timestamps, self.bounds.window(now_ms))
        if out is None:
            return series, values, timestamps
        self.dropped += out.dropped
        self.first = self.first or (out.first, out.first_ms)
        return out.series, out.values, out.timestamps

    def histograms(
        self, series: list[Series], keep: list[int], timestamps: list[int], now_ms: int
    ) -> list[int]:
        """The positions of ``keep`` whose native histograms lie within bounds."""
        kept = histograms_in_bounds(keep, timestamps, self.bounds.window(now_ms))
        if len(kept) < len(keep):
            self.dropped += len(keep) - len(kept)
            inside = set(kept)
            first = next(i for i in keep if i not in inside)
            self.first = self.first or (series[first], timestamps[first])
        return kept

    def done(self, now_ms: int) -> int:
        """End of a scrape: log the drops when this period has no line yet; return how many
        samples this scrape dropped."""
        dropped, first = self.dropped, self.first
        self.dropped, self.first = 0, None
        if first is None:
            return dropped
        self._unlogged += dropped
        if self._gate.admit("out of bounds") is not None:
            series, ts = first
            log.warning(
                "samples with out-of-bounds timestamps dropped",
                **self._where,
                samples=self._unlogged,
                series=shown(series.name),
                timestamp_ms=ts,
                seconds_from_now=round((ts - now_ms) / 1000, 3),
                max_age_seconds=self.bounds.max_age,
                max_ahead_seconds=self.bounds.max_ahead,
            )
            self._unlogged = 0
        return dropped
