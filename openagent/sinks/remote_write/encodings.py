"""The encoded labels of series, shared per label set and per metric name.

A ``TimeSeries`` carries its labels sorted by name, ``__name__`` among them.
``__name__`` sorts after upper-case and before lower-case names, and a label
set has the same names whatever the metric, so the encoded labels of every
series of one label set are *the same bytes before the name, the name field,
the same bytes after it*. A `BlockEncoding` holds the two shared parts once
per label tuple (the scrape layer gives every series of an exposed label
block the same tuple); the name fields are kept once per name, and the
``TimeSeries`` tag and length once per length, for all series.

Measured against one cached ``TimeSeries`` head per series (64k and 320k dcgm
series, ``benchmarks/series_memory.py`` and a splice micro-benchmark): the
shared parts cost about 95 ns more per sample in a micro-benchmark (five
appends and two small lookups instead of two appends) and save about 330
bytes per series, a quarter of what a series cost in all; through the whole
scrape path the difference in CPU was within the noise. Caching the tag,
length and ``pre`` per label set and name length instead saved one append
but cost 85 bytes per series. At 1,000 targets the per-series heads no longer
fit any CPU cache, so the gap in CPU narrows there.

The series slot that the delivery layer gives the sink (see
`openagent.model.SERIES_SLOTS`) holds a reference to the series'
`BlockEncoding`, so finding it costs a slot read.
"""

from __future__ import annotations

from typing import Final

from openagent.model import Labels, Series

#: Bound of each sharing map before it starts over (series keep what their slot holds).
SHARING_LIMIT: Final = 100_000
#: Length of the timestamp varint for every millisecond time from 1971 to 2109.
COMMON_TS_LEN: Final = 6
#: ``Sample`` tag and length for a common-length timestamp, then the value's tag.
COMMON_SAMPLE_HEAD: Final = bytes((0x12, 10 + COMMON_TS_LEN, 0x09))
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


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte, length varint, payload."""
    return bytes((tag,)) + varint(len(payload)) + payload


def label_field(name: str, value: str) -> bytes:
    """One ``TimeSeries.labels`` field."""
    return field(0x0A, field(0x0A, name.encode()) + field(0x12, value.encode()))


class BlockEncoding:
    """The encoded labels of one label set, split around where ``__name__`` goes.

    ``post_sample`` is ``post`` followed by the head of a sample with a
    common-length timestamp; ``size`` is what the labels other than the name
    add to a ``TimeSeries`` of one such sample.
    """

    __slots__ = ("post", "post_sample", "pre", "size")

    def __init__(self, labels: Labels) -> None:
        pairs = sorted((k, v) for k, v in labels if v)
        self.pre = b"".join(label_field(k, v) for k, v in pairs if k < "__name__")
        self.post = b"".join(label_field(k, v) for k, v in pairs if k > "__name__")
        self.post_sample = self.post + COMMON_SAMPLE_HEAD
        self.size = len(self.pre) + len(self.post) + len(COMMON_SAMPLE_HEAD) + 8 + 1 + COMMON_TS_LEN


class SeriesHeads(dict[int, bytes]):
    """``TimeSeries`` tag and length varint, by the length of the message: shared by all
    series (a few hundred lengths occur), so a series keeps no bytes of its own."""

    def __missing__(self, length: int) -> bytes:
        head = self[length] = b"\x0a" + varint(length)
        return head


class SeriesEncodings:
    """One sink's encodings: label sets (shared through ``slot``) and name fields."""

    __slots__ = ("_blocks", "heads", "names", "slot")

    def __init__(self, slot: str | None = None) -> None:
        self.slot = slot
        self._blocks: dict[Labels, BlockEncoding] = {}
        #: The ``__name__`` label field of each metric name.
        self.names: dict[str, bytes] = {}
        self.heads = SeriesHeads()

    def block(self, series: Series) -> BlockEncoding:
        """The encoding of ``series``' labels, kept in its slot."""
        slot = self.slot
        found = getattr(series, slot) if slot is not None else None
        if isinstance(found, BlockEncoding):
            return found
        block = self.block_of(series.labels)
        if slot is not None:
            setattr(series, slot, block)
        return block

    def block_of(self, labels: Labels) -> BlockEncoding:
        """The encoding of a label set, shared by every series that has it."""
        block = self._blocks.get(labels)
        if block is None:
            if len(self._blocks) >= SHARING_LIMIT:
                self._blocks.clear()
            block = self._blocks[labels] = BlockEncoding(labels)
        return block

    def name(self, name: str) -> bytes:
        """The ``__name__`` label field of ``name``."""
        encoded = self.names.get(name)
        if encoded is None:
            if len(self.names) >= SHARING_LIMIT:
                self.names.clear()
            encoded = self.names[name] = label_field("__name__", name)
        return encoded

    def labels(self, series: Series) -> bytes:
        """All of ``series``' ``labels`` fields, in order."""
        block = self.block(series)
        return block.pre + self.name(series.name) + block.post

    def labels_of(self, name: str, labels: Labels) -> bytes:
        """All ``labels`` fields of series ``name{labels}`` (no series at hand)."""
        block = self.block_of(labels)
        return block.pre + self.name(name) + block.post
