"""The spool on its own: read, ack and checkpoint; groups out at once; the cache; fsync."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openagent.delivery.checkpoint import PositionMark, load_checkpoint
from openagent.delivery.fsync import FsyncPolicy
from openagent.delivery.queue import batch_cost
from openagent.delivery.spool import Spool
from tests.delivery.support import make_batch, seq_of, unique_name
from tests.support import eventually


def mark(path: Path) -> tuple[int, int] | None:
    m = PositionMark(path)
    try:
        return m.read()
    finally:
        m.close()


def segment_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("*.seg"))


async def opened(path: Path, **kw: object) -> Spool:
    spool = Spool(path, sink=unique_name(), max_bytes=1 << 20, **kw)  # type: ignore[arg-type]
    await spool.open()
    return spool


async def test_read_ack_and_checkpoint(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=400, fsync_interval=0.05)
    positions = [spool.append(make_batch(i)) for i in range(7)]
    assert all(p is not None for p in positions)
    assert spool.segments == 3 and spool.unread_samples == sum(1 + i % 7 for i in range(7))
    got = await spool.read()
    assert got is not None and seq_of(got[0].payload) == 0 and got[1] == positions[0]
    assert load_checkpoint(tmp_path) is None  # nothing delivered yet
    spool.ack(got[1])
    after_first = (got[1].segment, got[1].end)
    assert mark(tmp_path) == after_first  # at once
    cp = await eventually(lambda: load_checkpoint(tmp_path))  # in the background
    assert (cp.segment, cp.offset, cp.maybe_sent) == (*after_first, True)
    seqs = []
    while (got := await spool.read()) is not None:
        seqs.append(seq_of(got[0].payload))
        spool.ack(got[1])
    assert seqs == list(range(1, 7))
    assert spool.segments == 1  # the sealed, consumed ones are gone
    await spool.close()
    assert segment_files(tmp_path) == []
    cp = load_checkpoint(tmp_path)
    assert cp is not None and not cp.maybe_sent and mark(tmp_path) == (cp.segment, cp.offset)


async def test_several_out_at_once_are_acked_in_order_and_the_position_waits(
    tmp_path: Path,
) -> None:
    spool = await opened(tmp_path)
    positions = [spool.append(make_batch(i)) for i in range(4)]
    out = [await spool.read() for _ in range(3)]
    assert [seq_of(g[0].payload) for g in out if g is not None] == [0, 1, 2]
    assert spool.handed_out == 3
    spool.note_handed()
    m = PositionMark(tmp_path)
    try:
        assert m.read() == (positions[0].segment, positions[0].start)  # type: ignore[union-attr]
        last = positions[2]
        assert last is not None and m.read_handed() == (last.segment, last.end)
    finally:
        m.close()
    assert out[1] is not None and out[0] is not None
    spool.ack(out[1][1])  # out of order: ignored, the position cannot pass batch 0
    assert spool.handed_out == 3
    for got in out:
        assert got is not None
        spool.ack(got[1])
    assert spool.handed_out == 0
    got = await spool.read()
    assert got is not None and seq_of(got[0].payload) == 3
    await spool.close()


async def test_the_cache_serves_new_batches_and_the_disk_the_rest(tmp_path: Path) -> None:
    """A cache of two batches: the first two come back from disk, the last two from memory."""
    spool = await opened(tmp_path, cache_bytes=2 * batch_cost(make_batch(0)))
    for i in range(4):
        spool.append(make_batch(i))
    assert len(spool.cache) == 2 and spool.cache.first() is not None
    seqs = []
    while (got := await spool.read()) is not None:
        seqs.append(seq_of(got[0].payload))
        spool.ack(got[1])
    assert seqs == [0, 1, 2, 3] and len(spool.cache) == 0
    await spool.close()


async def test_a_cached_batch_is_still_replayed_after_the_process_stops(tmp_path: Path) -> None:
    spool = await opened(tmp_path, cache_bytes=1 << 20)
    for i in range(3):
        spool.append(make_batch(i))
    got = await spool.read()
    assert got is not None
    spool.ack(got[1])
    await spool.close()
    spool = await opened(tmp_path)
    seqs = []
    while (got := await spool.read()) is not None:
        seqs.append(seq_of(got[0].payload))
        spool.ack(got[1])
    assert seqs == [1, 2]
    await spool.close()


@pytest.mark.parametrize(("policy", "expect_rounds"), [("always", True), ("never", False)])
async def test_fsync_policy_decides_whether_appends_wake_the_syncer(
    tmp_path: Path, policy: FsyncPolicy, expect_rounds: bool
) -> None:
    spool = await opened(tmp_path, fsync=policy)
    for i in range(5):
        spool.append(make_batch(i))
        await asyncio.sleep(0.05)
    assert (spool.sync_rounds > 0) == expect_rounds
    await spool.close()


async def test_interval_policy_syncs_on_its_timer(tmp_path: Path) -> None:
    spool = await opened(tmp_path, fsync="interval", fsync_interval=0.05)
    spool.append(make_batch(0))
    assert spool.sync_rounds == 0
    for _ in range(100):
        await asyncio.sleep(0.02)
        if spool.sync_rounds:
            break
    assert spool.sync_rounds >= 1
    await spool.close()


async def test_a_batch_larger_than_the_spool_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, sink=unique_name(), max_bytes=200)
    await spool.open()
    assert spool.append(make_batch(0, size=500)) is None
    assert spool.bytes == 0
    await spool.close()
