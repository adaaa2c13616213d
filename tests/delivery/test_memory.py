"""Memory-only delivery: order, outages, and the queue_full drop."""

from __future__ import annotations

import asyncio
from typing import Any

from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.metrics import DROP_REASONS
from openagent.delivery.queue import batch_cost
from tests.delivery.support import (
    HttpSink,
    Receiver,
    dropped,
    make_batch,
    metric,
    result,
    total_samples,
    unique_name,
)
from tests.support import eventually


def fast(**kw: Any) -> DeliveryOptions:
    """Options with short retry waits."""
    return DeliveryOptions(backoff_initial=0.05, backoff_max=0.2, **kw)


async def test_order_kept_and_nothing_lost_through_a_two_second_outage(receiver: Receiver) -> None:
    name = unique_name()
    d = Delivery([HttpSink(name, receiver.url)], fast())
    await d.start()
    for i in range(20):
        d.submit(result(i))
    await eventually(lambda: len(receiver.accepted) == 20)
    await receiver.stop()
    for i in range(20, 60):  # 2 s of scrapes while the receiver is gone
        d.submit(result(i))
        await asyncio.sleep(0.05)
    assert len(receiver.accepted) == 20
    assert metric("openagent_delivery_batches_retried_total", sink=name) > 0
    await receiver.start()
    await eventually(lambda: len(receiver.accepted) == 60)
    await d.close(1.0)
    assert receiver.accepted == list(range(60))
    assert metric("openagent_delivery_samples_sent_total", sink=name) == total_samples(range(60))
    assert all(dropped(name, r) == 0 for r in DROP_REASONS)


async def test_full_queue_drops_the_oldest_and_counts_exactly(receiver: Receiver) -> None:
    name = unique_name()
    capacity = 10 * batch_cost(make_batch(0))
    d = Delivery([HttpSink(name, receiver.url)], fast(memory_queue_bytes=capacity))
    await d.start()
    await receiver.stop()
    for i in range(50):  # no await in between: nothing can leave the queue meanwhile
        d.submit(result(i))
    assert metric("openagent_delivery_queue_batches", sink=name) == 10
    assert metric("openagent_delivery_queue_bytes", sink=name) == capacity
    assert dropped(name, "queue_full") == total_samples(range(40))
    await receiver.start()
    await eventually(lambda: len(receiver.accepted) == 10)
    await d.close(1.0)
    assert receiver.accepted == list(range(40, 50))
    assert metric("openagent_delivery_samples_sent_total", sink=name) == total_samples(
        range(40, 50)
    )


async def test_without_a_spool_shutdown_counts_what_is_left(receiver: Receiver) -> None:
    name = unique_name()
    d = Delivery([HttpSink(name, receiver.url)], fast())
    await d.start()
    await receiver.stop()
    for i in range(7):
        d.submit(result(i))
    await d.close(0.3)
    assert dropped(name, "shutdown") == total_samples(range(7))
    assert metric("openagent_delivery_queue_batches", sink=name) == 0
