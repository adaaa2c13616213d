"""OpenMx records and the packs that carry them (PROTOCOL §3.1-3.4).

The hot path is split so that the series part of a record is encoded once and
cached: a record is ``encode_series_prefix(name, labels) + encode_sample(ts, v)``,
and `build_openmx_pack` takes already-encoded records.

Records blobs longer than 100 bytes are gzip-compressed (zip flag 1). Our gzip
stream differs from Go's inside the deflate data (the server only inflates
it); its 10-byte header is made identical to Go's (OS byte 255).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from openagent.sinks.whatap.codec import (
    I16,
    DecodeError,
    EncodeError,
    Reader,
    Writer,
    blob_bytes,
    text_bytes,
)
from openagent.sinks.whatap.header import (
    OPEN_MX_ENDPOINT_PACK,
    OPEN_MX_HELP_PACK,
    OPEN_MX_HISTOGRAM_PACK,
    OPEN_MX_PACK,
    PackHeader,
)

Labels = tuple[tuple[str, str], ...]

#: A raw records blob longer than this is gzip-compressed.
ZIP_THRESHOLD = 100
#: The record count is an i16 on the wire (the Go agent sends at most 1000 per pack).
MAX_RECORDS = 32767
#: The label count of a record is one unsigned byte.
MAX_LABELS = 255
#: Default bound on the inflated size of a zipped records blob read from the wire.
DEFAULT_MAX_INFLATED = 64 * 1024 * 1024

_SAMPLE = struct.Struct(">qd")
_TEXT_TAG = 0x32
_MAP_TAG = 0x50


def gzip_compress(data: bytes) -> bytes:
    """gzip at level 6 with mtime 0 and, as Go writes it, OS byte 255 ("unknown").

    Python 3.11+ lets zlib fill in the OS byte (3 on Unix) when mtime is 0.
    """
    out = bytearray(gzip.compress(data, compresslevel=6, mtime=0))
    out[9] = 0xFF
    return bytes(out)


def gunzip(data: bytes, max_size: int = DEFAULT_MAX_INFLATED) -> bytes:
    """Inflate one gzip member, refusing output beyond ``max_size`` bytes."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise DecodeError(f"zipped records blob does not inflate: {exc}") from None
    if len(out) > max_size:
        raise DecodeError(f"zipped records blob inflates beyond {max_size} bytes")
    if not d.eof:
        raise DecodeError("zipped records blob is truncated (gzip stream has no end)")
    return out


# --- OpenMx record ------------------------------------------------------------


def encode_series_prefix(name: str, labels: Sequence[tuple[str, str]]) -> bytes:
    """``00 ‖ Text name ‖ byte n ‖ (Text key ‖ Text value)*``: the cacheable part of a record."""
    n = len(labels)
    if n > MAX_LABELS:
        raise EncodeError(
            f"series {name!r} has {n} labels; an OpenMx record holds at most {MAX_LABELS}"
        )
    parts = [b"\x00", text_bytes(name), bytes((n,))]
    for key, value in labels:
        parts.append(text_bytes(key))
        parts.append(text_bytes(value))
    return b"".join(parts)


def encode_sample(ts_ms: int, value: float) -> bytes:
    """``i64 timestamp ‖ f64 value``: the per-sample part of a record."""
    try:
        return _SAMPLE.pack(ts_ms, value)
    except struct.error as exc:
        raise EncodeError(f"sample timestamp {ts_ms!r} or value {value!r} invalid") from exc


@dataclass(frozen=True, slots=True)
class OpenMx:
    """One sample: metric, labels in wire order, timestamp (ms), value."""

    metric: str
    labels: Labels
    timestamp: int
    value: float

    def to_bytes(self) -> bytes:
        """The record bytes."""
        return encode_series_prefix(self.metric, self.labels) + encode_sample(
            self.timestamp, self.value
        )


def read_labels(r: Reader) -> Labels:
    """A one-byte count and that many Text pairs."""
    n = r.check_count(r.byte("label count"), "label", 2)
    return tuple((r.text("label key"), r.text("label value")) for _ in range(n))


def read_openmx(r: Reader) -> OpenMx:
    """One OpenMx record (its version byte is ignored, as the Go reader does)."""
    r.byte("record version")
    metric = r.text("metric name")
    labels = read_labels(r)
    ts = r.long("timestamp")
    return OpenMx(metric, labels, ts, r.double("value"))


# --- OpenMxHelp record --------------------------------------------------------


def encode_help_record(metric: str, properties: Mapping[str, str]) -> bytes:
    """``00 ‖ Text metric ‖ 50 ‖ Decimal n ‖ (Text key ‖ 32 ‖ Text value)*``: a standard Map.

    The Go agent writes an extra ``00`` before a value that is the literal
    text ``nil``; that is a bug and is not reproduced here.
    """
    w = Writer().byte(0).text(metric).byte(_MAP_TAG).decimal(len(properties))
    for key, value in properties.items():
        w.text(key).byte(_TEXT_TAG).text(value)
    return w.getvalue()


@dataclass(frozen=True, slots=True)
class OpenMxHelp:
    """HELP/TYPE metadata of one metric family (keys ``help``, ``type``)."""

    metric: str
    properties: Mapping[str, str]

    def to_bytes(self) -> bytes:
        """The record bytes."""
        return encode_help_record(self.metric, self.properties)


def read_help(r: Reader) -> OpenMxHelp:
    """One help record; also reads the Go agent's ``00 32`` (literal "nil") quirk."""
    r.byte("record version")
    metric = r.text("metric name")
    pos = r.pos
    if r.byte("map tag") != _MAP_TAG:
        raise DecodeError(f"help record of {metric!r}: expected a Map (80) at offset {pos}")
    n = r.check_count(r.decimal("property count"), "property", 3)
    props: dict[str, str] = {}
    for _ in range(n):
        key = r.text("property key")
        pos = r.pos
        tag = r.byte("property value type")
        if tag == 0 and r.remaining and r.peek_byte() == _TEXT_TAG:
            tag = r.byte()
        if tag != _TEXT_TAG:
            raise DecodeError(
                f"help property {key!r} of {metric!r}: expected Text (50) at offset {pos}, "
                f"got type {tag}"
            )
        props[key] = r.text("property value")
    return OpenMxHelp(metric, props)


# --- OpenMxHistogram record ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketSpan:
    """A run of native-histogram buckets: offset (i32) and length (u32)."""

    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class OpenMxHistogram:
    """A native histogram sample (bucket counts delta-encoded, as in Prometheus)."""

    metric: str
    labels: Labels
    timestamp: int
    schema: int
    zero_threshold: float
    zero_count: int
    count: int
    sum: float
    positive_spans: tuple[BucketSpan, ...] = ()
    positive_buckets: tuple[int, ...] = ()
    negative_spans: tuple[BucketSpan, ...] = ()
    negative_buckets: tuple[int, ...] = ()

    def to_bytes(self) -> bytes:
        """The record bytes (§3.3)."""
        w = Writer().raw(encode_series_prefix(self.metric, self.labels))
        w.long(self.timestamp).int32(self.schema).double(self.zero_threshold)
        w.long(_as_i64(self.zero_count, "zero_count")).long(_as_i64(self.count, "count"))
        w.double(self.sum)
        for spans, buckets in (
            (self.positive_spans, self.positive_buckets),
            (self.negative_spans, self.negative_buckets),
        ):
            w.short(len(spans))
            for span in spans:
                w.int32(span.offset).int32(_as_i32(span.length))
            w.long_array(buckets)
        return w.getvalue()


def _as_i64(v: int, what: str) -> int:
    if not 0 <= v < 2**64:
        raise EncodeError(f"histogram {what} {v} is not an unsigned 64-bit count")
    return v - 2**64 if v >= 2**63 else v


def _as_i32(v: int) -> int:
    if not 0 <= v < 2**32:
        raise EncodeError(f"bucket span length {v} is not an unsigned 32-bit number")
    return v - 2**32 if v >= 2**31 else v


def _read_spans(r: Reader) -> tuple[BucketSpan, ...]:
    n = r.count("bucket span", 8)
    return tuple(BucketSpan(r.int32("span offset"), r.uint32("span length")) for _ in range(n))


def read_histogram(r: Reader) -> OpenMxHistogram:
    """One native histogram record."""
    r.byte("record version")
    metric = r.text("metric name")
    labels = read_labels(r)
    ts = r.long("timestamp")
    schema = r.int32("schema")
    zt = r.double("zero threshold")
    zc = r.ulong("zero count")
    count = r.ulong("count")
    total = r.double("sum")
    pos_spans = _read_spans(r)
    pos_buckets = tuple(r.long_array())
    neg_spans = _read_spans(r)
    neg_buckets = tuple(r.long_array())
    return OpenMxHistogram(
        metric, labels, ts, schema, zt, zc, count, total, pos_spans, pos_buckets, neg_spans,
        neg_buckets,
    )  # fmt: skip


# --- records blob and packs ---------------------------------------------------


def records_blob(records: Sequence[bytes]) -> bytes:
    """``00 ‖ i16 count ‖ records``, uncompressed."""
    n = len(records)
    if n > MAX_RECORDS:
        raise EncodeError(f"{n} records in one pack; the count field holds at most {MAX_RECORDS}")
    return b"\x00" + I16.pack(n) + b"".join(records)


def zipped_records(records: Sequence[bytes]) -> bytes:
    """``byte zip ‖ Blob records-blob``, gzipped when the raw blob exceeds 100 bytes."""
    blob = records_blob(records)
    if len(blob) > ZIP_THRESHOLD:
        return b"\x01" + blob_bytes(gzip_compress(blob))
    return b"\x00" + blob_bytes(blob)


def build_openmx_pack(header: PackHeader, records: Sequence[bytes], endpoint: str = "") -> bytes:
    """A complete OpenMxPack from encoded records; the endpoint trailer only when non-empty."""
    out = I16.pack(OPEN_MX_PACK) + header.to_bytes() + zipped_records(records)
    return (out + text_bytes(endpoint)) if endpoint else out


def _records_reader(r: Reader, max_inflated: int) -> tuple[bool, Reader, int]:
    zipped = r.byte("zip flag") == 1
    blob = r.blob("records blob")
    if zipped:
        blob = gunzip(blob, max_inflated)
    inner = Reader(blob)
    inner.byte("records blob version")
    return zipped, inner, inner.count("record", 1)


def _finish(inner: Reader) -> None:
    if not inner.at_end():
        raise DecodeError(f"{inner.remaining} stray bytes after the records at offset {inner.pos}")


@dataclass(frozen=True, slots=True)
class OpenMxPack:
    """Metric samples (type 0x1603). ``zipped`` tells how a decoded pack came in."""

    header: PackHeader
    records: Sequence[OpenMx]
    endpoint: str = ""
    zipped: bool | None = field(default=None, compare=False)
    TYPE: ClassVar[int] = OPEN_MX_PACK

    def to_bytes(self) -> bytes:
        """The full pack."""
        return build_openmx_pack(self.header, [x.to_bytes() for x in self.records], self.endpoint)

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> OpenMxPack:
        """Body after the header; a trailing Text is the endpoint."""
        zipped, inner, n = _records_reader(r, max_inflated)
        records = [read_openmx(inner) for _ in range(n)]
        _finish(inner)
        endpoint = r.text("endpoint") if r.remaining else ""
        return cls(header, records, endpoint, zipped)


@dataclass(frozen=True, slots=True)
class OpenMxHelpPack:
    """HELP/TYPE records (type 0x1604)."""

    header: PackHeader
    records: Sequence[OpenMxHelp]
    zipped: bool | None = field(default=None, compare=False)
    TYPE: ClassVar[int] = OPEN_MX_HELP_PACK

    def to_bytes(self) -> bytes:
        """The full pack."""
        body = zipped_records([x.to_bytes() for x in self.records])
        return I16.pack(self.TYPE) + self.header.to_bytes() + body

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> OpenMxHelpPack:
        """Body after the header."""
        zipped, inner, n = _records_reader(r, max_inflated)
        records = [read_help(inner) for _ in range(n)]
        _finish(inner)
        return cls(header, records, zipped)


@dataclass(frozen=True, slots=True)
class OpenMxHistogramPack:
    """Native histogram records (type 0x1607; the Go agent never sends it)."""

    header: PackHeader
    records: Sequence[OpenMxHistogram]
    zipped: bool | None = field(default=None, compare=False)
    TYPE: ClassVar[int] = OPEN_MX_HISTOGRAM_PACK

    def to_bytes(self) -> bytes:
        """The full pack."""
        body = zipped_records([x.to_bytes() for x in self.records])
        return I16.pack(self.TYPE) + self.header.to_bytes() + body

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> OpenMxHistogramPack:
        """Body after the header."""
        zipped, inner, n = _records_reader(r, max_inflated)
        records = [read_histogram(inner) for _ in range(n)]
        _finish(inner)
        return cls(header, records, zipped)


@dataclass(frozen=True, slots=True)
class OpenMxEndpointPack:
    """Scrape target URLs seen since start (type 0x1606)."""

    header: PackHeader
    endpoints: Sequence[str]
    TYPE: ClassVar[int] = OPEN_MX_ENDPOINT_PACK

    def to_bytes(self) -> bytes:
        """The full pack: header ‖ i16 n ‖ n × Text."""
        w = Writer().short(self.TYPE).raw(self.header.to_bytes())
        return w.text_array(self.endpoints).getvalue()

    @classmethod
    def read_body(cls, r: Reader, header: PackHeader, max_inflated: int) -> OpenMxEndpointPack:
        """Body after the header."""
        return cls(header, r.text_array())
