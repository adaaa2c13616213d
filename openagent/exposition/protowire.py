"""Protobuf wire primitives: varints, fields, doubles, text.

The exposition decoder reads with them, and so does the remote-write sink when
it cuts a refused ``WriteRequest`` into runs of series.

The ``protobuf`` package is not a dependency, and the exposition schema is
small and fixed, so the wire format is read directly. Malformed input raises
`ProtobufError` (a `ParseError`) naming the byte offset and the field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from openagent.exposition.errors import ParseError

F64 = struct.Struct("<d")
U64 = 2**64 - 1
VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class ProtobufError(ParseError):
    """A malformed protobuf exposition; ``offset`` is the byte where the problem is."""

    def __init__(self, offset: int, reason: str) -> None:
        ValueError.__init__(self, f"byte {offset}: {reason}")
        self.line = 0
        self.offset = offset
        self.reason = reason

    def __reduce__(self) -> tuple[type[ProtobufError], tuple[int, str]]:
        return (ProtobufError, (self.offset, self.reason))


def varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
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


def fields(buf: bytes, pos: int, end: int, what: str) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, a, b, offset of the field) of each field of a message.

    Varints give their value as ``a``; fixed64/fixed32 give their start;
    length-delimited fields give their start and end.
    """
    while pos < end:
        at = pos
        key, pos = varint(buf, pos, end, f"{what} field key")
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(at, f"{what}: field number 0")
        if wire == VARINT:
            value, pos = varint(buf, pos, end, f"{what} field {number}")
            yield number, wire, value, 0, at
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if pos + width > end:
                raise ProtobufError(at, f"{what} field {number}: truncated {width}-byte value")
            yield number, wire, pos, 0, at
            pos += width
        elif wire == BYTES:
            size, start = varint(buf, pos, end, f"{what} field {number} length")
            pos = start + size
            if pos > end:
                raise ProtobufError(
                    at, f"{what} field {number} claims {size} bytes, only {end - start} remain"
                )
            yield number, wire, start, pos, at
        else:
            raise ProtobufError(at, f"{what} field {number}: unsupported wire type {wire}")


def expect(wire: int, want: int, number: int, what: str, at: int) -> None:
    """Raise unless field ``number`` has wire type ``want``."""
    if wire != want:
        raise ProtobufError(at, f"{what} field {number} has wire type {wire}, expected {want}")


def double(buf: bytes, wire: int, a: int, number: int, what: str, at: int) -> float:
    """The double of a fixed64 field."""
    expect(wire, FIXED64, number, what, at)
    value: float = F64.unpack_from(buf, a)[0]
    return value


def text(buf: bytes, wire: int, a: int, b: int, number: int, what: str, at: int) -> str:
    """The UTF-8 string of a length-delimited field."""
    expect(wire, BYTES, number, what, at)
    try:
        return buf[a:b].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(a + exc.start, f"{what} field {number}: invalid UTF-8") from None


def zigzag(n: int, bits: int) -> int:
    """A ``sint32``/``sint64`` varint's value (ZigZag), wrapped to ``bits`` first."""
    n &= (1 << bits) - 1
    return (n >> 1) ^ -(n & 1)


def sints(buf: bytes, wire: int, a: int, b: int, number: int, what: str, at: int) -> list[int]:
    """The ``sint64`` values of one occurrence of repeated field ``number``, packed or not
    (``metrics.proto`` is proto2, so writers may use either form)."""
    if wire == VARINT:
        return [zigzag(a, 64)]
    expect(wire, BYTES, number, what, at)
    out = []
    pos = a
    while pos < b:
        n, pos = varint(buf, pos, b, what)
        out.append(zigzag(n, 64))
    return out
