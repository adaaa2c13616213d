"""The checkpoint file: atomic replacement and clear errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from openagent.delivery.checkpoint import (
    MARK,
    NAME,
    Checkpoint,
    CheckpointError,
    PositionMark,
    load_checkpoint,
    store_checkpoint,
)


@pytest.mark.parametrize("fsync", [False, True])
def test_round_trip(tmp_path: Path, fsync: bool) -> None:
    assert load_checkpoint(tmp_path) is None
    store_checkpoint(tmp_path, Checkpoint(3, 4096, True), fsync=fsync)
    store_checkpoint(tmp_path, Checkpoint(4, 0, False), fsync=fsync)
    assert load_checkpoint(tmp_path) == Checkpoint(4, 0, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"segment": -1, "offset": 0}', "'segment' must be a non-negative integer, got -1"),
        ('{"segment": 1, "offset": "9"}', "'offset' must be a non-negative integer, got '9'"),
        ('{"segment": 1, "offset": 2, "maybe_sent": 1}', "'maybe_sent' must be true or false"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / NAME).write_text(text)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert str(info.value).startswith(str(tmp_path / NAME))
    assert problem in str(info.value)


def test_position_mark_round_trip_and_damage(tmp_path: Path) -> None:
    mark = PositionMark(tmp_path)
    try:
        assert mark.read() is None  # new, empty
        mark.write(7, 123_456)
        mark.write(8, 64)
        assert mark.read() == (8, 64)
        data = bytearray((tmp_path / MARK).read_bytes())
        data[3] ^= 1
        (tmp_path / MARK).write_bytes(bytes(data))
        assert mark.read() is None  # checksum no longer matches
        (tmp_path / MARK).write_bytes(b"\x01\x02")
        assert mark.read() is None  # cut short
    finally:
        mark.close()


def test_a_mark_of_the_older_20_byte_form_still_reads(tmp_path: Path) -> None:
    body = struct.pack("<QQ", 5, 4096)
    (tmp_path / MARK).write_bytes(body + zlib.crc32(body).to_bytes(4, "little"))
    mark = PositionMark(tmp_path)
    try:
        assert mark.read() == (5, 4096)
        assert mark.read_handed() is None  # it did not say what was out
        mark.write(5, 8192, (6, 100))
        assert mark.read() == (5, 8192) and mark.read_handed() == (6, 100)
        mark.write(6, 0)
        assert mark.read_handed() == (6, 0)  # nothing out beyond the position
    finally:
        mark.close()
