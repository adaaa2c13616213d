"""A small reader of remote-write 1.0 bodies: snappy (or zstd) + protobuf ``WriteRequest``.

The comparison harness decodes what each tool sent to learn two things no
process counter shows: the ``scrape_duration_seconds`` every scraper writes,
and how long a sample took from its scrape to the receiver. Only the fields
of ``prometheus/prompb`` that carry those are read::

    WriteRequest { repeated TimeSeries timeseries = 1; ... }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; ... }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

Every other field (metadata, exemplars, native histograms) is skipped by its
wire type, so bodies from newer senders still read. It is written by hand, as
the encoder in `openagent.sinks.remote_write.prompb` is, so the harness needs
no protobuf runtime, and so reading it checks that encoder independently.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

import cramjam

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
SCRAPE_DURATION = "scrape_duration_seconds"
_unpack_double = struct.Struct("<d").unpack_from
_I64_SIGN = 1 << 63


class DecodeError(ValueError):
    """The bytes are not a well-formed remote-write body."""


@dataclass
class TimeSeries:
    """One decoded ``TimeSeries``: labels as sent, samples as ``(value, timestamp_ms)``."""

    labels: dict[str, str] = field(default_factory=dict)
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The ``__name__`` label (empty when absent)."""
        return self.labels.get("__name__", "")


def decompress(body: bytes, encoding: str = "snappy") -> bytes:
    """The protobuf bytes of a body sent with ``Content-Encoding: encoding``.

    Remote write 1.0 is the snappy *block* format; zstd is accepted too because
    newer vmagent releases switch to it when a receiver allows.
    """
    encoding = encoding.strip().lower() or "snappy"
    try:
        if encoding == "snappy":
            return bytes(cramjam.snappy.decompress_raw(body))
        if encoding == "zstd":
            return bytes(cramjam.zstd.decompress(body))
    except cramjam.DecompressionError as exc:
        raise DecodeError(f"not {encoding}: {exc}") from exc
    if encoding == "identity":
        return body
    raise DecodeError(f"unsupported Content-Encoding {encoding!r}")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise DecodeError(f"bad varint before offset {pos}")


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    """The position after a field of wire type ``wire`` whose value starts at ``pos``."""
    if wire == VARINT:
        return _varint(buf, pos, end)[1]
    if wire == FIXED64:
        pos += 8
    elif wire == FIXED32:
        pos += 4
    elif wire == LEN:
        size, pos = _varint(buf, pos, end)
        pos += size
    else:
        raise DecodeError(f"unsupported wire type {wire}")
    if pos > end:
        raise DecodeError("field runs past its message")
    return pos


def _len_field(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Start and end of the length-delimited value at ``pos``."""
    size, start = _varint(buf, pos, end)
    stop = start + size
    if stop > end:
        raise DecodeError("length-delimited field runs past its message")
    return start, stop


def _label(buf: bytes, pos: int, end: int) -> tuple[str, str]:
    name = value = b""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key & 7 == LEN and key >> 3 in (1, 2):
            start, pos = _len_field(buf, pos, end)
            if key >> 3 == 1:
                name = buf[start:pos]
            else:
                value = buf[start:pos]
        else:
            pos = _skip(buf, pos, end, key & 7)
    return name.decode(), value.decode()


def _sample(buf: bytes, pos: int, end: int) -> tuple[float, int]:
    value, timestamp = 0.0, 0
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key == (1 << 3 | FIXED64) and pos + 8 <= end:
            (value,) = _unpack_double(buf, pos)
            pos += 8
        elif key == (2 << 3 | VARINT):
            timestamp, pos = _varint(buf, pos, end)
            if timestamp & _I64_SIGN:
                timestamp -= 1 << 64
        else:
            pos = _skip(buf, pos, end, key & 7)
    return value, timestamp


def _series(buf: bytes, pos: int, end: int) -> TimeSeries:
    series = TimeSeries()
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key == (1 << 3 | LEN):
            start, pos = _len_field(buf, pos, end)
            name, value = _label(buf, start, pos)
            series.labels[name] = value
        elif key == (2 << 3 | LEN):
            start, pos = _len_field(buf, pos, end)
            series.samples.append(_sample(buf, start, pos))
        else:
            pos = _skip(buf, pos, end, key & 7)
    return series


def read_write_request(buf: bytes) -> list[TimeSeries]:
    """Every ``TimeSeries`` of an uncompressed ``WriteRequest``, in order."""
    out: list[TimeSeries] = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key == (1 << 3 | LEN):
            start, pos = _len_field(buf, pos, end)
            out.append(_series(buf, start, pos))
        else:
            pos = _skip(buf, pos, end, key & 7)
    return out


@dataclass
class BodyFacts:
    """What the report needs from bodies: sample delays and scrape durations.

    Delays are kept as a count per whole millisecond, because a body carries
    hundreds of samples of one scrape with the same timestamp: the percentiles
    stay exact at millisecond resolution and the memory stays small.
    """

    delays_ms: Counter[int] = field(default_factory=Counter)
    scrape_durations_s: list[float] = field(default_factory=list)
    bodies: int = 0
    samples: int = 0
    errors: int = 0

    def add(self, series: list[TimeSeries], arrival_ms: int) -> None:
        """Count the samples of decoded series that arrived at ``arrival_ms`` (Unix ms)."""
        self.bodies += 1
        for ts in series:
            self.samples += len(ts.samples)
            for _, timestamp in ts.samples:
                self.delays_ms[arrival_ms - timestamp] += 1
            if ts.name == SCRAPE_DURATION:
                self.scrape_durations_s.extend(v for v, _ in ts.samples if v == v)

    def add_body(self, body: bytes, encoding: str, arrival_ms: int) -> None:
        """Decompress and count one body; a body that does not decode is counted as such.

        `scan_write_request` reads what is needed without building label strings
        (about five times faster than `read_write_request` on dcgm series); a body
        it cannot take that way is read in full instead.
        """
        try:
            buf = decompress(body, encoding)
            try:
                counts, durations = scan_write_request(buf)
            except DecodeError:
                self.add(read_write_request(buf), arrival_ms)
                return
        except DecodeError:
            self.errors += 1
            return
        self.bodies += 1
        self.scrape_durations_s.extend(durations)
        for timestamp, count in counts.items():
            self.samples += count
            self.delays_ms[arrival_ms - timestamp] += count


#: A ``Label`` field's value when it is ``__name__="scrape_duration_seconds"``.
_DURATION_LABEL = b"\x0a\x08__name__\x12\x17" + SCRAPE_DURATION.encode()


def _series_facts(
    buf: bytes, pos: int, end: int, counts: Counter[int], durations: list[float]
) -> None:
    """Count one ``TimeSeries``' sample timestamps; keep its values if it is a scrape duration."""
    is_duration = False
    values: list[float] = []
    while pos < end:
        key = buf[pos]
        if key & 7 != LEN or key > 0x7F:
            raise DecodeError("not the plain layout")
        size = buf[pos + 1] if pos + 1 < end else 0x80
        if size < 0x80:  # the common one-byte length, read inline
            start, pos = pos + 2, pos + 2 + size
            if pos > end:
                raise DecodeError("field runs past its series")
        else:
            start, pos = _len_field(buf, pos + 1, end)
        if key == 0x0A:
            is_duration = is_duration or (
                pos - start == len(_DURATION_LABEL) and buf.startswith(_DURATION_LABEL, start)
            )
        elif key == 0x12:
            value, timestamp = _sample(buf, start, pos)
            counts[timestamp] += 1
            values.append(value)
    if is_duration:
        durations.extend(v for v in values if v == v)


def scan_write_request(buf: bytes) -> tuple[Counter[int], list[float]]:
    """Samples per timestamp, and the ``scrape_duration_seconds`` values, of a ``WriteRequest``.

    Raises `DecodeError` for a layout it does not take (a field number above 15
    in a ``TimeSeries``, or a wire type other than length-delimited there).
    """
    counts: Counter[int] = Counter()
    durations: list[float] = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key == (1 << 3 | LEN):
            start, pos = _len_field(buf, pos, end)
            _series_facts(buf, start, pos, counts, durations)
        else:
            pos = _skip(buf, pos, end, key & 7)
    return counts, durations
