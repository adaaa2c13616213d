"""Wire helpers for ``make_vectors_forms.py``, written from PROTOCOL.md alone.

Only ``struct``, ``zlib`` and the ``cryptography`` AES primitive are used; nothing
of ``openagent`` is imported, so vectors made with these helpers can catch our
encoder's mistakes. `check_helpers` holds them to values of the Go-made public file.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Vector = dict[str, Any]

# --- primitives (§1) -------------------------------------------------------------------


def i8(n: int) -> bytes:
    return struct.pack(">b", n)


def i16(n: int) -> bytes:
    return struct.pack(">h", n)


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def i64(n: int) -> bytes:
    return struct.pack(">q", n)


def f64(bits: str) -> bytes:
    return bytes.fromhex(bits)


def dec(n: int) -> bytes:
    """Decimal: the smallest of the §1.2 widths."""
    if n == 0:
        return b"\x00"
    for width, lo in ((1, -(2**7)), (2, -(2**15)), (3, -(2**23)), (4, -(2**31)), (5, -(2**39))):
        if lo <= n < -lo:
            return bytes([width]) + n.to_bytes(width, "big", signed=True)
    return b"\x08" + i64(n)


def blob(b: bytes) -> bytes:
    if len(b) <= 253:
        return bytes([len(b)]) + b
    if len(b) <= 65535:
        return b"\xff" + struct.pack(">H", len(b)) + b
    return b"\xfe" + i32(len(b)) + b


def text(s: str) -> bytes:
    return blob(s.encode())


def gen(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# --- hashes, hexa32, crypto (§2, §5) ----------------------------------------------------


def hash_str(s: str) -> int:
    c = zlib.crc32(s.encode())
    return c - 2**32 if c >= 2**31 else c


def crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


def hash64(data: bytes) -> int:
    table, reg, mask = crc_table(), 2**64 - 1, 2**64 - 1
    for b in data:
        t = table[(reg ^ b) & 0xFF]
        t = t | 0xFFFFFFFF00000000 if t & 0x80000000 else t
        reg = ((reg >> 8) ^ t) & mask
    reg ^= mask
    return reg - 2**64 if reg >= 2**63 else reg


def base32(n: int) -> str:
    digits = ""
    while n:
        digits = "0123456789abcdefghijklmnopqrstuv"[n % 32] + digits
        n //= 32
    return digits


def hexa32(n: int) -> str:
    if n < 0:
        return "z" + base32(-n)
    return str(n) if n < 10 else "x" + base32(n)


def aes(key: bytes, data: bytes) -> bytes:
    key16 = (key + bytes(16))[:16]
    padded = data + bytes(-len(data) % 16)
    enc = Cipher(algorithms.AES(key16), modes.ECB()).encryptor()
    return enc.update(padded) + enc.finalize()


def hide(key: int, data: bytes) -> bytes:
    k = i32(key)
    return bytes(b ^ k[i % 4] for i, b in enumerate(data))


def ip32(ip: str) -> int:
    parts = ip.split(".")
    if len(parts) != 4:
        return 0
    vals = [int(p) & 0xFF if p.isdigit() else 0 for p in parts]
    return int.from_bytes(bytes(vals), "big", signed=True)


# --- packs (§3) and frames (§6) ---------------------------------------------------------


def header(p: Vector) -> bytes:
    pcode, oid, t = int(p["pcode"]), p["oid"], int(p["time"])
    okind, onode = p.get("okind", 0), p.get("onode", 0)
    if okind == 0 and onode == 0:
        return dec(pcode) + i32(oid) + i64(t)
    return b"\x09" + dec(pcode) + i32(oid) + i32(okind) + i32(onode) + i64(t)


def labels(pairs: list[list[str]]) -> bytes:
    return bytes([len(pairs)]) + b"".join(text(k) + text(v) for k, v in pairs)


def openmx(r: Vector) -> bytes:
    return (
        b"\x00"
        + text(r["metric"])
        + labels(r["labels"])
        + i64(int(r["timestamp"]))
        + f64(r["value_bits"])
    )


def spans(ss: list[list[int]]) -> bytes:
    return i16(len(ss)) + b"".join(i32(o) + i32(n) for o, n in ss)


def longs(xs: list[str]) -> bytes:
    return i16(len(xs)) + b"".join(i64(int(x)) for x in xs)


def histogram(r: Vector) -> bytes:
    head = b"\x00" + text(r["metric"]) + labels(r["labels"]) + i64(int(r["timestamp"]))
    head += i32(r["schema"]) + f64(r["zero_threshold_bits"])
    head += i64(int(r["zero_count"])) + i64(int(r["count"])) + f64(r["sum_bits"])
    pos = spans(r["positive_spans"]) + longs(r["positive_buckets"])
    return head + pos + spans(r["negative_spans"]) + longs(r["negative_buckets"])


def help_rec(r: Vector) -> bytes:
    props = b"".join(text(k) + b"\x32" + text(v) for k, v in r["property"])
    return b"\x00" + text(r["metric"]) + b"\x50" + dec(len(r["property"])) + props


def records_body(recs: list[bytes]) -> tuple[bytes, bytes]:
    """(zip byte ‖ Blob, the records blob); all cases here stay <= 100 bytes, so raw."""
    inner = b"\x00" + i16(len(recs)) + b"".join(recs)
    assert len(inner) <= 100
    return b"\x00" + blob(inner), inner


def text_value(s: str) -> bytes:
    return b"\x32" + text(s)


def map_value(entries: list[tuple[str, bytes]]) -> bytes:
    return b"\x50" + dec(len(entries)) + b"".join(text(k) + v for k, v in entries)


def frame(code: int, pcode: int, oid: int, key: int, payload: bytes, src: int = 1) -> bytes:
    return bytes([src, code]) + i64(pcode) + i32(oid) + i32(key) + i32(len(payload)) + payload


def check_helpers() -> None:
    """The helpers reproduce values of the Go-made public file (PROTOCOL examples)."""
    assert dec(33789).hex() == "030083fd" and dec(549755813888).hex() == "080000008000000000"
    assert hash64(b"123456789") == -281474751785175 and hash_str("123456789") == -873187034
    assert hexa32(33789) == "x10vt" and hexa32(-1) == "z1"
    key = b"WhaTapFakeKey!01"
    plain = bytes.fromhex("0568656c6c6f146463676d2d6f70656e6167656e742d6e6f6465310a150b4c")
    assert aes(key, plain).hex() == (
        "d6d87f485473d433b7757e3010a6c68383e7007d5119f1b672a3c64add4986a7"
    )
    assert hide(0x5A17C3E1, b"The quick b").hex() == "0e7fa6c12b62aa823137a1"
