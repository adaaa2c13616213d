"""Protobuf encoding of the remote-write 1.0 ``WriteRequest``, written by hand.

The messages (``prometheus/prompb``, remote-write 1.0)::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
                   repeated Histogram histograms = 4; }  (see :mod:`.histograms`)
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

Only varints, 8-byte doubles and length-delimited fields are needed, so no
protobuf runtime is used. A series' labels never change, so their encoding
is built once and shared (see :mod:`.encodings`): a sample then costs the
shared label bytes, one packed double and the result's timestamp bytes.

Labels are sorted by name, ``__name__`` among them (it sorts like any other
name, after upper-case letters). Labels with an empty value are left out: to
Prometheus an empty label is an absent one.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from openagent.model import STALE_NAN_BITS, HistogramSample, Series
from openagent.sinks.remote_write.encodings import (
    COMMON_TS_LEN,
    BlockEncoding,
    SeriesEncodings,
    label_field,
    varint,
)
from openagent.sinks.remote_write.histograms import STALE_HISTOGRAM, histogram_series

__all__ = [
    "COMMON_TS_LEN",
    "STALE_MARKER",
    "WriteRequestBuilder",
    "encode_labels",
    "sorted_labels",
    "timestamp_bytes",
    "varint",
]

#: Little-endian bytes of the staleness marker NaN.
STALE_MARKER: Final = STALE_NAN_BITS.to_bytes(8, "little")

_pack_double = struct.Struct("<d").pack


def sorted_labels(series: Series) -> list[tuple[str, str]]:
    """The series' labels as sent: ``__name__`` included, sorted by name, no empty values."""
    pairs = [("__name__", series.name), *series.labels]
    return sorted((k, v) for k, v in pairs if v)


def encode_labels(series: Series) -> bytes:
    """The ``labels`` fields of a ``TimeSeries`` for this series."""
    return b"".join(label_field(k, v) for k, v in sorted_labels(series))


def timestamp_bytes(timestamp_ms: int) -> bytes:
    """The ``Sample.timestamp`` field (tag and varint)."""
    return b"\x10" + varint(timestamp_ms)


def _sample_field_head(ts_len: int) -> bytes:
    """``Sample`` tag and length, then the value's tag (the double follows)."""
    return bytes((0x12, 10 + ts_len, 0x09))


class WriteRequestBuilder:
    """Appends ``TimeSeries`` fields to one ``WriteRequest`` body.

    ``samples`` counts what was appended (stale markers and native histograms
    included, a histogram as one sample) and
    ``oldest_ms`` is the oldest timestamp (None while empty). ``encodings``
    are the sink's shared label encodings, kept across requests.
    """

    __slots__ = ("buf", "encodings", "oldest_ms", "samples")

    def __init__(self, encodings: SeriesEncodings | None = None) -> None:
        self.encodings = encodings if encodings is not None else SeriesEncodings()
        self.buf = bytearray()
        self.samples = 0
        self.oldest_ms: int | None = None

    def __len__(self) -> int:
        return len(self.buf)

    def _saw(self, count: int, oldest: int) -> None:
        self.samples += count
        if self.oldest_ms is None or oldest < self.oldest_ms:
            self.oldest_ms = oldest

    def add_samples(
        self, series: Sequence[Series], values: Sequence[float], timestamp_ms: int
    ) -> None:
        """Append one single-sample ``TimeSeries`` per series, all at ``timestamp_ms``."""
        if not series:
            return
        tail = timestamp_bytes(timestamp_ms)
        if len(tail) - 1 != COMMON_TS_LEN:
            self._add_one_by_one(series, [_pack_double(v) for v in values], timestamp_ms)
            return
        out = self.buf
        pack = struct.Struct(f"<d{len(tail)}s").pack
        enc = self.encodings
        slot = enc.slot or "name"  # "name" never holds an encoding: every read misses
        block_of, name_of = enc.block, enc.name
        names_get = enc.names.get
        heads = enc.heads
        for s, v in zip(series, values, strict=True):
            block = getattr(s, slot)
            if block.__class__ is not BlockEncoding:
                block = block_of(s)
            name = names_get(s.name) or name_of(s.name)
            out += heads[block.size + len(name)]
            out += block.pre
            out += name
            out += block.post_sample
            out += pack(v, tail)
        self._saw(len(series), timestamp_ms)

    def _add_one_by_one(
        self, series: Sequence[Series], doubles: Sequence[bytes], timestamp_ms: int
    ) -> None:
        """Append single-sample ``TimeSeries`` of the given encoded values at ``timestamp_ms``."""
        tail = timestamp_bytes(timestamp_ms)
        value_head = _sample_field_head(len(tail) - 1)
        out = self.buf
        labels_of = self.encodings.labels
        for s, double in zip(series, doubles, strict=True):
            labels = labels_of(s)
            out += b"\x0a" + varint(len(labels) + 11 + len(tail)) + labels + value_head
            out += double
            out += tail
        self._saw(len(series), timestamp_ms)

    def add_timestamped(
        self, series: Sequence[Series], values: Sequence[float], timestamps: Sequence[int]
    ) -> None:
        """Append samples with their own timestamps; consecutive samples of one series share
        one ``TimeSeries``."""
        n = len(series)
        if n == 0:
            return
        if len(values) != n or len(timestamps) != n:
            raise ValueError("series, values and timestamps differ in length")
        out = self.buf
        labels_of = self.encodings.labels
        i = 0
        while i < n:
            s = series[i]
            j = i + 1
            while j < n and series[j] is s:
                j += 1
            samples = bytearray()
            for k in range(i, j):
                tail = timestamp_bytes(timestamps[k])
                samples += _sample_field_head(len(tail) - 1)
                samples += _pack_double(values[k])
                samples += tail
            labels = labels_of(s)
            out += b"\x0a" + varint(len(labels) + len(samples)) + labels + samples
            i = j
        self._saw(n, min(timestamps))

    def add_stale(self, series: Sequence[Series], timestamp_ms: int) -> None:
        """Append a staleness marker for each series at ``timestamp_ms``."""
        if series:
            self._add_one_by_one(series, [STALE_MARKER] * len(series), timestamp_ms)

    def add_histograms(self, samples: Sequence[HistogramSample]) -> None:
        """Append one ``TimeSeries`` with one native histogram per sample."""
        if not samples:
            return
        out = self.buf
        labels_of = self.encodings.labels_of
        for h in samples:
            out += histogram_series(labels_of(h.name, h.labels), h.histogram, h.timestamp_ms)
        self._saw(len(samples), min(h.timestamp_ms for h in samples))

    def add_stale_histograms(self, series: Sequence[Series], timestamp_ms: int) -> None:
        """Append a stale native histogram for each series at ``timestamp_ms``."""
        if not series:
            return
        out = self.buf
        labels_of = self.encodings.labels
        for s in series:
            out += histogram_series(labels_of(s), STALE_HISTOGRAM, timestamp_ms)
        self._saw(len(series), timestamp_ms)
