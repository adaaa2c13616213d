"""DataOutputX writer and reader: ranges, boundaries, and errors on bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.whatap.codec import (
    DecodeError,
    EncodeError,
    Reader,
    Writer,
    blob_bytes,
    decimal_bytes,
    text_bytes,
)

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def shortest_decimal_length(v: int) -> int:
    """Independent oracle for the Decimal length byte."""
    if v == 0:
        return 0
    for n in (1, 2, 3, 4, 5):
        if -(2 ** (8 * n - 1)) <= v < 2 ** (8 * n - 1):
            return n
    return 8


@given(I64)
def test_decimal_round_trips_and_is_shortest(v: int) -> None:
    data = decimal_bytes(v)
    assert data[0] == shortest_decimal_length(v)
    assert len(data) == 1 + data[0]
    r = Reader(data)
    assert r.decimal() == v
    assert r.at_end()


def test_decimal_reader_reads_unknown_lengths_as_eight_bytes() -> None:
    # golib: any length byte other than 0..5 is followed by an i64.
    assert Reader(b"\x07" + struct.pack(">q", -5)).decimal() == -5


@pytest.mark.parametrize(
    ("n", "prefix"),
    [(0, "00"), (1, "01"), (253, "fd"), (254, "ff00fe"), (65535, "ffffff"), (65536, "fe00010000")],
)
def test_blob_prefix_boundaries(n: int, prefix: str) -> None:
    data = bytes(n)
    out = blob_bytes(data)
    assert out.hex().startswith(prefix)
    assert len(out) == len(prefix) // 2 + n
    assert Reader(out).blob() == data


def test_nil_blob_and_empty_text_are_a_single_zero() -> None:
    assert Writer().blob(None).getvalue() == b"\x00"
    assert text_bytes("") == b"\x00"


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("byte", 256),
        ("byte", -129),
        ("short", 32768),
        ("int32", 2**31),
        ("int3", 2**31),
        ("long5", 2**63),
        ("long", -(2**63) - 1),
        ("decimal", 2**63),
        ("float32", 1e39),
    ],
)
def test_out_of_range_values_raise_encode_error(method: str, value: float) -> None:
    with pytest.raises(EncodeError, match=r"out of range|does not fit"):
        getattr(Writer(), method)(value)


def test_array_count_over_i16_raises() -> None:
    with pytest.raises(EncodeError, match="count"):
        Writer().long_array([0] * 32768)


def test_int3_and_long5_sign_extend() -> None:
    assert Reader(bytes.fromhex("800000")).int3() == -(2**23)
    assert Reader(bytes.fromhex("8000000000")).long5() == -(2**39)
    assert Writer().int3(-1).long5(-1).getvalue() == b"\xff" * 8


def test_text_keeps_invalid_utf8_bytes_through_a_round_trip() -> None:
    raw = b"\x05ab\xffcd"
    s = Reader(raw).text()
    assert Writer().text(s).getvalue() == raw


def test_text_with_lone_surrogate_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="UTF-8"):
        text_bytes("\ud800")


def test_short_bytes_and_text_short_length_read_length_unsigned() -> None:
    data = bytes(40000)
    out = Writer().short_bytes(data[:30000]).getvalue()
    assert Reader(out).short_bytes() == data[:30000]
    raw = b"\x9c\x40" + data  # 40000 as u16
    assert len(Reader(raw).short_bytes()) == 40000


@pytest.mark.parametrize(
    ("data", "call", "message"),
    [
        (b"", "byte", "truncated byte at offset 0"),
        (b"\x00", "short", "truncated short at offset 0: needs 2 bytes, 1 left"),
        (b"\x05\x00\x00", "decimal", "truncated decimal at offset 1"),
        (b"\x03ab", "text", "truncated text at offset 1: needs 3 bytes, 2 left"),
        (b"\xfe\xff\xff\xff\xff", "blob", "negative length -1"),
        (b"\xff\x00", "blob", "truncated blob length"),
        (b"\xff\xff", "long_array", "negative long array count -1"),
        (b"\x00\x05" + bytes(8), "long_array", "5 items need at least 40 bytes"),
        (b"\x00\x00\x00\x09abc", "int_bytes", "truncated int_bytes at offset 4"),
    ],
)
def test_reader_errors_name_field_and_offset(data: bytes, call: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        getattr(Reader(data), call)()


@given(st.binary(max_size=64))
def test_reader_only_ever_raises_decode_error(data: bytes) -> None:
    for call in (
        "decimal",
        "blob",
        "text",
        "int_bytes",
        "short_bytes",
        "text_array",
        "long_array",
        "double_array",
        "float_array",
        "int_array",
        "short_array",
        "text_short_length",
        "long5",
        "int3",
    ):
        try:
            getattr(Reader(data), call)()
        except DecodeError:
            pass


def test_writer_chains_and_reader_tracks_position() -> None:
    w = Writer().byte(1).boolean(True).short(-2).int32(3).long(4).double(0.5).text("x")
    r = Reader(w.getvalue())
    assert (r.byte(), r.boolean(), r.short(), r.int32(), r.long(), r.double()) == (
        1,
        True,
        -2,
        3,
        4,
        0.5,
    )
    assert r.pos == 24
    assert r.text() == "x"
    assert r.at_end() and r.remaining == 0
    assert len(w) == 26


def signed(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=-(2 ** (bits - 1)), max_value=2 ** (bits - 1) - 1)


F32 = st.floats(width=32, allow_nan=False)
F64 = st.floats(allow_nan=False)
BYTES = st.binary(max_size=300)
#: every DataOutputX writer (§1) -> the values it takes; the reader has the same name
WRITERS: dict[str, st.SearchStrategy[object]] = {
    "byte": st.integers(min_value=0, max_value=255),
    "boolean": st.booleans(),
    "short": signed(16),
    "int3": signed(24),
    "int32": signed(32),
    "long5": signed(40),
    "long": I64,
    "decimal": I64,
    "float32": F32,
    "double": F64,
    "text": st.text(max_size=300),
    "blob": BYTES,
    "int_bytes": BYTES,
    "short_bytes": BYTES,
    "text_short_length": st.text(max_size=100),
    "short_array": st.lists(signed(16), max_size=20),
    "int_array": st.lists(signed(32), max_size=20),
    "long_array": st.lists(I64, max_size=20),
    "float_array": st.lists(F32, max_size=20),
    "double_array": st.lists(F64, max_size=20),
    "text_array": st.lists(st.text(max_size=20), max_size=20),
}
CALLS = st.lists(
    st.sampled_from(sorted(WRITERS)).flatmap(lambda m: st.tuples(st.just(m), WRITERS[m])),
    max_size=12,
)


@given(CALLS)
def test_any_sequence_of_writes_reads_back_in_order(calls: list[tuple[str, object]]) -> None:
    w = Writer()
    for method, value in calls:
        getattr(w, method)(value)
    r = Reader(w.getvalue())
    for method, value in calls:
        back = getattr(r, method)()
        # repr tells -0.0 from 0.0 and a float from an int
        assert repr(back) == repr(value), method
    assert r.at_end()
