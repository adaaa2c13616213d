"""The arithmetic of the performance report: percentiles, histogram deltas, bytes per series.

Pure functions only, so each can be checked on numbers worked out by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

Buckets = dict[float, float]

_LE = re.compile(r'le="([^"]*)"')


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``; None when empty.

    Nearest rank rather than interpolation: the result is always a value that
    was observed, which is what a reader of "p99 scrape duration" expects.
    """
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def counted_percentile(counts: Mapping[int, int], q: float) -> int | None:
    """The nearest-rank ``q`` quantile of values given as ``{value: how many times}``."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)


def parse_histogram(text: str, name: str) -> Buckets:
    """Cumulative bucket counts of histogram ``name`` in a text exposition, by upper bound.

    Series that differ in other labels (``job`` for example) are added up, so the
    result is the histogram of the whole process.
    """
    prefix = f"{name}_bucket{{"
    buckets: Buckets = {}
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        found = _LE.search(line)
        if found is None:
            continue
        bound = float(found.group(1))
        buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_deltas(before: Buckets, after: Buckets) -> Buckets:
    """What each cumulative bucket gained between two readings (a bucket missing before is 0)."""
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of cumulative buckets, interpolated inside its bucket as Prometheus'
    ``histogram_quantile`` does; None without observations.

    The first bucket interpolates from 0 (the lag and duration histograms here
    observe no negative values); a quantile that falls in ``+Inf`` gives the
    highest finite bound, since nothing better is known.
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def bytes_per_series(
    rss_bytes: float, series: int, base_rss_bytes: float | None, base_series: int
) -> float | None:
    """Resident bytes each series beyond the baseline adds: the RSS above the tool's RSS at
    the baseline size, divided by the series added; None when there is no baseline or no
    series were added."""
    if base_rss_bytes is None or series <= base_series:
        return None
    return (rss_bytes - base_rss_bytes) / (series - base_series)


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``, or None when either is missing or the reference is not positive."""
    if value is None or reference is None or reference <= 0 or math.isnan(value):
        return None
    return value / reference
