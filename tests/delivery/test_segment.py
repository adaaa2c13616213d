"""The segment reader against record lengths that lie: bounded by the file, never allocated."""

from __future__ import annotations

import tracemalloc
import zlib
from pathlib import Path

from openagent.delivery.record import HEADER, MAX_PAYLOAD, decode_header, encode_header
from openagent.delivery.segment import Damage, Record, SegmentReader


def record(payload: bytes, samples: int) -> bytes:
    return encode_header(payload, samples, 0) + payload


def with_length(rec: bytes, length: int) -> bytes:
    """``rec`` with its length field replaced and the header checksum made to match."""
    magic, _, samples, oldest_ms, body_crc = HEADER.unpack_from(rec)
    head = HEADER.pack(magic, length, samples, oldest_ms, body_crc)
    return head + zlib.crc32(head).to_bytes(4, "little") + rec[HEADER.size + 4 :]


FORGED = 200 * 1024 * 1024  # under the record maximum, far over the file


def forged_file(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """Four records; the second claims 200 MiB (the file holds 1 KiB), and so does the last."""
    recs = [record(bytes([65 + i]) * 200, samples=i + 1) for i in range(4)]
    recs[1] = with_length(recs[1], FORGED)
    recs[3] = with_length(recs[3], FORGED)
    path = tmp_path / "seg"
    path.write_bytes(b"".join(recs))
    return path, recs


def test_a_forged_length_is_bounded_by_the_file_and_reading_resumes(tmp_path: Path) -> None:
    path, recs = forged_file(tmp_path)
    starts = [sum(len(r) for r in recs[:i]) for i in range(4)]
    reader = SegmentReader(path)
    tracemalloc.start()
    try:
        events = reader.read(path.stat().st_size, 1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        reader.close()
    assert peak < 1024 * 1024  # the 200 MiB claimed were never allocated
    assert [(type(e).__name__, e.start, e.end) for e in events] == [
        ("Record", starts[0], starts[1]),
        ("Damage", starts[1], starts[2]),
        ("Record", starts[2], starts[3]),
        ("Damage", starts[3], path.stat().st_size),
    ]
    middle, tail = (e for e in events if isinstance(e, Damage))
    assert middle.samples is None and "a valid record follows" in middle.reason
    assert tail.samples == 4 and "runs past the end" in tail.reason  # a torn tail: header believed
    assert [e.batch.samples for e in events if isinstance(e, Record)] == [1, 3]


def test_skim_believes_no_forged_length(tmp_path: Path) -> None:
    path, _ = forged_file(tmp_path)
    reader = SegmentReader(path)
    try:
        summary = reader.skim(path.stat().st_size)
    finally:
        reader.close()
    assert (summary.records, summary.samples) == (3, 1 + 3 + 4)


def test_a_header_claiming_more_than_the_writer_makes_is_not_a_header() -> None:
    rec = record(b"x" * 10, samples=2)
    assert decode_header(with_length(rec, MAX_PAYLOAD)) is not None
    assert decode_header(with_length(rec, MAX_PAYLOAD + 1)) is None
