"""The native-histogram fields of a protobuf ``Histogram`` message.

A histogram is native when it has a ``schema`` or spans (fields 5, 9, 12),
as the Whatap Go agent decides. Its buckets stay as spans and delta-encoded
counts, the layout remote write and Whatap's 0x1607 record carry, so nothing
converts them. Float native histograms (float counts: fields 4, 8, 11, 14)
have no place in `NativeHistogram` and are skipped, as the Go agent skips them
(``sample_count_float``, field 4, is read by `openagent.exposition.protobuf`).

The fields (``io.prometheus.client.Histogram``)::

    sint32 schema = 5;  double zero_threshold = 6;
    uint64 zero_count = 7;  double zero_count_float = 8;
    repeated BucketSpan negative_span = 9;   repeated sint64 negative_delta = 10;
    repeated double negative_count = 11;     repeated BucketSpan positive_span = 12;
    repeated sint64 positive_delta = 13;     repeated double positive_count = 14;
    BucketSpan { sint32 offset = 1; uint32 length = 2; }
"""

from __future__ import annotations

from openagent.exposition.protowire import (
    BYTES,
    U64,
    VARINT,
    double,
    expect,
    fields,
    sints,
    zigzag,
)
from openagent.model import NativeHistogram

#: Histogram fields that make it native, and those that make it a float histogram.
NATIVE_FIELDS = frozenset((5, 9, 12))
FLOAT_FIELDS = frozenset((8, 11, 14))

Spans = list[tuple[int, int]]


class NativeFields:
    """The native part of one ``Histogram`` message, filled field by field."""

    __slots__ = (
        "floats",
        "native",
        "neg_deltas",
        "neg_spans",
        "pos_deltas",
        "pos_spans",
        "schema",
        "zero_count",
        "zero_threshold",
    )

    def __init__(self) -> None:
        self.native = False
        self.floats = False
        self.schema = 0
        self.zero_threshold = 0.0
        self.zero_count = 0
        self.neg_spans: Spans = []
        self.neg_deltas: list[int] = []
        self.pos_spans: Spans = []
        self.pos_deltas: list[int] = []

    def take(self, buf: bytes, number: int, wire: int, a: int, b: int, at: int) -> None:
        """Record native field ``number`` (5 to 14; others are ignored)."""
        if number in NATIVE_FIELDS:
            self.native = True
        if number == 5:
            expect(wire, VARINT, number, "Histogram", at)
            self.schema = zigzag(a, 32)
        elif number == 6:
            self.zero_threshold = double(buf, wire, a, number, "Histogram", at)
        elif number == 7:
            expect(wire, VARINT, number, "Histogram", at)
            self.zero_count = a & U64
        elif number == 9 or number == 12:
            expect(wire, BYTES, number, "Histogram", at)
            (self.neg_spans if number == 9 else self.pos_spans).append(_span(buf, a, b))
        elif number == 10 or number == 13:
            deltas = self.neg_deltas if number == 10 else self.pos_deltas
            deltas += sints(buf, wire, a, b, number, "Histogram", at)
        elif number in FLOAT_FIELDS:
            self.floats = self.floats or _nonzero(buf, wire, a, b)

    def histogram(self, count: int, total: float) -> NativeHistogram:
        """The histogram with these fields, ``count`` observations summing to ``total``."""
        return NativeHistogram(
            schema=self.schema,
            zero_threshold=self.zero_threshold,
            zero_count=self.zero_count,
            count=count,
            sum=total,
            positive_spans=tuple(self.pos_spans),
            positive_deltas=tuple(self.pos_deltas),
            negative_spans=tuple(self.neg_spans),
            negative_deltas=tuple(self.neg_deltas),
        )


def _span(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    offset = length = 0
    for number, wire, a, _, at in fields(buf, pos, end, "BucketSpan"):
        if number == 1:
            expect(wire, VARINT, number, "BucketSpan", at)
            offset = zigzag(a, 32)
        elif number == 2:
            expect(wire, VARINT, number, "BucketSpan", at)
            length = a & 0xFFFFFFFF
    return offset, length


def _nonzero(buf: bytes, wire: int, a: int, b: int) -> bool:
    """Whether a float-count field holds anything: a non-zero double, or packed doubles."""
    if wire == BYTES:
        return b > a
    return wire != VARINT and any(buf[a : a + 8])
