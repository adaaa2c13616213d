"""Memory queue plus spool: spilling during outages, recovery in order, write-through."""

from __future__ import annotations

import asyncio
import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.metrics import DROP_REASONS
from openagent.delivery.queue import batch_cost
from openagent.delivery.segment import SegmentReader
from tests.delivery.support import (
    HttpSink,
    Receiver,
    dropped,
    make_batch,
    metric,
    result,
    seq_of,
    total_samples,
    unique_name,
)
from tests.support import eventually


def fast(**kw: Any) -> DeliveryOptions:
    """Options with short retry waits."""
    return DeliveryOptions(backoff_initial=0.02, backoff_max=0.1, **kw)


async def test_outage_longer_than_memory_spills_and_recovers_in_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    opts = fast(
        memory_queue_bytes=5 * batch_cost(make_batch(0)),
        spool_dir=tmp_path,
        spool_segment_bytes=4096,
    )
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    lane = d.lane(name)
    assert lane.fifo.spool is not None
    await receiver.stop()
    for i in range(300):
        d.submit(result(i))
        if i % 10 == 0:
            await asyncio.sleep(0.01)
    assert lane.fifo.spool.segments > 3
    assert metric("openagent_delivery_spool_bytes", sink=name) == lane.fifo.spool.bytes > 0
    assert len(lane.fifo.spool.cache) == 5  # the newest stay in memory as a read cache
    await receiver.start()
    await eventually(lambda: len(receiver.accepted) == 300)
    assert receiver.accepted == list(range(300))
    assert metric("openagent_delivery_samples_sent_total", sink=name) == total_samples(range(300))
    assert all(dropped(name, r) == 0 for r in DROP_REASONS)
    spool = lane.fifo.spool
    await eventually(lambda: spool is not None and spool.segments == 1)  # consumed: gone
    await d.close(1.0)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["checkpoint.json", "position"]


async def test_write_through_with_a_zero_memory_queue(receiver: Receiver, tmp_path: Path) -> None:
    name = unique_name()
    opts = fast(memory_queue_bytes=0, spool_dir=tmp_path)
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    for i in range(50):
        d.submit(result(i))
    lane = d.lane(name)
    assert lane.fifo.spool is not None and lane.fifo.spool.bytes > 0
    assert len(lane.fifo.spool.cache) == 0
    await eventually(lambda: len(receiver.accepted) == 50)
    await d.close(1.0)
    assert receiver.accepted == list(range(50))


async def test_flapping_receiver_keeps_exact_order(receiver: Receiver, tmp_path: Path) -> None:
    """Outages of random length while batches trickle in: every batch once, in order."""
    rng = random.Random(7)
    name = unique_name()
    opts = fast(
        memory_queue_bytes=3 * batch_cost(make_batch(0)),
        spool_dir=tmp_path,
        spool_segment_bytes=1000,
    )
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    seq = 0
    for _ in range(8):
        receiver.script = [rng.choice([200, 503, 503]) for _ in range(rng.randrange(1, 30))]
        for _ in range(rng.randrange(5, 40)):
            d.submit(result(seq))
            seq += 1
            if rng.random() < 0.3:
                await asyncio.sleep(0.005)
    await eventually(lambda: len(receiver.accepted) == seq)
    await d.close(1.0)
    assert receiver.accepted == list(range(seq))
    assert all(dropped(name, r) == 0 for r in DROP_REASONS)


async def test_batch_in_flight_keeps_its_place_when_memory_spills(
    receiver: Receiver, receiver2: Receiver, tmp_path: Path
) -> None:
    """Batch 0 is out (slow receiver) when 1..11 overflow memory: it is spooled first."""
    name = unique_name()
    receiver.delay = 30.0  # takes batch 0 and answers too late
    opts = fast(memory_queue_bytes=2 * batch_cost(make_batch(0)), spool_dir=tmp_path)
    d = Delivery([HttpSink(name, receiver.url, timeout=60.0)], opts)
    await d.start()
    lane = d.lane(name)
    d.submit(result(0))
    await eventually(lambda: len(lane.fifo.in_flight) == 1)  # the consumer took it
    for i in range(1, 12):
        d.submit(result(i))
    assert lane.fifo.spool is not None and lane.fifo.spool.bytes > 0
    await d.close(grace=0.1)  # batch 0 never finished
    d = Delivery([HttpSink(name, receiver2.url)], opts)
    await d.start()
    await eventually(lambda: len(receiver2.accepted) == 12)
    await d.close(1.0)
    assert receiver2.accepted == list(range(12))
    # the send of batch 0 was cut short: it may have arrived, so it counts as a possible duplicate
    replayed = metric("openagent_delivery_replayed_samples_total", sink=name)
    assert replayed == total_samples([0])


async def test_spilled_batch_in_flight_is_not_sent_twice_when_its_send_succeeds(
    receiver: Receiver, tmp_path: Path
) -> None:
    name = unique_name()
    receiver.delay = 0.3
    opts = fast(memory_queue_bytes=2 * batch_cost(make_batch(0)), spool_dir=tmp_path)
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    lane = d.lane(name)
    d.submit(result(0))
    await eventually(lambda: len(lane.fifo.in_flight) == 1)
    for i in range(1, 12):
        d.submit(result(i))
    assert lane.fifo.spool is not None and lane.fifo.spool.bytes > 0
    receiver.delay = 0.0
    await eventually(lambda: len(receiver.accepted) == 12)
    await d.close(1.0)
    assert receiver.accepted == list(range(12))


async def test_every_batch_is_on_disk_as_soon_as_it_is_queued(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Plenty of memory, and still each batch is in a segment file before `submit` returns."""
    name = unique_name()
    await receiver.stop()
    d = Delivery([HttpSink(name, receiver.url)], fast(spool_dir=tmp_path))
    await d.start()
    for i in range(10):
        d.submit(result(i))
    records = []
    for path in sorted((tmp_path / name).glob("*.seg")):
        reader = SegmentReader(path)
        try:
            records += [seq_of(e.batch.payload) for e in reader.read(path.stat().st_size, 1 << 20)]
        finally:
            reader.close()
    assert records == list(range(10))
    await receiver.start()
    await eventually(lambda: receiver.accepted == list(range(10)))
    await d.close(1.0)


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write to a spool segment fails with ENOSPC until the monkeypatch is undone."""

    def full(fd: int, buffers: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "writev", full)


async def test_batches_the_spool_cannot_write_are_delivered_from_memory_in_order(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique_name()
    await receiver.stop()
    d = Delivery([HttpSink(name, receiver.url)], fast(spool_dir=tmp_path))
    await d.start()
    lane = d.lane(name)
    for i in range(5):
        d.submit(result(i))
    with monkeypatch.context() as m:
        disk_full(m)
        for i in range(5, 10):
            d.submit(result(i))
        assert len(lane.fifo.memory) == 5
        await receiver.start()
        await eventually(lambda: receiver.accepted == list(range(10)))
    for i in range(10, 15):
        d.submit(result(i))
    await eventually(lambda: receiver.accepted == list(range(15)))
    await d.close(1.0)
    assert all(dropped(name, r) == 0 for r in DROP_REASONS)


async def test_once_the_spool_writes_again_what_memory_held_goes_to_it_first(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique_name()
    await receiver.stop()
    d = Delivery([HttpSink(name, receiver.url)], fast(spool_dir=tmp_path))
    await d.start()
    lane = d.lane(name)
    with monkeypatch.context() as m:
        disk_full(m)
        for i in range(5):
            d.submit(result(i))
    d.submit(result(5))
    assert len(lane.fifo.memory) == 0  # all on disk now, oldest first
    await d.close(0.0)
    d = Delivery([HttpSink(name, receiver.url)], fast(spool_dir=tmp_path))
    await d.start()
    await receiver.start()
    await eventually(lambda: receiver.accepted == list(range(6)))
    await d.close(1.0)
    assert all(dropped(name, r) == 0 for r in DROP_REASONS)
