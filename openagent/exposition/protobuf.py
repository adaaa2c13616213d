"""The delimited protobuf exposition format (``io.prometheus.client.MetricFamily``).

A body is a stream of MetricFamily messages, each preceded by its length as
a uvarint. This module flattens it into the series the text format would
expose: counter, gauge and untyped metrics give one series each; a summary
gives ``{quantile=...}`` series plus ``_sum`` and ``_count``; a classic
histogram gives ``_bucket{le=...}`` series (``+Inf`` added when missing),
``_sum`` and ``_count``. ``le`` and ``quantile`` are written like Go's
``strconv.FormatFloat(x, 'g', -1, 64)`` (`format_go_float`), as Prometheus and
the Whatap Go agent do. Native histograms without classic buckets have no flat
form and are skipped (counted in `Decoded.native_skipped`).

The ``protobuf`` package is not a dependency, and this schema is small and
fixed, so the wire format is read directly: varints, fixed 64-bit doubles and
length-delimited fields, unknown fields skipped by wire type. Malformed input
raises `ProtobufError` (a `ParseError`) naming the byte offset and the field;
nothing else escapes.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from openagent.exposition.errors import ParseError
from openagent.exposition.lexer import NAME
from openagent.model import Labels, Metadata

#: The Content-Type of a delimited protobuf exposition.
CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
#: MetricType enum -> the type name used in metadata.
TYPES = ("counter", "gauge", "summary", "untyped", "histogram", "gaugehistogram")
_COUNTER, _GAUGE, _SUMMARY, _UNTYPED, _HISTOGRAM, _GAUGE_HISTOGRAM = range(6)

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_F64 = struct.Struct("<d")
_U64 = 2**64 - 1
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

#: One flat sample: metric name, labels in exposition order, value, timestamp (ms).
Sample = tuple[str, Labels, float, int]


class ProtobufError(ParseError):
    """A malformed protobuf exposition; ``offset`` is the byte where the problem is."""

    def __init__(self, offset: int, reason: str) -> None:
        ValueError.__init__(self, f"byte {offset}: {reason}")
        self.line = 0
        self.offset = offset
        self.reason = reason

    def __reduce__(self) -> tuple[type[ProtobufError], tuple[int, str]]:
        return (ProtobufError, (self.offset, self.reason))


@dataclass(slots=True)
class Decoded:
    """What one body held: flat samples, metadata per family, native-only histograms skipped."""

    samples: list[Sample] = field(default_factory=list)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    native_skipped: int = 0


def parse_protobuf(body: bytes, default_ts_ms: int) -> tuple[list[Sample], dict[str, Metadata]]:
    """Flat samples and per-family metadata of a delimited protobuf body.

    A sample's timestamp is the metric's ``timestamp_ms`` when set and positive,
    else ``default_ts_ms``.
    """
    decoded = decode_protobuf(body, default_ts_ms)
    return decoded.samples, decoded.metadata


def decode_protobuf(body: bytes | bytearray | memoryview, default_ts_ms: int) -> Decoded:
    """Like `parse_protobuf`, also counting the native-only histograms it skipped."""
    buf = bytes(body)
    out = Decoded()
    pos, end = 0, len(buf)
    family_no = 0
    while pos < end:
        family_no += 1
        size, start = _varint(buf, pos, end, f"length of metric family {family_no}")
        stop = start + size
        if stop > end:
            raise ProtobufError(
                pos, f"metric family {family_no} claims {size} bytes, only {end - start} remain"
            )
        _family(buf, start, stop, default_ts_ms, out)
        pos = stop
    return out


# -- wire primitives ------------------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``."""
    result = shift = 0
    start = pos
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(start, f"{what}: varint longer than 10 bytes")
    raise ProtobufError(start, f"{what}: truncated varint")


def _fields(buf: bytes, pos: int, end: int, what: str) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, a, b, offset of the field) of each field of a message.

    Varints give their value as ``a``; fixed64/fixed32 give their start;
    length-delimited fields give their start and end.
    """
    while pos < end:
        at = pos
        key, pos = _varint(buf, pos, end, f"{what} field key")
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(at, f"{what}: field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end, f"{what} field {number}")
            yield number, wire, value, 0, at
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > end:
                raise ProtobufError(at, f"{what} field {number}: truncated {width}-byte value")
            yield number, wire, pos, 0, at
            pos += width
        elif wire == _BYTES:
            size, start = _varint(buf, pos, end, f"{what} field {number} length")
            pos = start + size
            if pos > end:
                raise ProtobufError(
                    at, f"{what} field {number} claims {size} bytes, only {end - start} remain"
                )
            yield number, wire, start, pos, at
        else:
            raise ProtobufError(at, f"{what} field {number}: unsupported wire type {wire}")


def _expect(wire: int, want: int, number: int, what: str, at: int) -> None:
    if wire != want:
        raise ProtobufError(at, f"{what} field {number} has wire type {wire}, expected {want}")


def _double(buf: bytes, wire: int, a: int, number: int, what: str, at: int) -> float:
    _expect(wire, _FIXED64, number, what, at)
    value: float = _F64.unpack_from(buf, a)[0]
    return value


def _text(buf: bytes, wire: int, a: int, b: int, number: int, what: str, at: int) -> str:
    _expect(wire, _BYTES, number, what, at)
    try:
        return buf[a:b].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(a + exc.start, f"{what} field {number}: invalid UTF-8") from None


# -- messages -------------------------------------------------------------------------------


def _family(buf: bytes, pos: int, end: int, default_ts: int, out: Decoded) -> None:
    name, help_, unit, type_ = "", "", "", _COUNTER
    metrics: list[tuple[int, int]] = []
    for number, wire, a, b, at in _fields(buf, pos, end, "MetricFamily"):
        if number == 1:
            name = _text(buf, wire, a, b, number, "MetricFamily", at)
        elif number == 2:
            help_ = _text(buf, wire, a, b, number, "MetricFamily", at)
        elif number == 3:
            _expect(wire, _VARINT, number, "MetricFamily", at)
            if a >= len(TYPES):
                raise ProtobufError(at, f"metric family {name!r}: unknown metric type {a}")
            type_ = a
        elif number == 4:
            _expect(wire, _BYTES, number, "MetricFamily", at)
            metrics.append((a, b))
        elif number == 5:
            unit = _text(buf, wire, a, b, number, "MetricFamily", at)
    if NAME.fullmatch(name) is None:
        raise ProtobufError(pos, f"invalid metric family name {name!r}")
    out.metadata[name] = Metadata(TYPES[type_], help_, unit)
    for start, stop in metrics:
        _metric(buf, start, stop, name, type_, default_ts, out)


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
        self.native = False


def _metric(
    buf: bytes, pos: int, end: int, name: str, type_: int, default_ts: int, out: Decoded
) -> None:
    m = _Metric()
    value = 0.0
    # Metric fields: 1 label, 2 gauge, 3 counter, 4 summary, 5 untyped, 6 timestamp_ms, 7 histogram
    want = {_COUNTER: 3, _GAUGE: 2, _UNTYPED: 5, _SUMMARY: 4}.get(type_, 7)
    for number, wire, a, b, at in _fields(buf, pos, end, f"Metric of {name}"):
        if number == 1:
            _expect(wire, _BYTES, number, "Metric", at)
            m.labels.append(_label(buf, a, b, name))
        elif number == 6:
            _expect(wire, _VARINT, number, "Metric", at)
            m.ts = a - 2**64 if a >= 2**63 else a
        elif number in (2, 3, 4, 5, 7):
            _expect(wire, _BYTES, number, "Metric", at)
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
    elif m.native and not m.buckets:
        out.native_skipped += 1
    else:
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
    for number, wire, a, b, at in _fields(buf, pos, end, f"LabelPair of {metric}"):
        if number == 1:
            key = _text(buf, wire, a, b, number, "LabelPair", at)
        elif number == 2:
            value = _text(buf, wire, a, b, number, "LabelPair", at)
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
    for number, wire, a, _, at in _fields(buf, pos, end, f"value of {metric}"):
        if number == 1:
            value = _double(buf, wire, a, number, "value", at)
    return value


def _summary(buf: bytes, pos: int, end: int, m: _Metric) -> None:
    for number, wire, a, b, at in _fields(buf, pos, end, "Summary"):
        if number == 1:
            _expect(wire, _VARINT, number, "Summary", at)
            m.count = a & _U64
        elif number == 2:
            m.sum = _double(buf, wire, a, number, "Summary", at)
        elif number == 3:
            _expect(wire, _BYTES, number, "Summary", at)
            q = v = 0.0
            for n2, w2, a2, _, at2 in _fields(buf, a, b, "Quantile"):
                if n2 == 1:
                    q = _double(buf, w2, a2, n2, "Quantile", at2)
                elif n2 == 2:
                    v = _double(buf, w2, a2, n2, "Quantile", at2)
            m.quantiles.append((q, v))


def _histogram(buf: bytes, pos: int, end: int, m: _Metric) -> None:
    for number, wire, a, b, at in _fields(buf, pos, end, "Histogram"):
        if number == 1:
            _expect(wire, _VARINT, number, "Histogram", at)
            m.count = a & _U64
        elif number == 2:
            m.sum = _double(buf, wire, a, number, "Histogram", at)
        elif number == 3:
            _expect(wire, _BYTES, number, "Histogram", at)
            m.buckets.append(_bucket(buf, a, b))
        elif number == 4:
            m.count_float = _double(buf, wire, a, number, "Histogram", at)
        elif number in (5, 9, 12):  # schema, negative_span, positive_span: native
            m.native = True


def _bucket(buf: bytes, pos: int, end: int) -> tuple[float, float]:
    count, count_float, upper = 0, 0.0, 0.0
    for number, wire, a, _, at in _fields(buf, pos, end, "Bucket"):
        if number == 1:
            _expect(wire, _VARINT, number, "Bucket", at)
            count = a & _U64
        elif number == 2:
            upper = _double(buf, wire, a, number, "Bucket", at)
        elif number == 4:
            count_float = _double(buf, wire, a, number, "Bucket", at)
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
