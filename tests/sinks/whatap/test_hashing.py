"""HashStr, Hash64, hexa32 and IPv4 conversion beyond the golden vectors."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.whatap.hashing import (
    hash64,
    hash_str,
    ip_to_int32,
    is_canonical32,
    to_long32,
    to_string32,
)


def bitwise_table() -> list[int]:
    """The CRC-32 table from the polynomial, each entry sign-extended to 64 bits."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c | 0xFFFFFFFF00000000 if c & 0x80000000 else c)
    return table


TABLE = bitwise_table()


def naive_hash64(data: bytes) -> int:
    """PROTOCOL §2.2 written out with a table built from the polynomial."""
    reg = 2**64 - 1
    for b in data:
        reg = (reg >> 8) ^ TABLE[(reg ^ b) & 0xFF]
    reg ^= 2**64 - 1
    return reg - 2**64 if reg >= 2**63 else reg


def test_hash64_of_a_matches_the_spec() -> None:
    assert hash64(b"a") & (2**64 - 1) == 0xFF00000017B7BE43


@given(st.binary(max_size=200))
def test_hash64_equals_the_bitwise_definition(data: bytes) -> None:
    assert hash64(data) == naive_hash64(data)


@given(st.text(max_size=50))
def test_hash_str_is_signed_crc32(s: str) -> None:
    h = hash_str(s)
    assert -(2**31) <= h < 2**31
    assert h & 0xFFFFFFFF == zlib.crc32(s.encode())


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_hexa32_round_trips_and_is_canonical(n: int) -> None:
    text = to_string32(n)
    assert to_long32(text) == n
    assert is_canonical32(text) or n == -(2**63)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", 0),
        ("x", 0),
        ("z", 0),
        ("xV", 31),  # upper case accepted
        ("x!", 0),  # other characters count as 0
        ("x" + "v" * 13, 0),  # beyond 64 bits
        ("x7vvvvvvvvvvvv", 2**63 - 1),
        ("-12", -12),
        ("+7", 7),
        ("1_0", 0),
        ("99999999999999999999", 0),
    ],
)
def test_to_long32_is_as_lenient_as_golib(text: str, value: int) -> None:
    assert to_long32(text) == value


def test_to_string32_rejects_values_beyond_64_bits() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        to_string32(2**63)


@pytest.mark.parametrize(
    ("ip", "value"),
    [("1.2.3", 0), ("::1", 0), ("1.2.3.4.5", 0), ("a.2.3.4", 0x00020304), ("256.0.0.1", 1)],
)
def test_ip_to_int32_edge_cases(ip: str, value: int) -> None:
    assert ip_to_int32(ip) == value
