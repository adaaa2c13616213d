"""A spool damaged between runs: every file deleted or stepped over at start is logged and counted.

Each test has the real `Spool` write a spool of 30 records (segments 1, 2
and 3, ten records each), damages it on disk the way a crash, a disk or a
person could, and starts a spool on it again, draining it with `read` and
`ack` as the sender would.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from openagent.delivery.checkpoint import NAME, Checkpoint, PositionMark, load_checkpoint
from openagent.delivery.record import HEADER, HEADER_SIZE, MAX_PAYLOAD
from openagent.delivery.recovery import segment_name
from openagent.delivery.spool import Spool
from tests.delivery.support import dropped, make_batch, metric, seq_of, total_samples, unique_name

PAYLOAD = 100
RECORD = HEADER_SIZE + PAYLOAD
SEGMENT = 10 * RECORD


def new_spool(directory: Path, sink: str) -> Spool:
    return Spool(directory, sink=sink, max_bytes=1 << 20, segment_bytes=SEGMENT)


async def write_spool(directory: Path, records: int = 30, delivered: int = 0) -> None:
    """Spool ``records`` batches (from 0), deliver the first ``delivered``, stop cleanly."""
    spool = new_spool(directory, unique_name())
    await spool.open()
    for seq in range(records):
        assert spool.append(make_batch(seq, PAYLOAD)) is not None
    for _ in range(delivered):
        got = await spool.read()
        assert got is not None
        spool.ack(got[1])
    await spool.close()


@dataclass
class Restart:
    """What a start on a spool directory logged, replayed and counted."""

    sink: str
    seqs: list[int]
    logs: list[MutableMapping[str, Any]]
    recovered: int

    def errors(self, event: str) -> list[MutableMapping[str, Any]]:
        return [e for e in self.logs if e["event"] == event and e["log_level"] == "error"]

    def problems(self, problem: str) -> float:
        name = "openagent_delivery_spool_recovery_errors_total"
        return metric(name, sink=self.sink, problem=problem)

    @property
    def replayed(self) -> float:
        return metric("openagent_delivery_replayed_samples_total", sink=self.sink)

    @property
    def corrupt_bytes(self) -> float:
        return metric("openagent_delivery_spool_corrupt_bytes_total", sink=self.sink)


async def restart(directory: Path) -> Restart:
    """Open a spool on ``directory``, deliver all it replays, stop cleanly."""
    sink = unique_name()
    spool = new_spool(directory, sink)
    with capture_logs() as logs:
        await spool.open()
        seqs = []
        while (got := await spool.read()) is not None:
            seqs.append(seq_of(got[0].payload))
            spool.ack(got[1])
        await spool.close()
    return Restart(sink, seqs, logs, spool.ledger.recovered_samples)


def segment_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.seg"))


def store_checkpoint_text(directory: Path, segment: int, offset: int) -> None:
    (directory / NAME).write_bytes(orjson.dumps({"segment": segment, "offset": offset}))


def write_mark(directory: Path, segment: int, offset: int) -> None:
    mark = PositionMark(directory)
    try:
        mark.write(segment, offset)
    finally:
        mark.close()


def read_mark(directory: Path) -> tuple[int, int] | None:
    mark = PositionMark(directory)
    try:
        return mark.read()
    finally:
        mark.close()


# -- positions past the end ------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "offset", "found"),
    [
        (9, 0, f"{segment_name(9)} is past the newest segment on disk, {segment_name(3)}"),
        (3, SEGMENT + 1, f"{segment_name(3)} holds {SEGMENT} bytes"),
        (2, 3 * SEGMENT, f"{segment_name(2)} holds {SEGMENT} bytes"),
        (10**16, 0, f"segment id {10**16} is above the largest a spool uses ({10**16 - 2})"),
    ],
)
async def test_a_checkpoint_past_the_end_replays_everything_as_possible_duplicates(
    tmp_path: Path, segment: int, offset: int, found: str
) -> None:
    await write_spool(tmp_path)
    store_checkpoint_text(tmp_path, segment, offset)
    write_mark(tmp_path, 0, 0)  # older than the checkpoint, so not used
    r = await restart(tmp_path)
    assert r.seqs == list(range(30))
    assert r.recovered == total_samples(range(30))
    assert r.replayed == total_samples(range(30))
    [error] = r.errors("spool position points past the end of the spool; not trusted")
    assert error["file"] == str(tmp_path / NAME)
    assert (error["segment"], error["offset"], error["found"]) == (segment, offset, found)
    assert r.problems("position_beyond_end") == 1
    assert r.errors("no usable spool position, replaying all")
    again = await restart(tmp_path)  # the untrusted position was replaced: nothing left, no errors
    assert again.seqs == [] and not [e for e in again.logs if e["log_level"] == "error"]


async def test_a_checkpoint_exactly_at_the_end_of_the_last_segment_is_a_delivered_spool(
    tmp_path: Path,
) -> None:
    """Segments 1 and 2 are behind it (the last run had no time to delete them): they go quietly."""
    await write_spool(tmp_path)
    store_checkpoint_text(tmp_path, 3, SEGMENT)
    r = await restart(tmp_path)
    assert r.seqs == [] and r.recovered == 0 and r.replayed == 0
    assert not [e for e in r.logs if e["log_level"] == "error"]
    assert segment_files(tmp_path) == []


async def test_a_position_mark_past_the_end_falls_back_to_the_checkpoint(tmp_path: Path) -> None:
    await write_spool(tmp_path, delivered=5)
    write_mark(tmp_path, 3, SEGMENT + HEADER_SIZE)  # newer than the checkpoint, checksum fine
    r = await restart(tmp_path)
    assert r.seqs == list(range(5, 30))
    assert r.replayed == total_samples(range(5, 30))  # the mark cannot tell what was sent
    [error] = r.errors("spool position points past the end of the spool; not trusted")
    assert error["file"] == str(tmp_path / "position")
    assert r.problems("position_beyond_end") == 1


async def test_a_cleanly_delivered_spool_starts_without_complaint(tmp_path: Path) -> None:
    await write_spool(tmp_path, delivered=30)
    assert segment_files(tmp_path) == []
    r = await restart(tmp_path)
    assert r.seqs == [] and not [e for e in r.logs if e["log_level"] == "error"]
    await write_spool(tmp_path, records=3)  # the next run's segment follows the checkpoint's
    r = await restart(tmp_path)
    assert r.seqs == [0, 1, 2] and r.replayed == 0
    assert not [e for e in r.logs if e["log_level"] == "error"]


# -- missing and unusable files ----------------------------------------------------


async def test_a_missing_middle_segment_is_reported_and_the_rest_replays(tmp_path: Path) -> None:
    await write_spool(tmp_path)
    (tmp_path / segment_name(2)).unlink()
    r = await restart(tmp_path)
    assert r.seqs == [*range(10), *range(20, 30)]
    [error] = r.errors("spool segments missing; what they held is unknown")
    assert (error["first"], error["last"], error["files"]) == (segment_name(2),) * 2 + (1,)
    assert r.problems("segment_missing") == 1
    assert r.replayed == 0


async def test_segments_missing_after_a_consumed_one_are_reported(tmp_path: Path) -> None:
    """The checkpoint's segment was consumed and deleted; the next one must follow it."""
    await write_spool(tmp_path, records=40)  # segments 1-4
    store_checkpoint_text(tmp_path, 1, SEGMENT)
    for sid in (1, 2, 3):
        (tmp_path / segment_name(sid)).unlink()
    r = await restart(tmp_path)
    assert r.seqs == list(range(30, 40))
    [error] = r.errors("spool segments missing; what they held is unknown")
    assert (error["first"], error["last"], error["files"]) == (segment_name(2), segment_name(3), 2)
    assert r.problems("segment_missing") == 2


@pytest.mark.parametrize("kind", ["directory", "symlink"])
async def test_a_segment_that_is_not_a_regular_file_is_reported_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    await write_spool(tmp_path)
    seg2 = tmp_path / segment_name(2)
    if kind == "directory":
        seg2.unlink()
        seg2.mkdir()
    else:
        outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.seg"
        seg2.rename(outside)
        seg2.symlink_to(outside)
    r = await restart(tmp_path)
    assert r.seqs == [*range(10), *range(20, 30)]
    [error] = r.errors("spool segment is not a regular file; skipped")
    assert error["file"] == str(seg2)
    assert r.problems("segment_not_a_file") == 1
    assert seg2.is_symlink() or seg2.is_dir()


async def test_an_unreadable_segment_is_reported_counted_in_bytes_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open of one segment fails with EACCES.

    Injected: the tests run as root, which ignores permission bits. Not
    modelled: a read that fails part way through a file.
    """
    await write_spool(tmp_path)
    seg2 = tmp_path / segment_name(2)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        if Path(path) == seg2:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr("openagent.delivery.segment.os.open", refusing_open)
    r = await restart(tmp_path)
    assert r.seqs == [*range(10), *range(20, 30)]
    [error] = r.errors("spool segment unreadable; skipped")
    assert (error["file"], error["bytes"], error["error"]) == (
        str(seg2),
        SEGMENT,
        "Permission denied",
    )
    assert r.problems("segment_unreadable") == 1
    assert r.corrupt_bytes == SEGMENT
    assert seg2.exists()


# -- damaged position files ----------------------------------------------------------


async def test_a_damaged_position_mark_replays_from_the_checkpoint_as_possible_duplicates(
    tmp_path: Path,
) -> None:
    await write_spool(tmp_path, delivered=5)
    mark = tmp_path / "position"
    data = bytearray(mark.read_bytes())
    data[3] ^= 0x40
    mark.write_bytes(bytes(data))
    r = await restart(tmp_path)
    assert r.seqs == list(range(5, 30))
    [error] = r.errors("spool position mark damaged")
    assert error["file"] == str(mark)
    assert r.problems("position_mark_damaged") == 1
    assert r.replayed == total_samples(range(5, 30))


async def test_an_unreadable_checkpoint_is_counted_and_the_mark_used(tmp_path: Path) -> None:
    await write_spool(tmp_path, delivered=5)
    (tmp_path / NAME).unlink()
    (tmp_path / NAME).mkdir()  # read fails with EISDIR
    r = await restart(tmp_path)
    assert r.seqs == list(range(5, 30))
    [error] = r.errors("spool checkpoint unusable")
    assert error["file"] == str(tmp_path / NAME) and "cannot read" in error["error"]
    assert r.problems("checkpoint_unusable") == 1


# -- forged record lengths -------------------------------------------------------------


def forge_length(path: Path, offset: int, length: int) -> int:
    """Give the record at ``offset`` a new length with a matching header checksum; its samples."""
    with path.open("r+b") as f:
        f.seek(offset)
        magic, _, samples, oldest_ms, body_crc = HEADER.unpack(f.read(HEADER.size))
        head = HEADER.pack(magic, length, samples, oldest_ms, body_crc)
        f.seek(offset)
        f.write(head + zlib.crc32(head).to_bytes(4, "little"))
    return int(samples)


@pytest.mark.parametrize("length", [10 * 1024 * 1024, MAX_PAYLOAD + 1, 0xFFFF_FFFF])
async def test_a_forged_length_in_the_middle_costs_only_its_record(
    tmp_path: Path, length: int
) -> None:
    """Record 15's header claims more than the file holds (or the writer ever makes)."""
    await write_spool(tmp_path)
    seg2 = tmp_path / segment_name(2)
    forge_length(seg2, 5 * RECORD, length)
    r = await restart(tmp_path)
    assert r.seqs == [i for i in range(30) if i != 15]
    [error] = r.errors("damaged spool record skipped")
    assert (error["file"], error["offset"], error["bytes"]) == (str(seg2), 5 * RECORD, RECORD)
    assert error["samples"] is None  # a header that lies about its length is not believed
    assert r.corrupt_bytes == RECORD
    assert dropped(r.sink, "spool_corrupt") == 0


async def test_a_forged_length_on_the_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    await write_spool(tmp_path)
    seg3 = tmp_path / segment_name(3)
    samples = forge_length(seg3, 9 * RECORD, 10 * 1024 * 1024)
    r = await restart(tmp_path)
    assert r.seqs == list(range(29))
    [error] = r.errors("damaged spool record skipped")
    assert (error["offset"], error["bytes"], error["samples"]) == (9 * RECORD, RECORD, samples)
    assert dropped(r.sink, "spool_corrupt") == samples
    assert load_checkpoint(tmp_path) is not None


async def test_an_untrusted_position_is_replaced_before_this_run_writes(tmp_path: Path) -> None:
    """Else this run's segments 4 and 5 would make a checkpoint at segment 5 true again."""
    await write_spool(tmp_path)
    store_checkpoint_text(tmp_path, 5, 0)
    spool = new_spool(tmp_path, unique_name())
    await spool.open()
    try:
        assert load_checkpoint(tmp_path) == Checkpoint(1, 0, True)
        assert read_mark(tmp_path) == (1, 0)
    finally:
        await spool.close()
