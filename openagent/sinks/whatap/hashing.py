"""Whatap's small encodings: HashStr, Hash64, hexa32 text and IPv4 -> i32 (PROTOCOL §2)."""

from __future__ import annotations

import re
import zlib

from openagent.sinks.whatap.codec import I64_MAX, I64_MIN

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def hash_str(s: str | bytes) -> int:
    """golib ``HashStr``: CRC-32 (zlib) of the UTF-8 bytes, as a signed i32."""
    data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    c = zlib.crc32(data)
    return c - 0x100000000 if c >= 0x80000000 else c


def _crc32_entry(i: int) -> int:
    # zlib.crc32 of one byte with the register preset to all ones runs one table
    # step on a zero register: ~crc32(b, ~0) is exactly the CRC-32 table entry.
    return zlib.crc32(bytes((i,)), _MASK32) ^ _MASK32


def _sign_extend_32_to_64(v: int) -> int:
    return v | 0xFFFFFFFF00000000 if v & 0x80000000 else v


# Hash64 reuses the CRC-32 table, with every entry sign-extended to 64 bits.
_HASH64_TABLE = tuple(_sign_extend_32_to_64(_crc32_entry(i)) for i in range(256))


def hash64(data: bytes) -> int:
    """golib ``Hash64`` (not a standard CRC-64; PROTOCOL §2.2), as a signed i64."""
    reg = _MASK64
    table = _HASH64_TABLE
    for b in data:
        reg = (reg >> 8) ^ table[(reg ^ b) & 0xFF]
    reg ^= _MASK64
    return reg - (1 << 64) if reg >> 63 else reg


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MIN_INT64_TEXT = "z8000000000000"
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+")


def _base32(n: int) -> str:
    out = []
    while True:
        n, d = divmod(n, 32)
        out.append(_DIGITS[d])
        if n == 0:
            return "".join(reversed(out))


def to_string32(n: int) -> str:
    """golib ``hexa32.ToString32``: ``x`` + base-32 for n >= 10, ``z`` + base-32 of -n below 0."""
    if not I64_MIN <= n <= I64_MAX:
        raise ValueError(f"hexa32 value {n} does not fit in 64 bits")
    if n == I64_MIN:
        return _MIN_INT64_TEXT
    if n < 0:
        return "z" + _base32(-n)
    if n < 10:
        return str(n)
    return "x" + _base32(n)


def _digit(ch: str) -> int:
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "a" <= ch <= "z":
        return ord(ch) - 87
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    return 0


def _from_base32(s: str) -> int:
    # golib accepts digits up to 35 (a-z, A-Z), maps anything else to 0, and
    # returns 0 when the magnitude exceeds MaxInt64.
    result = 0
    for ch in s:
        result = result * 32 + _digit(ch)
        if result > I64_MAX:
            return 0
    return result


def to_long32(s: str) -> int:
    """golib ``hexa32.ToLong32``, including its lenient treatment of malformed text."""
    if not s:
        return 0
    head = s[0]
    if head == "z":
        return I64_MIN if s == _MIN_INT64_TEXT else -_from_base32(s[1:])
    if head == "x":
        return _from_base32(s[1:])
    if not _DECIMAL_RE.fullmatch(s):
        return 0
    v = int(s)
    return v if I64_MIN <= v <= I64_MAX else 0


_CANONICAL32_RE = re.compile(r"[xz][0-9a-v]+|[0-9]")


def is_canonical32(s: str) -> bool:
    """True when ``s`` has the form `to_string32` produces (lower-case digits 0-9a-v)."""
    return _CANONICAL32_RE.fullmatch(s) is not None


def ip_to_int32(ip: str) -> int:
    """Dotted IPv4 text -> i32 as golib does it: 4 parts needed, else 0; bad parts count 0."""
    parts = ip.split(".")
    if len(parts) != 4:
        return 0
    v = 0
    for part in parts:
        b = int(part) if _DECIMAL_RE.fullmatch(part) else 0
        if not I64_MIN <= b <= I64_MAX:
            b = 0
        v = (v << 8) | (b & 0xFF)
    return v - 0x100000000 if v >= 0x80000000 else v
