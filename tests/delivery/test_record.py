"""The record format: header checksums, payload checksums, finding the next record."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.delivery.record import (
    HEADER_SIZE,
    MAGIC,
    body_ok,
    decode_header,
    encode_header,
    find_header,
)
from openagent.delivery.segment import Damage, Record, SegmentReader


def record(payload: bytes, samples: int = 3, oldest_ms: int = -5) -> bytes:
    return encode_header(payload, samples, oldest_ms) + payload


@given(st.binary(max_size=300), st.integers(0, 2**32 - 1), st.integers(-(2**63), 2**63 - 1))
def test_header_round_trip(payload: bytes, samples: int, oldest_ms: int) -> None:
    head = encode_header(payload, samples, oldest_ms)
    assert len(head) == HEADER_SIZE and head.startswith(MAGIC)
    h = decode_header(head)
    assert h is not None
    assert (h.length, h.samples, h.oldest_ms) == (len(payload), samples, oldest_ms)
    assert h.body_crc == zlib.crc32(payload)
    assert body_ok(h, payload)


@pytest.mark.parametrize("index", range(HEADER_SIZE))
def test_any_flipped_header_byte_is_detected(index: int) -> None:
    head = bytearray(encode_header(b"payload", 7, 1234))
    head[index] ^= 0x04
    assert decode_header(bytes(head)) is None


def test_flipped_payload_byte_fails_the_body_check() -> None:
    payload = bytearray(b"x" * 64)
    h = decode_header(encode_header(bytes(payload), 1, 0))
    assert h is not None
    payload[32] ^= 1
    assert not body_ok(h, bytes(payload))
    assert not body_ok(h, b"x" * 63)


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="samples"):
        encode_header(b"", 2**32, 0)


def test_find_header_skips_false_magic() -> None:
    good = record(b"abc")
    data = b"junk" + MAGIC + b"not a header at all........" + good
    assert find_header(data, 0) == data.index(good)
    assert find_header(data, data.index(good) + 1) == -1


def test_reader_reports_each_kind_of_damage_and_resumes(tmp_path: Path) -> None:
    records = [record(bytes([65 + i]) * (10 + i), samples=i + 1) for i in range(6)]
    data = bytearray(b"".join(records))
    starts = [sum(len(r) for r in records[:i]) for i in range(6)]
    data[starts[1] + HEADER_SIZE + 3] ^= 0xFF  # payload of record 1
    data[starts[3] + 2] ^= 0xFF  # magic of record 3
    path = tmp_path / "seg"
    path.write_bytes(bytes(data[: starts[5] + HEADER_SIZE + 2]))  # record 5 torn
    reader = SegmentReader(path)
    try:
        events = reader.read(path.stat().st_size, 1 << 20)
    finally:
        reader.close()
    kinds = [(type(e).__name__, e.start) for e in events]
    assert kinds == [
        ("Record", starts[0]),
        ("Damage", starts[1]),
        ("Record", starts[2]),
        ("Damage", starts[3]),
        ("Record", starts[4]),
        ("Damage", starts[5]),
    ]
    damage = [e for e in events if isinstance(e, Damage)]
    assert [d.samples for d in damage] == [2, None, 6]
    assert damage[1].end == starts[4]  # resynchronised on the next good header
    assert "checksum" in damage[0].reason and "past the end" in damage[2].reason
    good = [e for e in events if isinstance(e, Record)]
    assert [r.batch.samples for r in good] == [1, 3, 5]
    assert good[1].batch.payload == b"C" * 12


def test_skim_counts_records_without_reading_payloads(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    path.write_bytes(b"".join(record(b"z" * 50, samples=4) for _ in range(9)) + b"\x00" * 5)
    reader = SegmentReader(path)
    try:
        summary = reader.skim(path.stat().st_size)
    finally:
        reader.close()
    assert (summary.records, summary.samples) == (9, 36)
