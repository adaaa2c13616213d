"""A small writer of the delimited protobuf exposition (``io.prometheus.client.MetricFamily``),
for tests: the fixed schema written field by field, native histograms included."""

from __future__ import annotations

import struct

COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = range(6)


def varint(n: int) -> bytes:
    n &= 2**64 - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def f_bytes(field: int, data: bytes) -> bytes:
    return key(field, 2) + varint(len(data)) + data


def f_str(field: int, s: str) -> bytes:
    return f_bytes(field, s.encode())


def f_double(field: int, x: float) -> bytes:
    return key(field, 1) + struct.pack("<d", x)


def f_varint(field: int, n: int) -> bytes:
    return key(field, 0) + varint(n)


def label(name: str, value: str) -> bytes:
    return f_bytes(1, f_str(1, name) + f_str(2, value))


def metric(*parts: bytes, labels: tuple[tuple[str, str], ...] = (), ts: int | None = None) -> bytes:
    body = b"".join(label(k, v) for k, v in labels) + b"".join(parts)
    if ts is not None:
        body += f_varint(6, ts)
    return f_bytes(4, body)


def family(name: str, type_: int | None, *metrics: bytes, help_: str | None = None) -> bytes:
    body = f_str(1, name)
    if help_ is not None:
        body += f_str(2, help_)
    if type_ is not None:
        body += f_varint(3, type_)
    return body + b"".join(metrics)


def delimited(*families: bytes) -> bytes:
    return b"".join(varint(len(f)) + f for f in families)


def gauge(x: float) -> bytes:
    return f_bytes(2, f_double(1, x))


def counter(x: float) -> bytes:
    return f_bytes(3, f_double(1, x))


def untyped(x: float) -> bytes:
    return f_bytes(5, f_double(1, x))


def bucket(upper: float, count: int, count_float: float | None = None) -> bytes:
    body = f_varint(1, count) + f_double(2, upper)
    if count_float is not None:
        body += f_double(4, count_float)
    return f_bytes(3, body)


def histogram(*parts: bytes, count: int = 0, total: float = 0.0) -> bytes:
    return f_bytes(7, f_varint(1, count) + f_double(2, total) + b"".join(parts))


def summary(count: int, total: float, *quantiles: tuple[float, float]) -> bytes:
    qs = b"".join(f_bytes(3, f_double(1, q) + f_double(2, v)) for q, v in quantiles)
    return f_bytes(4, f_varint(1, count) + f_double(2, total) + qs)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def span(offset: int, length: int) -> bytes:
    return f_varint(1, zigzag(offset)) + f_varint(2, length)


def native(
    *parts: bytes,
    schema: int = 3,
    zero_threshold: float = 1e-128,
    zero_count: int = 0,
    positive: tuple[tuple[tuple[int, int], ...], tuple[int, ...]] = ((), ()),
    negative: tuple[tuple[tuple[int, int], ...], tuple[int, ...]] = ((), ()),
    count: int = 0,
    total: float = 0.0,
    packed: bool = True,
) -> bytes:
    """A Metric's ``histogram`` field with native buckets (deltas packed or one per field)."""
    body = f_varint(5, zigzag(schema)) + f_double(6, zero_threshold) + f_varint(7, zero_count)
    for spans_field, deltas_field, (spans, deltas) in ((9, 10, negative), (12, 13, positive)):
        body += b"".join(f_bytes(spans_field, span(o, n)) for o, n in spans)
        if packed and deltas:
            body += f_bytes(deltas_field, b"".join(varint(zigzag(d)) for d in deltas))
        else:
            body += b"".join(f_varint(deltas_field, zigzag(d)) for d in deltas)
    return histogram(body, *parts, count=count, total=total)
