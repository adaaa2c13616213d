"""Whatap DataOutputX / DataInputX primitives: big-endian numbers, Decimal, Blob, Text.

`Writer` appends to a bytearray; `Reader` walks a buffer and raises `DecodeError`
(naming the field and the offset) on truncated or invalid input, never
`IndexError` or `struct.error`. Method names follow golib's (``WriteInt3`` ->
``int3``) except where a Python builtin would be shadowed: ``boolean``,
``int32`` (``WriteInt``) and ``float32`` (``WriteFloat``).

Text is UTF-8 with ``surrogateescape``: a Go peer may send bytes that are not
valid UTF-8, and they survive a read/write round trip unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

I8 = struct.Struct(">b")
U8 = struct.Struct(">B")
I16 = struct.Struct(">h")
U16 = struct.Struct(">H")
I32 = struct.Struct(">i")
U32 = struct.Struct(">I")
I64 = struct.Struct(">q")
U64 = struct.Struct(">Q")
F32 = struct.Struct(">f")
F64 = struct.Struct(">d")

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_L5_MIN, _L5_MAX = -(2**39), 2**39 - 1
_I3_MIN, _I3_MAX = -(2**23), 2**23 - 1

Buffer = bytes | bytearray | memoryview


class DecodeError(ValueError):
    """Bytes that do not decode; the message names the field and the offset."""


class EncodeError(ValueError):
    """A value that cannot be represented on the wire (out of range, too many items)."""


def text_encode(s: str) -> bytes:
    """UTF-8 bytes of ``s`` (lone surrogates from a lenient decode map back to bytes)."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"text is not encodable as UTF-8: {exc.reason} at {exc.start}") from exc


def blob_prefix(n: int) -> bytes:
    """The length prefix of a Blob of ``n`` bytes (§1.3)."""
    if n == 0:
        return b"\x00"
    if n <= 253:
        return U8.pack(n)
    if n <= 65535:
        return b"\xff" + U16.pack(n)
    if n <= I32_MAX:
        return b"\xfe" + I32.pack(n)
    raise EncodeError(f"blob of {n} bytes is longer than the wire allows ({I32_MAX})")


def blob_bytes(data: Buffer | None) -> bytes:
    """A complete Blob: prefix plus data (``None`` and empty both give ``00``)."""
    if not data:
        return b"\x00"
    return blob_prefix(len(data)) + bytes(data)


def text_bytes(s: str) -> bytes:
    """A complete Text: the Blob of the UTF-8 bytes of ``s``."""
    return blob_bytes(text_encode(s))


def decimal_bytes(v: int) -> bytes:
    """The shortest Decimal (length byte + big-endian payload) for ``v`` (§1.2)."""
    if v == 0:
        return b"\x00"
    if -128 <= v <= 127:
        return b"\x01" + I8.pack(v)
    if -32768 <= v <= 32767:
        return b"\x02" + I16.pack(v)
    if _I3_MIN <= v <= _I3_MAX:
        return b"\x03" + I32.pack(v)[1:]
    if I32_MIN <= v <= I32_MAX:
        return b"\x04" + I32.pack(v)
    if _L5_MIN <= v <= _L5_MAX:
        return b"\x05" + I64.pack(v)[3:]
    if I64_MIN <= v <= I64_MAX:
        return b"\x08" + I64.pack(v)
    raise EncodeError(f"decimal {v} does not fit in 64 bits")


class Writer:
    """Appends DataOutputX encodings to a growing buffer; every method returns ``self``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        """The bytes written so far."""
        return bytes(self._buf)

    def raw(self, data: Buffer) -> Writer:
        """Append bytes as they are."""
        self._buf += data
        return self

    def _put(self, st: struct.Struct, v: float, what: str) -> Writer:
        try:
            self._buf += st.pack(v)
        except (struct.error, OverflowError) as exc:
            raise EncodeError(f"{what} out of range: {v!r}") from exc
        return self

    def byte(self, v: int) -> Writer:
        """One byte; accepts -128..255 and writes the low 8 bits."""
        if not -128 <= v <= 255:
            raise EncodeError(f"byte out of range: {v!r}")
        self._buf.append(v & 0xFF)
        return self

    def boolean(self, v: bool) -> Writer:
        """``01`` or ``00``."""
        self._buf.append(1 if v else 0)
        return self

    def short(self, v: int) -> Writer:
        """i16."""
        return self._put(I16, v, "short")

    def int3(self, v: int) -> Writer:
        """Low 24 bits of an i32."""
        if not I32_MIN <= v <= I32_MAX:
            raise EncodeError(f"int3 out of range: {v!r}")
        self._buf += I32.pack(v)[1:]
        return self

    def int32(self, v: int) -> Writer:
        """i32 (golib ``WriteInt``)."""
        return self._put(I32, v, "int")

    def long5(self, v: int) -> Writer:
        """Low 40 bits of an i64."""
        if not I64_MIN <= v <= I64_MAX:
            raise EncodeError(f"long5 out of range: {v!r}")
        self._buf += I64.pack(v)[3:]
        return self

    def long(self, v: int) -> Writer:
        """i64."""
        return self._put(I64, v, "long")

    def float32(self, v: float) -> Writer:
        """IEEE binary32 (golib ``WriteFloat``)."""
        return self._put(F32, v, "float")

    def double(self, v: float) -> Writer:
        """IEEE binary64, bit pattern kept (sign of zero, NaN payload)."""
        self._buf += F64.pack(v)
        return self

    def decimal(self, v: int) -> Writer:
        """Variable-length signed integer (§1.2)."""
        self._buf += decimal_bytes(v)
        return self

    def blob(self, data: Buffer | None) -> Writer:
        """Length-prefixed bytes (§1.3)."""
        if not data:
            self._buf.append(0)
        else:
            self._buf += blob_prefix(len(data))
            self._buf += data
        return self

    def text(self, s: str) -> Writer:
        """Blob of the UTF-8 bytes of ``s``."""
        return self.blob(text_encode(s))

    def int_bytes(self, data: Buffer | None) -> Writer:
        """i32 length and the bytes."""
        n = len(data) if data else 0
        self._put(I32, n, "int_bytes length")
        if data:
            self._buf += data
        return self

    def short_bytes(self, data: Buffer | None) -> Writer:
        """i16 length and the bytes."""
        n = len(data) if data else 0
        self._put(I16, n, "short_bytes length")
        if data:
            self._buf += data
        return self

    def text_short_length(self, s: str) -> Writer:
        """i16 byte length and the UTF-8 bytes."""
        return self.short_bytes(text_encode(s))

    def _numbers(self, code: str, items: Sequence[float] | None, what: str) -> Writer:
        n = len(items) if items else 0
        try:
            self._buf += struct.pack(f">h{n}{code}", n, *(items or ()))
        except (struct.error, OverflowError) as exc:
            raise EncodeError(f"{what} count or item out of range ({n} items)") from exc
        return self

    def short_array(self, items: Sequence[int] | None) -> Writer:
        """i16 count and i16 items (``None`` -> ``0000``)."""
        return self._numbers("h", items, "short array")

    def int_array(self, items: Sequence[int] | None) -> Writer:
        """i16 count and i32 items."""
        return self._numbers("i", items, "int array")

    def long_array(self, items: Sequence[int] | None) -> Writer:
        """i16 count and i64 items."""
        return self._numbers("q", items, "long array")

    def float_array(self, items: Sequence[float] | None) -> Writer:
        """i16 count and binary32 items."""
        return self._numbers("f", items, "float array")

    def double_array(self, items: Sequence[float] | None) -> Writer:
        """i16 count and binary64 items."""
        return self._numbers("d", items, "double array")

    def text_array(self, items: Sequence[str] | None) -> Writer:
        """i16 count and Text items."""
        self._put(I16, len(items) if items else 0, "text array count")
        for v in items or ():
            self.text(v)
        return self


class Reader:
    """Reads DataInputX encodings from a buffer, checking every length first."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: Buffer, pos: int = 0) -> None:
        self._data = data
        self._pos = pos
        self._end = len(data)

    @property
    def pos(self) -> int:
        """Offset of the next byte to read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Bytes left after ``pos``."""
        return self._end - self._pos

    def at_end(self) -> bool:
        """True when every byte was consumed."""
        return self._pos >= self._end

    def _need(self, n: int, what: str) -> int:
        pos = self._pos
        if n > self._end - pos:
            raise DecodeError(
                f"truncated {what} at offset {pos}: needs {n} bytes, {self._end - pos} left"
            )
        self._pos = pos + n
        return pos

    def _unpack(self, st: struct.Struct, what: str) -> tuple[int | float, ...]:
        return st.unpack_from(self._data, self._need(st.size, what))

    def peek_byte(self) -> int:
        """The next byte, not consumed."""
        if self._pos >= self._end:
            raise DecodeError(f"truncated input at offset {self._pos}: expected a byte")
        return self._data[self._pos]

    def take(self, n: int, what: str = "bytes") -> bytes:
        """Exactly ``n`` raw bytes."""
        if n < 0:
            raise DecodeError(f"negative length {n} for {what} at offset {self._pos}")
        pos = self._need(n, what)
        return bytes(self._data[pos : pos + n])

    def rest(self) -> bytes:
        """All remaining bytes."""
        return self.take(self.remaining)

    def byte(self, what: str = "byte") -> int:
        """Unsigned byte."""
        return self._data[self._need(1, what)]

    def boolean(self) -> bool:
        """Bool (true only for ``01``, as golib reads it)."""
        return self.byte("bool") == 1

    def short(self, what: str = "short") -> int:
        """i16."""
        return int(self._unpack(I16, what)[0])

    def ushort(self, what: str = "ushort") -> int:
        """u16."""
        return int(self._unpack(U16, what)[0])

    def int3(self) -> int:
        """24-bit signed integer."""
        pos = self._need(3, "int3")
        return int.from_bytes(self._data[pos : pos + 3], "big", signed=True)

    def int32(self, what: str = "int") -> int:
        """i32."""
        return int(self._unpack(I32, what)[0])

    def uint32(self, what: str = "uint") -> int:
        """u32."""
        return int(self._unpack(U32, what)[0])

    def long5(self) -> int:
        """40-bit signed integer."""
        pos = self._need(5, "long5")
        return int.from_bytes(self._data[pos : pos + 5], "big", signed=True)

    def long(self, what: str = "long") -> int:
        """i64."""
        return int(self._unpack(I64, what)[0])

    def ulong(self, what: str = "ulong") -> int:
        """u64."""
        return int(self._unpack(U64, what)[0])

    def float32(self) -> float:
        """IEEE binary32."""
        return float(self._unpack(F32, "float")[0])

    def double(self, what: str = "double") -> float:
        """IEEE binary64."""
        return float(self._unpack(F64, what)[0])

    def decimal(self, what: str = "decimal") -> int:
        """Decimal; length bytes other than 0..5 are read as an 8-byte i64, as golib does."""
        n = self.byte(what)
        return self.decimal_len(n, what)

    def decimal_len(self, n: int, what: str = "decimal") -> int:
        """The payload of a Decimal whose length byte ``n`` was already read."""
        if n == 0:
            return 0
        if n > 5:
            n = 8
        pos = self._need(n, what)
        return int.from_bytes(self._data[pos : pos + n], "big", signed=True)

    def blob(self, what: str = "blob") -> bytes:
        """Length-prefixed bytes (§1.3)."""
        n = self.byte(f"{what} length")
        if n == 255:
            n = int(self._unpack(U16, f"{what} length")[0])
        elif n == 254:
            n = int(self._unpack(I32, f"{what} length")[0])
        return self.take(n, what)

    def text(self, what: str = "text") -> str:
        """Text (UTF-8, invalid bytes kept as surrogate escapes)."""
        return self.blob(what).decode("utf-8", "surrogateescape")

    def int_bytes(self) -> bytes:
        """i32 length and bytes."""
        return self.take(self.int32("int_bytes length"), "int_bytes")

    def short_bytes(self) -> bytes:
        """u16 length and bytes (golib reads the length unsigned)."""
        return self.take(self.ushort("short_bytes length"), "short_bytes")

    def text_short_length(self) -> str:
        """u16 byte length and UTF-8 text."""
        return self.short_bytes().decode("utf-8", "surrogateescape")

    def count(self, what: str, min_item_size: int) -> int:
        """An i16 item count, checked against the bytes left."""
        n = self.short(f"{what} count")
        return self.check_count(n, what, min_item_size)

    def check_count(self, n: int, what: str, min_item_size: int) -> int:
        """Reject negative counts and counts the remaining bytes cannot hold."""
        if n < 0:
            raise DecodeError(f"negative {what} count {n} at offset {self._pos}")
        if n * min_item_size > self.remaining:
            raise DecodeError(
                f"truncated {what} at offset {self._pos}: {n} items need at least "
                f"{n * min_item_size} bytes, {self.remaining} left"
            )
        return n

    def _numbers(self, st: struct.Struct, what: str) -> list[int | float]:
        n = self.count(what, st.size)
        pos = self._need(n * st.size, what)
        return [x for (x,) in st.iter_unpack(self._data[pos : pos + n * st.size])]

    def short_array(self) -> list[int]:
        """i16 count and i16 items."""
        return [int(x) for x in self._numbers(I16, "short array")]

    def int_array(self) -> list[int]:
        """i16 count and i32 items."""
        return [int(x) for x in self._numbers(I32, "int array")]

    def long_array(self) -> list[int]:
        """i16 count and i64 items."""
        return [int(x) for x in self._numbers(I64, "long array")]

    def float_array(self) -> list[float]:
        """i16 count and binary32 items."""
        return [float(x) for x in self._numbers(F32, "float array")]

    def double_array(self) -> list[float]:
        """i16 count and binary64 items."""
        return [float(x) for x in self._numbers(F64, "double array")]

    def text_array(self) -> list[str]:
        """i16 count and Text items."""
        return [self.text() for _ in range(self.count("text array", 1))]
