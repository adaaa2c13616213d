"""A slow sink and fast producers: memory stays bounded, the excess goes to disk."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.metrics import DROP_REASONS
from openagent.model import ScrapeResult
from openagent.sinks.base import DELIVERED, Batch, Encoded, Sent
from tests.delivery.support import PlainSink, dropped, metric, result, total_samples, unique_name

MiB = 1024 * 1024


class SlowSink(PlainSink):
    """Encodes each result into its own 1 MiB payload; sending one takes 20 ms."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[int] = []

    def encode(self, res: ScrapeResult) -> Encoded:
        seq = int(res.target_id)
        body = b"%08d|" % seq + bytes([seq % 251]) * (MiB - 9)  # fresh, fully written pages
        return Encoded([Batch(body, len(res.series), res.timestamp_ms)])

    async def send(self, batch: Batch) -> Sent:
        await asyncio.sleep(0.02)
        self.sent.append(int(batch.payload[:8]))
        return DELIVERED


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_rss_stays_bounded_while_512_mib_go_through_a_16_mib_queue(tmp_path: Path) -> None:
    name = unique_name()
    sink = SlowSink(name)
    spool_dir = tmp_path / "spool"
    opts = DeliveryOptions(
        memory_queue_bytes=16 * MiB,
        spool_dir=spool_dir,
        spool_max_bytes=1024 * MiB,
        spool_fsync="never",
    )
    d = Delivery([sink], opts)
    await d.start()
    lane = d.lane(name)
    try:
        for i in range(8):  # warm up: allocator, thread pool, first segment
            d.submit(result(i))
            await asyncio.sleep(0)
        before = rss_bytes()
        peak_queue = 0
        for i in range(8, 520):
            d.submit(result(i))
            peak_queue = max(peak_queue, lane.fifo.memory.bytes)
            if i % 8 == 0:
                await asyncio.sleep(0)
        after = rss_bytes()
        assert peak_queue <= 16 * MiB
        spool = lane.fifo.spool
        assert spool is not None and spool.bytes > 256 * MiB  # the excess is on disk
        # 512 MiB went through; the process grew by a small fraction of it
        assert after - before < 96 * MiB, (before, after)
        await d.close(grace=0.0)
        assert all(dropped(name, r) == 0 for r in DROP_REASONS)
        assert metric("openagent_delivery_samples_sent_total", sink=name) == total_samples(
            sink.sent
        )
        assert sink.sent == list(range(len(sink.sent)))
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)  # do not leave half a GiB in /tmp
