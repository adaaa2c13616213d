"""Protobuf encoding of the remote-write 1.0 ``WriteRequest``, written by hand.

The messages (``prometheus/prompb``, remote-write 1.0)::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

Only varints, 8-byte doubles and length-delimited fields are needed, so no
protobuf runtime is used. A series' labels never change, so its encoded
labels are built once and kept in the series slot the delivery layer gave
the sink (see `openagent.model.SERIES_SLOTS`), together with the bytes that
precede a sample (``TimeSeries`` tag and length, labels, ``Sample`` tag and
length, value tag). A sample then costs those cached
bytes, one packed double and the result's shared timestamp bytes.

Labels are sorted by name, ``__name__`` among them (it sorts like any other
name, after upper-case letters). Labels with an empty value are left out: to
Prometheus an empty label is an absent one.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from openagent.model import STALE_NAN_BITS, Series

#: Little-endian bytes of the staleness marker NaN.
STALE_MARKER: Final = STALE_NAN_BITS.to_bytes(8, "little")
#: Length of the timestamp varint for every millisecond time from 1971 to 2109.
COMMON_TS_LEN: Final = 6

_pack_double = struct.Struct("<d").pack
_U64: Final = (1 << 64) - 1


def varint(n: int) -> bytes:
    """Encode ``n`` as a protobuf varint; a negative int64 takes ten bytes (two's complement)."""
    n &= _U64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte, length varint, payload."""
    return bytes((tag,)) + varint(len(payload)) + payload


def sorted_labels(series: Series) -> list[tuple[str, str]]:
    """The series' labels as sent: ``__name__`` included, sorted by name, no empty values."""
    pairs = [("__name__", series.name), *series.labels]
    return sorted((k, v) for k, v in pairs if v)


def encode_labels(series: Series) -> bytes:
    """The ``labels`` fields of a ``TimeSeries`` for this series."""
    out = bytearray()
    for name, value in sorted_labels(series):
        out += _field(0x0A, _field(0x0A, name.encode()) + _field(0x12, value.encode()))
    return bytes(out)


def timestamp_bytes(timestamp_ms: int) -> bytes:
    """The ``Sample.timestamp`` field (tag and varint)."""
    return b"\x10" + varint(timestamp_ms)


def _sample_field_head(ts_len: int) -> bytes:
    """``Sample`` tag and length, then the value's tag (the double follows)."""
    return bytes((0x12, 10 + ts_len, 0x09))


def series_head(labels: bytes, ts_len: int, samples: int = 1) -> bytes:
    """Everything of a ``TimeSeries`` field before its first sample's double.

    ``ts_len`` is the length of each sample's timestamp varint, ``samples``
    the number of samples the ``TimeSeries`` will carry (all with that length).
    """
    body_len = len(labels) + samples * (12 + ts_len)
    return b"\x0a" + varint(body_len) + labels + _sample_field_head(ts_len)


def cached_head(series: Series, slot: str | None) -> bytes:
    """`series_head` for one sample with a common timestamp, cached in ``slot`` of the series
    (built every time when ``slot`` is None)."""
    head: bytes | None = getattr(series, slot) if slot is not None else None
    if head is None:
        head = series_head(encode_labels(series), COMMON_TS_LEN)
        if slot is not None:
            setattr(series, slot, head)
    return head


def _strip_head(head: bytes) -> bytes:
    """The labels inside a head built by `series_head` for one sample of common length."""
    i = 1
    while head[i] & 0x80:
        i += 1
    return head[i + 1 : -3]


class WriteRequestBuilder:
    """Appends ``TimeSeries`` fields to one ``WriteRequest`` body.

    ``samples`` counts what was appended (stale markers included) and
    ``oldest_ms`` is the oldest timestamp (None while empty). ``slot`` is the
    series attribute that caches each series' encoded labels (None: no cache).
    """

    __slots__ = ("buf", "oldest_ms", "samples", "slot")

    def __init__(self, slot: str | None = None) -> None:
        self.slot = slot
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
        out = self.buf
        pack = _pack_double
        slot = self.slot
        if len(tail) - 1 == COMMON_TS_LEN and slot is not None:
            for s, v in zip(series, values, strict=True):
                head = getattr(s, slot)
                out += head if head is not None else cached_head(s, slot)
                out += pack(v)
                out += tail
        elif len(tail) - 1 == COMMON_TS_LEN:
            for s, v in zip(series, values, strict=True):
                out += cached_head(s, None)
                out += pack(v)
                out += tail
        else:
            value_head = _sample_field_head(len(tail) - 1)
            for s, v in zip(series, values, strict=True):
                labels = _strip_head(cached_head(s, slot))
                out += b"\x0a" + varint(len(labels) + 11 + len(tail)) + labels + value_head
                out += pack(v)
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
            labels = _strip_head(cached_head(s, self.slot))
            out += b"\x0a" + varint(len(labels) + len(samples)) + labels + samples
            i = j
        self._saw(n, min(timestamps))

    def add_stale(self, series: Sequence[Series], timestamp_ms: int) -> None:
        """Append a staleness marker for each series at ``timestamp_ms``."""
        if not series:
            return
        tail = timestamp_bytes(timestamp_ms)
        out = self.buf
        if len(tail) - 1 == COMMON_TS_LEN:
            for s in series:
                out += cached_head(s, self.slot)
                out += STALE_MARKER
                out += tail
        else:
            value_head = _sample_field_head(len(tail) - 1)
            for s in series:
                labels = _strip_head(cached_head(s, self.slot))
                out += b"\x0a" + varint(len(labels) + 11 + len(tail)) + labels + value_head
                out += STALE_MARKER
                out += tail
        self._saw(len(series), timestamp_ms)
