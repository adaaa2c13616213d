"""Per-target parsing of the delimited protobuf exposition, through the same builder as text.

`decode_protobuf` gives flat samples and native histograms with their
exposed names and labels; this parser turns each into the target's output
`Series` with the builder the text parser uses (target labels,
``honor_labels``, metric relabelling, label limits), so a native histogram
is relabelled exactly as a flat series is. The outcome is a `Parsed` whose
``histograms`` hold the native histograms' series and values. `parse_async`
lets the event loop run between chunks, as the text parser does.

The table maps ``(name, exposed labels)`` to the output series (or
`DROPPED`). Protobuf gives no series text to key by, so a known series costs
a tuple hash instead of the text parser's two string lookups; the protobuf
path is not the one dcgm-exporter serves, so it was not tuned further.
Equal exposed label tuples are interned, so that the series of one label
block share their labels as they do on the text path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Final

from openagent.exposition.errors import LimitExceeded
from openagent.exposition.limits import Limits
from openagent.exposition.parsed import DROPPED, Builder, Parsed
from openagent.exposition.protobuf import decode_steps
from openagent.model import Labels, Metadata, NativeHistogram, Series

_NO_LIMITS: Final = Limits()
#: Metrics decoded (and samples built) between two chances for the event loop to run: a
#: warm metric with five labels costs about 8 µs (``benchmarks/native_histogram_bench.py``),
#: so the loop waits some 16 ms at most, as long as the text parser's chunks take.
_CHUNK: Final = 2_000


class ProtobufParser:
    """Parses the protobuf bodies of one target; keeps its series table and metadata."""

    def __init__(
        self, build: Builder, limits: Limits = _NO_LIMITS, max_cache_entries: int = 500_000
    ) -> None:
        if max_cache_entries < 1:
            raise ValueError("max_cache_entries must be at least 1")
        self._build = build
        self._limits = limits
        self._max = max_cache_entries
        self._table: dict[tuple[str, Labels], object] = {}
        self._blocks: dict[Labels, Labels] = {}
        self._metadata: dict[str, Metadata] = {}

    @property
    def cache_size(self) -> int:
        """Entries in the series table (kept and dropped series)."""
        return len(self._table)

    def prune(self, keep: Callable[[object], bool]) -> None:
        """Forget the series for which ``keep`` is false, and every dropped mark."""
        self._table = {k: e for k, e in self._table.items() if e is not DROPPED and keep(e)}
        self._blocks.clear()

    def parse(self, body: bytes, *, default_ts_ms: int) -> Parsed:
        """Parse one body: a `ProtobufError` when malformed, `LimitExceeded` over a limit.

        A sample's timestamp is the exposition's when set and positive, else
        ``default_ts_ms``; ``timestamps`` is None when no sample carried one.
        """
        return _drive(self._steps(body, default_ts_ms, 0))

    async def parse_async(self, body: bytes, *, default_ts_ms: int, chunk: int = _CHUNK) -> Parsed:
        """Like `parse`, letting the event loop run every ``chunk`` metrics and samples."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        steps = self._steps(body, default_ts_ms, chunk)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                parsed: Parsed = done.value
                return parsed
            await asyncio.sleep(0)

    def _steps(self, body: bytes, default_ts_ms: int, chunk: int) -> Generator[None, None, Parsed]:
        decoded = yield from decode_steps(body, default_ts_ms, chunk)
        series: list[Series] = []
        values: list[float] = []
        stamps: list[int] = []
        dropped = 0
        for n, (name, labels, value, ts) in enumerate(decoded.samples, 1):
            entry = self._entry(name, labels)
            if entry is DROPPED:
                dropped += 1
            else:
                series.append(entry)  # type: ignore[arg-type]
                values.append(value)
                stamps.append(ts)
            if chunk and n % chunk == 0:
                yield
        hist_series: list[Series] = []
        hists: list[NativeHistogram] = []
        hist_stamps: list[int] = []
        for name, labels, histogram, ts in decoded.histograms:
            entry = self._entry(name, labels)
            if entry is not DROPPED:
                hist_series.append(entry)  # type: ignore[arg-type]
                hists.append(histogram)
                hist_stamps.append(ts)
        limit = self._limits.sample_limit
        if limit and len(values) + len(hists) > limit:
            raise LimitExceeded(
                "sample_limit",
                f"{len(values)} samples and {len(hists)} native histograms, limit {limit}",
            )
        changed = decoded.metadata != self._metadata
        if changed:
            self._metadata = decoded.metadata
        return Parsed(
            series,
            values,
            _unless_all(stamps, default_ts_ms),
            len(decoded.samples) + len(decoded.histograms),
            self._metadata,
            changed,
            histograms=hist_series,
            histogram_values=hists,
            histogram_timestamps=_unless_all(hist_stamps, default_ts_ms),
        )

    def _entry(self, name: str, labels: Labels) -> object:
        entry = self._table.get((name, labels))
        if entry is not None:
            return entry
        if len(self._table) >= self._max:
            self._table.clear()
        if len(self._blocks) >= self._max:
            self._blocks.clear()
        labels = self._blocks.setdefault(labels, labels)
        made = self._build(name, labels)
        if made is None:
            entry = DROPPED
        else:
            if self._limits.on_labels:
                self._limits.check(made)
            entry = made
        self._table[name, labels] = entry
        return entry


def _drive(steps: Generator[None, None, Parsed]) -> Parsed:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            parsed: Parsed = done.value
            return parsed


def _unless_all(stamps: list[int], default: int) -> list[int] | None:
    """``stamps``, or None when every one is ``default``."""
    for ts in stamps:
        if ts != default:
            return stamps
    return None
