"""The `jsonl` sink: one JSON object per sample, to a file or stdout.

Each line is ``{"name", "labels": {...}, "value", "timestamp_ms"}``. JSON has
no NaN or infinity, so those values are written as the strings ``"NaN"``,
``"+Inf"`` and ``"-Inf"`` (as Prometheus's HTTP API does). A stale marker is
written with ``"value": "NaN"`` and ``"stale": true``.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import BinaryIO

import orjson

from openagent.model import ScrapeResult, Series
from openagent.sinks.base import Batch, SinkError


def _prefix(series: Series) -> bytes:
    cached = series.enc_jsonl
    if cached is None:
        head = orjson.dumps({"name": series.name, "labels": dict(series.labels)})
        cached = series.enc_jsonl = head[:-1] + b',"value":'
    return cached


def format_value(value: float) -> bytes:
    """Encode a sample value as JSON (non-finite values as Prometheus-style strings)."""
    if math.isfinite(value):
        return orjson.dumps(value)
    if math.isnan(value):
        return b'"NaN"'
    return b'"+Inf"' if value > 0 else b'"-Inf"'


def encode_result(result: ScrapeResult) -> bytes:
    """All lines for one result: its samples, then its stale markers."""
    out = bytearray()
    ts_list = result.timestamps
    default_ts = b',"timestamp_ms":%d}\n' % result.timestamp_ms
    for i, (series, value) in enumerate(zip(result.series, result.values, strict=True)):
        out += _prefix(series)
        out += format_value(value)
        out += default_ts if ts_list is None else b',"timestamp_ms":%d}\n' % ts_list[i]
    stale_tail = b'"NaN","timestamp_ms":%d,"stale":true}\n' % result.timestamp_ms
    for series in result.stale:
        out += _prefix(series)
        out += stale_tail
    return bytes(out)


class JsonlSink:
    """Writes samples as JSON lines to ``path`` (``-`` means stdout)."""

    max_batch_delay = 0.0

    def __init__(self, path: str = "-") -> None:
        self.name = "jsonl"
        self.path = path
        self._file: BinaryIO | None = None

    def encode(self, result: ScrapeResult) -> list[Batch]:
        """One batch per result: its lines."""
        data = encode_result(result)
        if not data:
            return []
        count = len(result.series) + len(result.stale)
        return [Batch(data, count, result.timestamp_ms)]

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

    async def send(self, batch: Batch) -> None:
        """Write one batch; the blocking write runs off the event loop."""
        if self._file is None:
            await self.start()
        f = self._file
        assert f is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, _write, f, batch.payload)
        except OSError as exc:
            raise SinkError(f"writing {self.path}: {exc}", retryable=True) from exc

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
