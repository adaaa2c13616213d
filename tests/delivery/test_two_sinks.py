"""Several sinks at once: a stalled one never holds back another."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openagent.delivery import Delivery, DeliveryOptions
from tests.delivery.support import HttpSink, Receiver, dropped, result, total_samples, unique_name
from tests.support import eventually


async def test_a_stalled_sink_does_not_hold_back_the_other(
    receiver: Receiver, receiver2: Receiver, tmp_path: Path
) -> None:
    stalled, healthy = unique_name("stalled"), unique_name("healthy")
    receiver.delay = 3600.0  # takes the request, never answers in time
    d = Delivery(
        [HttpSink(stalled, receiver.url, timeout=3600.0), HttpSink(healthy, receiver2.url)],
        DeliveryOptions(memory_queue_bytes=4096, spool_dir=tmp_path),
    )
    await d.start()
    for i in range(120):
        d.submit(result(i))
        if i % 12 == 0:
            await asyncio.sleep(0)
    await eventually(lambda: len(receiver2.accepted) == 120)
    assert receiver2.accepted == list(range(120))
    assert receiver.accepted == []
    lane = d.lane(stalled)
    assert lane.fifo.spool is not None and lane.fifo.spool.bytes > 0  # it spilled; nothing was lost
    await d.close(grace=0.2)
    assert dropped(stalled, "spool_full") == dropped(stalled, "shutdown") == 0
    receiver.delay = 0.0
    d = Delivery([HttpSink(stalled, receiver.url)], DeliveryOptions(spool_dir=tmp_path))
    await d.start()
    await eventually(lambda: set(receiver.accepted) == set(range(120)))
    await d.close(1.0)
    assert total_samples(set(receiver.accepted)) == total_samples(range(120))
