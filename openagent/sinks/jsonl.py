"""The `jsonl` sink: one JSON object per sample, to a file or stdout.

Each line is ``{"name", "labels": {...}, "value", "timestamp_ms"}``. JSON has
no NaN or infinity, so those values are written as the strings ``"NaN"``,
``"+Inf"`` and ``"-Inf"`` (as Prometheus's HTTP API does). A stale marker is
written with ``"value": "NaN"`` and ``"stale": true``.

A native histogram is one line too, with ``"histogram"`` in place of
``"value"``: ``{"name", "labels", "histogram": {"schema", "zero_threshold",
"zero_count", "count", "sum", "positive_spans": [[offset, length], ...],
"positive_deltas": [...], "negative_spans", "negative_deltas"},
"timestamp_ms"}``, the buckets as spans and delta counts exactly as scraped
(``sum`` and ``zero_threshold`` written as values are). A native histogram
that went stale is ``"histogram": null`` with ``"stale": true``. Histogram
lines follow the result's samples and stale markers.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import BinaryIO

import orjson

from openagent.model import HistogramSample, ScrapeResult, Series
from openagent.sinks.base import DELIVERED, Batch, Encoded, Sent, SinkError


def _prefix(series: Series, slot: str | None) -> bytes:
    """``{"name":…,"labels":{…},"value":`` of the series, cached in ``slot`` when given."""
    cached: bytes | None = getattr(series, slot) if slot is not None else None
    if cached is None:
        head = orjson.dumps({"name": series.name, "labels": dict(series.labels)})
        cached = head[:-1] + b',"value":'
        if slot is not None:
            setattr(series, slot, cached)
    return cached


def format_value(value: float) -> bytes:
    """Encode a sample value as JSON (non-finite values as Prometheus-style strings)."""
    if math.isfinite(value):
        return orjson.dumps(value)
    if math.isnan(value):
        return b'"NaN"'
    return b'"+Inf"' if value > 0 else b'"-Inf"'


def encode_result(result: ScrapeResult, slot: str | None = None) -> bytes:
    """All lines for one result: its samples, then its stale markers (``slot``: see `_prefix`)."""
    out = bytearray()
    ts_list = result.timestamps
    default_ts = b',"timestamp_ms":%d}\n' % result.timestamp_ms
    for i, (series, value) in enumerate(zip(result.series, result.values, strict=True)):
        out += _prefix(series, slot)
        out += format_value(value)
        out += default_ts if ts_list is None else b',"timestamp_ms":%d}\n' % ts_list[i]
    stale_tail = b'"NaN","timestamp_ms":%d,"stale":true}\n' % result.timestamp_ms
    for series in result.stale:
        out += _prefix(series, slot)
        out += stale_tail
    for h in result.histograms:
        out += histogram_line(h)
    for series in result.stale_histograms:
        line = {"name": series.name, "labels": dict(series.labels), "histogram": None}
        out += orjson.dumps(line)[:-1]
        out += b',"timestamp_ms":%d,"stale":true}\n' % result.timestamp_ms
    return bytes(out)


def histogram_line(sample: HistogramSample) -> bytes:
    """The line of one native histogram (see the module's description)."""
    h = sample.histogram
    line = {
        "name": sample.name,
        "labels": dict(sample.labels),
        "histogram": {
            "schema": h.schema,
            "zero_threshold": _json_float(h.zero_threshold),
            "zero_count": h.zero_count,
            "count": h.count,
            "sum": _json_float(h.sum),
            "positive_spans": h.positive_spans,
            "positive_deltas": h.positive_deltas,
            "negative_spans": h.negative_spans,
            "negative_deltas": h.negative_deltas,
        },
        "timestamp_ms": sample.timestamp_ms,
    }
    return orjson.dumps(line) + b"\n"


def _json_float(x: float) -> float | str:
    """``x``, or the string `format_value` writes for NaN and the infinities."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")


class JsonlSink:
    """Writes samples as JSON lines to ``path`` (``-`` means stdout)."""

    max_batch_delay = 0.0
    stale_markers = True
    native_histograms = True
    loss_reasons: tuple[str, ...] = ()

    def __init__(self, path: str = "-") -> None:
        self.name = "jsonl"
        self.path = path
        self._file: BinaryIO | None = None
        self._slot: str | None = None

    def use_series_slot(self, slot: str | None) -> None:
        """Keep each series' encoded name and labels in ``slot``."""
        self._slot = slot

    def encode(self, result: ScrapeResult) -> Encoded:
        """One batch per result: its lines."""
        data = encode_result(result, self._slot)
        if not data:
            return Encoded([])
        count = len(result.series) + len(result.stale)
        count += len(result.histograms) + len(result.stale_histograms)
        return Encoded([Batch(data, count, result.timestamp_ms)])

    def flush(self) -> list[Batch]:
        """Nothing is held back."""
        return []

    async def start(self) -> None:
        """Open the output file (append) or take stdout."""
        if self.path == "-":
            self._file = sys.stdout.buffer
        else:
            loop = asyncio.get_running_loop()
            self._file = await loop.run_in_executor(None, open, self.path, "ab")

    async def send(self, batch: Batch) -> Sent:
        """Write one batch; the blocking write runs off the event loop."""
        if self._file is None:
            await self.start()
        f = self._file
        assert f is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, _write, f, batch.payload)
        except OSError as exc:
            raise SinkError(f"writing {self.path}: {exc}", retryable=True) from exc
        return DELIVERED

    async def close(self) -> None:
        """Flush; close the file unless it is stdout."""
        f, self._file = self._file, None
        if f is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, f.flush)
        if f is not sys.stdout.buffer:
            f.close()


def _write(f: BinaryIO, data: bytes) -> None:
    f.write(data)
    f.flush()
