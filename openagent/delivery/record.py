"""The on-disk record: one `Batch` in a spool segment.

A record is a 28-byte header followed by the payload, all little-endian::

    magic       4 bytes  b"\\xa7OSR" (lets a reader find the next record after damage)
    length      u32      payload bytes
    samples     u32      Batch.samples
    oldest_ms   i64      Batch.oldest_ms
    body_crc    u32      CRC-32 of the payload
    header_crc  u32      CRC-32 of the 24 bytes before it

The header has its own checksum so that a damaged payload can still be
counted in samples (its header is trusted), and so that a scan for the magic
marker after a damaged header does not trust a false match inside a payload.
CRC-32 is zlib's (C, several GB/s): the format does not change with the
packages installed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xa7OSR"
HEADER = struct.Struct("<4sIIqI")
HEADER_SIZE = HEADER.size + 4
_CRC = struct.Struct("<I")
#: Largest payload the writer puts in a record, and so the largest length a
#: reader believes. 32 times the largest batch a sink builds (Whatap frames
#: stop at 8 MiB, remote write requests at about 4 MiB), and far below the
#: 4 GiB the length field could claim: a header whose checksum happens to
#: hold (or was forged) cannot make a reader skip or read gigabytes.
MAX_PAYLOAD = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Header:
    """A record header that passed its own checksum."""

    length: int
    samples: int
    oldest_ms: int
    body_crc: int

    @property
    def size(self) -> int:
        """Bytes of the whole record, header included."""
        return HEADER_SIZE + self.length


def encode_header(payload: bytes, samples: int, oldest_ms: int) -> bytes:
    """The header for a record carrying ``payload``.

    Raises ValueError when a field does not fit its width.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is over the record limit")
    if not 0 <= samples <= 0xFFFF_FFFF:
        raise ValueError(f"samples {samples} does not fit a record header")
    head = HEADER.pack(MAGIC, len(payload), samples, oldest_ms, zlib.crc32(payload))
    return head + _CRC.pack(zlib.crc32(head))


def decode_header(data: bytes | memoryview, pos: int = 0) -> Header | None:
    """The header at ``data[pos:]``, or None if it is not a valid one (or is cut short).

    A header claiming more than `MAX_PAYLOAD` bytes is not valid, whatever its
    checksum says: the writer never makes one.
    """
    if len(data) - pos < HEADER_SIZE:
        return None
    magic, length, samples, oldest_ms, body_crc = HEADER.unpack_from(data, pos)
    if magic != MAGIC or length > MAX_PAYLOAD:
        return None
    (crc,) = _CRC.unpack_from(data, pos + HEADER.size)
    if zlib.crc32(data[pos : pos + HEADER.size]) != crc:
        return None
    return Header(length, samples, oldest_ms, body_crc)


def body_ok(header: Header, payload: bytes | memoryview) -> bool:
    """True when ``payload`` is the one ``header`` describes."""
    return len(payload) == header.length and zlib.crc32(payload) == header.body_crc


def find_header(data: bytes | memoryview, start: int) -> int:
    """Offset of the first valid header at or after ``start`` in ``data``, else -1.

    A magic marker in the last 27 bytes cannot be checked yet; callers scanning
    a file in chunks overlap the chunks by ``HEADER_SIZE - 1`` bytes.
    """
    raw = bytes(data) if isinstance(data, memoryview) else data
    pos = raw.find(MAGIC, start)
    while pos >= 0:
        if decode_header(raw, pos) is not None:
            return pos
        pos = raw.find(MAGIC, pos + 1)
    return -1
