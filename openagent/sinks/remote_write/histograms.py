"""Native histograms as remote-write 1.0 ``Histogram`` messages (``TimeSeries.histograms``).

The message (``prometheus/prompb/types.proto``), integer form only::

    TimeSeries { repeated Label labels = 1; ...; repeated Histogram histograms = 4; }
    Histogram  { uint64 count_int = 1; double sum = 3; sint32 schema = 4;
                 double zero_threshold = 5; uint64 zero_count_int = 6;
                 repeated BucketSpan negative_spans = 8; repeated sint64 negative_deltas = 9;
                 repeated BucketSpan positive_spans = 11; repeated sint64 positive_deltas = 12;
                 ResetHint reset_hint = 14; int64 timestamp = 15; }
    BucketSpan { sint32 offset = 1; uint32 length = 2; }

Spans and delta counts are copied as scraped: the exposition, the model and
this message share the layout. ``count_int`` and ``zero_count_int`` are
always written, so the receiver sees an integer histogram even when they are
0 (they sit in a ``oneof`` with the float form). ``reset_hint`` is left
UNKNOWN: a gauge histogram is not told apart (the model does not say which
kind a histogram is), and the receiver then detects counter resets itself, as
it does for a histogram scraped without a hint.

A stale native histogram is a ``Histogram`` whose sum is the stale NaN and
whose counts are zero, which is what Prometheus writes for one.

A histogram costs its own encoding every time (no cache): its buckets change
at every scrape, and only the label bytes repeat, which come from the sink's
shared label encodings.
"""

from __future__ import annotations

import struct
from typing import Final

from openagent.model import STALE_NAN_BITS, NativeHistogram
from openagent.sinks.remote_write.encodings import field, varint

#: The histogram every stale marker carries: stale-NaN sum, nothing counted.
STALE_HISTOGRAM: Final = NativeHistogram(
    schema=0,
    zero_threshold=0.0,
    zero_count=0,
    count=0,
    sum=struct.unpack("<d", STALE_NAN_BITS.to_bytes(8, "little"))[0],
)

_pack_double = struct.Struct("<d").pack


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _spans(tag: int, spans: tuple[tuple[int, int], ...]) -> bytes:
    out = bytearray()
    for offset, length in spans:
        out += field(tag, b"\x08" + varint(_zigzag(offset)) + b"\x10" + varint(length))
    return bytes(out)


def _deltas(tag: int, deltas: tuple[int, ...]) -> bytes:
    if not deltas:
        return b""
    return field(tag, b"".join(varint(_zigzag(d)) for d in deltas))


def histogram_message(h: NativeHistogram, timestamp_ms: int) -> bytes:
    """One ``Histogram`` message (without its own tag and length)."""
    return b"".join(
        (
            b"\x08" + varint(h.count),
            b"\x19" + _pack_double(h.sum),
            b"\x20" + varint(_zigzag(h.schema)),
            b"\x29" + _pack_double(h.zero_threshold),
            b"\x30" + varint(h.zero_count),
            _spans(0x42, h.negative_spans),
            _deltas(0x4A, h.negative_deltas),
            _spans(0x5A, h.positive_spans),
            _deltas(0x62, h.positive_deltas),
            b"\x78" + varint(timestamp_ms),
        )
    )


def histogram_series(labels: bytes, h: NativeHistogram, timestamp_ms: int) -> bytes:
    """A ``TimeSeries`` field with ``labels`` (its encoded label fields) and one histogram."""
    return field(0x0A, labels + field(0x22, histogram_message(h, timestamp_ms)))
