"""The delimited protobuf exposition format (``io.prometheus.client.MetricFamily``).

A body is a stream of MetricFamily messages, each preceded by its length as
a uvarint. This module flattens it into the series the text format would
expose: counter, gauge and untyped metrics give one series each; a summary
gives ``{quantile=...}`` series plus ``_sum`` and ``_count``; a classic
histogram gives ``_bucket{le=...}`` series (``+Inf`` added when missing),
``_sum`` and ``_count``. ``le`` and ``quantile`` are written like Go's
``strconv.FormatFloat(x, 'g', -1, 64)`` (`format_go_float`), as Prometheus and
the Whatap Go agent do. Native histograms (see `openagent.exposition.native`)
come out as `NativeSample` values beside the flat samples; one that also has
classic buckets gives both, one without has no flat form at all. Float native
histograms are skipped (counted in `Decoded.float_native_skipped`).

The wire format is read directly (`openagent.exposition.protowire`): unknown
fields are skipped by wire type, and malformed input raises `ProtobufError`
(a `ParseError`) naming the byte offset and the field; nothing else escapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator
from dataclasses import dataclass, field

from openagent.exposition.lexer import NAME
from openagent.exposition.native import NativeFields
from openagent.exposition.protowire import (
    BYTES,
    U64,
    VARINT,
    ProtobufError,
    double,
    expect,
    fields,
    text,
    varint,
)
from openagent.model import Labels, Metadata, NativeHistogram

#: The Content-Type of a delimited protobuf exposition.
CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
#: MetricType enum -> the type name used in metadata.
TYPES = ("counter", "gauge", "summary", "untyped", "histogram", "gaugehistogram")
_COUNTER, _GAUGE, _SUMMARY, _UNTYPED, _HISTOGRAM, _GAUGE_HISTOGRAM = range(6)

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: Decoded and checked label pairs by their LabelPair bytes, for every target: exporters
#: repeat the same pairs in every family and every scrape. Decoding a pair costs about
#: 6 µs (a field walk, two UTF-8 decodes, a name check); a known one costs a slice and a
#: lookup, which made a flat sample with five labels about 2.5 times cheaper
#: (``benchmarks/native_histogram_bench.py``).
_PAIRS: dict[bytes, tuple[str, str]] = {}
_PAIRS_LIMIT = 100_000

__all__ = [
    "CONTENT_TYPE",
    "Decoded",
    "NativeSample",
    "ProtobufError",
    "Sample",
    "decode_protobuf",
    "decode_steps",
    "format_go_float",
    "is_protobuf",
    "parse_protobuf",
]

#: One flat sample: metric name, labels in exposition order, value, timestamp (ms).
Sample = tuple[str, Labels, float, int]
#: One native histogram: family name, labels in exposition order, histogram, timestamp (ms).
NativeSample = tuple[str, Labels, NativeHistogram, int]


@dataclass(slots=True)
class Decoded:
    """What one body held: flat samples, native histograms, metadata per family, and the
    float native histograms skipped."""

    samples: list[Sample] = field(default_factory=list)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    histograms: list[NativeSample] = field(default_factory=list)
    float_native_skipped: int = 0


def is_protobuf(content_type: str | None) -> bool:
    """True when a Content-Type names the delimited ``MetricFamily`` protobuf exposition."""
    if not content_type:
        return False
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/vnd.google.protobuf":
        return False
    given = {}
    for param in params.split(";"):
        k, _, v = param.partition("=")
        given[k.strip().lower()] = v.strip().strip('"')
    return (
        given.get("proto") == "io.prometheus.client.MetricFamily"
        and given.get("encoding") == "delimited"
    )


def parse_protobuf(body: bytes, default_ts_ms: int) -> tuple[list[Sample], dict[str, Metadata]]:
    """Flat samples and per-family metadata of a delimited protobuf body.

    A sample's timestamp is the metric's ``timestamp_ms`` when set and positive,
    else ``default_ts_ms``.
    """
    decoded = decode_protobuf(body, default_ts_ms)
    return decoded.samples, decoded.metadata


def decode_protobuf(body: bytes | bytearray | memoryview, default_ts_ms: int) -> Decoded:
    """Like `parse_protobuf`, also giving the native histograms."""
    steps = decode_steps(body, default_ts_ms, 0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            decoded: Decoded = done.value
            return decoded


def decode_steps(
    body: bytes | bytearray | memoryview, default_ts_ms: int, chunk: int
) -> Generator[None, None, Decoded]:
    """`decode_protobuf` as a generator that pauses after every ``chunk`` metrics (0: never),
    so that a caller on an event loop can let others run."""
    buf = bytes(body)
    out = Decoded()
    pos, end = 0, len(buf)
    family_no = done = 0
    while pos < end:
        family_no += 1
        size, start = varint(buf, pos, end, f"length of metric family {family_no}")
        stop = start + size
        if stop > end:
            raise ProtobufError(
                pos, f"metric family {family_no} claims {size} bytes, only {end - start} remain"
            )
        name, type_, metrics = _family(buf, start, stop, out)
        for first, last in metrics:
            _metric(buf, first, last, name, type_, default_ts_ms, out)
            done += 1
            if done == chunk:
                done = 0
                yield
        pos = stop
    return out


# -- messages -------------------------------------------------------------------------------


def _family(buf: bytes, pos: int, end: int, out: Decoded) -> tuple[str, int, list[tuple[int, int]]]:
    """Record the family's metadata; return its name, type and the spans of its metrics."""
    name, help_, unit, type_ = "", "", "", _COUNTER
    metrics: list[tuple[int, int]] = []
    for number, wire, a, b, at in fields(buf, pos, end, "MetricFamily"):
        if number == 1:
            name = text(buf, wire, a, b, number, "MetricFamily", at)
        elif number == 2:
            help_ = text(buf, wire, a, b, number, "MetricFamily", at)
        elif number == 3:
            expect(wire, VARINT, number, "MetricFamily", at)
            if a >= len(TYPES):
                raise ProtobufError(at, f"metric family {name!r}: unknown metric type {a}")
            type_ = a
        elif number == 4:
            expect(wire, BYTES, number, "MetricFamily", at)
            metrics.append((a, b))
        elif number == 5:
            unit = text(buf, wire, a, b, number, "MetricFamily", at)
    if NAME.fullmatch(name) is None:
        raise ProtobufError(pos, f"invalid metric family name {name!r}")
    out.metadata[name] = Metadata(TYPES[type_], help_, unit)
    return name, type_, metrics


class _Metric:
    """The fields of one Metric message that flattening needs."""

    __slots__ = ("buckets", "count", "count_float", "labels", "native", "quantiles", "sum", "ts")

    def __init__(self) -> None:
        self.labels: list[tuple[str, str]] = []
        self.ts = 0
        self.count = 0
        self.count_float = 0.0
        self.sum = 0.0
        self.quantiles: list[tuple[float, float]] = []
        self.buckets: list[tuple[float, float]] = []  # (upper bound, cumulative count)
        self.native: NativeFields | None = None


def _metric(
    buf: bytes, pos: int, end: int, name: str, type_: int, default_ts: int, out: Decoded
) -> None:
    m = _Metric()
    value = 0.0
    # Metric fields: 1 label, 2 gauge, 3 counter, 4 summary, 5 untyped, 6 timestamp_ms, 7 histogram
    want = {_COUNTER: 3, _GAUGE: 2, _UNTYPED: 5, _SUMMARY: 4}.get(type_, 7)
    for number, wire, a, b, at in fields(buf, pos, end, f"Metric of {name}"):
        if number == 1:
            expect(wire, BYTES, number, "Metric", at)
            pair = _PAIRS.get(buf[a:b])
            if pair is None:
                pair = _label(buf, a, b, name)
                if len(_PAIRS) >= _PAIRS_LIMIT:
                    _PAIRS.clear()
                _PAIRS[buf[a:b]] = pair
            m.labels.append(pair)
        elif number == 6:
            expect(wire, VARINT, number, "Metric", at)
            m.ts = a - 2**64 if a >= 2**63 else a
        elif number in (2, 3, 4, 5, 7):
            expect(wire, BYTES, number, "Metric", at)
            if number != want:
                continue
            if number == 4:
                _summary(buf, a, b, m)
            elif number == 7:
                _histogram(buf, a, b, m)
            else:
                value = _value(buf, a, b, name)
    labels = tuple(m.labels)
    _check_labels(labels, name, pos)
    ts = m.ts if m.ts > 0 else default_ts
    add = out.samples.append
    if want != 4 and want != 7:
        add((name, labels, value, ts))
    elif want == 4:
        for q, v in m.quantiles:
            add((name, _with(labels, "quantile", format_go_float(q), name, pos), v, ts))
        add((name + "_sum", labels, m.sum, ts))
        add((name + "_count", labels, float(m.count), ts))
    else:
        _histogram_samples(m, name, labels, ts, pos, out)


def _histogram_samples(
    m: _Metric, name: str, labels: Labels, ts: int, pos: int, out: Decoded
) -> None:
    """The native histogram and the classic series (when there are classic buckets)."""
    native = m.native
    if native is not None and native.native:
        if native.floats or m.count_float > 0:
            out.float_native_skipped += 1
        else:
            out.histograms.append((name, labels, native.histogram(m.count, m.sum), ts))
        if not m.buckets:
            return
    add = out.samples.append
    has_inf = False
    for upper, count in m.buckets:
        has_inf = has_inf or upper == math.inf
        bucket_labels = _with(labels, "le", format_go_float(upper), name, pos)
        add((name + "_bucket", bucket_labels, count, ts))
    total = m.count_float if m.count_float > 0 else float(m.count)
    if not has_inf:
        add((name + "_bucket", _with(labels, "le", "+Inf", name, pos), total, ts))
    add((name + "_sum", labels, m.sum, ts))
    add((name + "_count", labels, total, ts))


def _label(buf: bytes, pos: int, end: int, metric: str) -> tuple[str, str]:
    key = value = ""
    for number, wire, a, b, at in fields(buf, pos, end, f"LabelPair of {metric}"):
        if number == 1:
            key = text(buf, wire, a, b, number, "LabelPair", at)
        elif number == 2:
            value = text(buf, wire, a, b, number, "LabelPair", at)
    if _LABEL_NAME.fullmatch(key) is None:
        raise ProtobufError(pos, f"metric {metric}: invalid label name {key!r}")
    return key, value


def _check_labels(labels: Labels, metric: str, pos: int) -> None:
    seen: set[str] = set()
    for key, _ in labels:
        if key == "__name__":
            raise ProtobufError(pos, f"metric {metric}: label name '__name__' is reserved")
        if key in seen:
            raise ProtobufError(pos, f"metric {metric}: duplicate label name {key!r}")
        seen.add(key)


def _with(labels: Labels, key: str, value: str, metric: str, pos: int) -> Labels:
    if any(k == key for k, _ in labels):
        raise ProtobufError(pos, f"metric {metric}: duplicate label name {key!r}")
    return (*labels, (key, value))


def _value(buf: bytes, pos: int, end: int, metric: str) -> float:
    """The ``value`` (field 1) of a Gauge, Counter or Untyped message."""
    value = 0.0
    for number, wire, a, _, at in fields(buf, pos, end, f"value of {metric}"):
        if number == 1:
            value = double(buf, wire, a, number, "value", at)
    return value


def _summary(buf: bytes, pos: int, end: int, m: _Metric) -> None:
    for number, wire, a, b, at in fields(buf, pos, end, "Summary"):
        if number == 1:
            expect(wire, VARINT, number, "Summary", at)
            m.count = a & U64
        elif number == 2:
            m.sum = double(buf, wire, a, number, "Summary", at)
        elif number == 3:
            expect(wire, BYTES, number, "Summary", at)
            q = v = 0.0
            for n2, w2, a2, _, at2 in fields(buf, a, b, "Quantile"):
                if n2 == 1:
                    q = double(buf, w2, a2, n2, "Quantile", at2)
                elif n2 == 2:
                    v = double(buf, w2, a2, n2, "Quantile", at2)
            m.quantiles.append((q, v))


def _histogram(buf: bytes, pos: int, end: int, m: _Metric) -> None:
    for number, wire, a, b, at in fields(buf, pos, end, "Histogram"):
        if number == 1:
            expect(wire, VARINT, number, "Histogram", at)
            m.count = a & U64
        elif number == 2:
            m.sum = double(buf, wire, a, number, "Histogram", at)
        elif number == 3:
            expect(wire, BYTES, number, "Histogram", at)
            m.buckets.append(_bucket(buf, a, b))
        elif number == 4:
            m.count_float = double(buf, wire, a, number, "Histogram", at)
        elif 5 <= number <= 14:
            if m.native is None:
                m.native = NativeFields()
            m.native.take(buf, number, wire, a, b, at)


def _bucket(buf: bytes, pos: int, end: int) -> tuple[float, float]:
    count, count_float, upper = 0, 0.0, 0.0
    for number, wire, a, _, at in fields(buf, pos, end, "Bucket"):
        if number == 1:
            expect(wire, VARINT, number, "Bucket", at)
            count = a & U64
        elif number == 2:
            upper = double(buf, wire, a, number, "Bucket", at)
        elif number == 4:
            count_float = double(buf, wire, a, number, "Bucket", at)
    return upper, count_float if count_float > 0 else float(count)


# -- numbers --------------------------------------------------------------------------------


def format_go_float(x: float) -> str:
    """``x`` as Go's ``strconv.FormatFloat(x, 'g', -1, 64)`` writes it, ``+Inf`` for +∞.

    Shortest round-trip digits (the same digits as Python's ``repr``) with
    decimal exponent E (x = d.ddd × 10^E): ``d.ddde±XX`` when E < -4 or E >= 6
    (Go decides with precision 6 in shortest mode), else plain notation
    without trailing zeros: ``1e+06``, ``100000``, ``0.0001``, ``1e-05``.
    """
    if x != x:
        return "NaN"
    if x == math.inf:
        return "+Inf"
    if x == -math.inf:
        return "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    text = repr(x)
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    scale = int(exp_text or 0) - len(frac)  # value = int(whole + frac) * 10**scale
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    digits = stripped
    exp = len(digits) - 1 + scale  # value = d.ddd * 10**exp
    if exp < -4 or exp >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
