"""Retry policy against a real receiver: permanent rejections, 429 Retry-After, 503 backoff."""

from __future__ import annotations

import asyncio
import itertools

from structlog.testing import capture_logs

from openagent.delivery import Delivery, DeliveryOptions
from openagent.model import ScrapeResult
from openagent.sinks.base import DELIVERED, Batch, Encoded, Sent, SinkError
from tests.delivery.support import (
    HttpSink,
    PlainSink,
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

REFUSED = "sink refused a batch, dropped"


async def test_rejected_batches_are_sent_once_dropped_and_logged_once_per_interval(
    receiver: Receiver,
) -> None:
    name = unique_name()
    receiver.status = 400
    opts = DeliveryOptions(backoff_initial=0.01, backoff_max=0.05, log_interval=0.5)
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    with capture_logs() as logs:
        for i in range(10):
            d.submit(result(i))
        await eventually(lambda: dropped(name, "rejected") == total_samples(range(10)))
        first_interval = [e for e in logs if e["event"] == REFUSED]
        await asyncio.sleep(0.6)  # the next interval
        for i in range(10, 15):
            d.submit(result(i))
        await eventually(lambda: dropped(name, "rejected") == total_samples(range(15)))
    await d.close(1.0)
    assert [seq for _, seq, _ in receiver.requests] == list(range(15))  # each once, no retries
    assert metric("openagent_delivery_batches_retried_total", sink=name) == 0
    assert metric("openagent_delivery_samples_sent_total", sink=name) == 0
    assert len(first_interval) == 1
    lines = [e for e in logs if e["event"] == REFUSED]
    assert len(lines) == 2
    assert lines[0]["reason"] == "rejected" and lines[0]["error"] == "HTTP 400"
    assert lines[1]["suppressed"] == 9  # the rest of the first interval, reported with the next


async def test_429_waits_as_long_as_retry_after_says(receiver: Receiver) -> None:
    name = unique_name()
    receiver.script = [429]
    receiver.retry_after = "1"
    d = Delivery([HttpSink(name, receiver.url)], DeliveryOptions(backoff_initial=0.01))
    await d.start()
    d.submit(result(0))
    await eventually(lambda: receiver.accepted == [0])
    await d.close(1.0)
    (t0, _, s0), (t1, _, s1) = receiver.requests
    assert (s0, s1) == (429, 200)
    assert t1 - t0 >= 1.0  # never earlier than the server asked (the backoff alone is 10 ms)
    assert metric("openagent_delivery_batches_retried_total", sink=name) == 1


async def test_503_is_retried_with_growing_waits(receiver: Receiver) -> None:
    name = unique_name()
    receiver.script = [503] * 3
    d = Delivery([HttpSink(name, receiver.url)], DeliveryOptions(backoff_initial=0.1))
    await d.start()
    d.submit(result(0))
    d.submit(result(1))
    await eventually(lambda: receiver.accepted == [0, 1])
    await d.close(1.0)
    times = [t for t, seq, _ in receiver.requests if seq == 0]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps)), gaps
    assert metric("openagent_delivery_batches_retried_total", sink=name) == 3
    assert metric("openagent_delivery_samples_sent_total", sink=name) == total_samples([0, 1])


class FaultySink(PlainSink):
    """Keeps what it is sent; fails to start twice, cannot encode 5, chokes on 3."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.starts = 0
        self.got: list[int] = []

    def encode(self, res: ScrapeResult) -> Encoded:
        if res.target_id == "5":
            raise UnicodeError("cannot encode this one")
        return Encoded([make_batch(int(res.target_id))])

    async def start(self) -> None:
        self.starts += 1
        if self.starts < 3:
            raise SinkError("collector not reachable yet", retryable=True)

    async def send(self, batch: Batch) -> Sent:
        if seq_of(batch.payload) == 3:
            raise KeyError("a bug in the sink")
        self.got.append(seq_of(batch.payload))
        return DELIVERED


async def test_a_faulty_sink_costs_only_the_batches_it_fails_on() -> None:
    name = unique_name()
    sink = FaultySink(name)
    d = Delivery([sink], DeliveryOptions(backoff_initial=0.01))
    await d.start()
    with capture_logs() as logs:
        for i in range(8):
            d.submit(result(i))
        await eventually(lambda: len(sink.got) == 6)
    await d.close(1.0)
    assert sink.starts == 3
    assert sink.got == [0, 1, 2, 4, 6, 7]
    assert dropped(name, "sink_error") == total_samples([3])
    assert dropped(name, "encode_error") == total_samples([5])
    events = {e["event"] for e in logs}
    assert "sink failed, dropped" in events and "sink could not encode a scrape result" in events


async def test_a_long_retry_after_is_probed_and_delivery_resumes_when_a_probe_succeeds(
    receiver: Receiver,
) -> None:
    """A 429 asking for 10 minutes: the batch is sent again within ``backoff_max``."""
    name = unique_name()
    receiver.script = [429]
    receiver.retry_after = "600"
    opts = DeliveryOptions(backoff_initial=0.01, backoff_max=0.2, retry_after_max=600.0)
    d = Delivery([HttpSink(name, receiver.url)], opts)
    await d.start()
    d.submit(result(0))
    await eventually(lambda: receiver.accepted == [0], 20)
    await d.close(1.0)
    assert [status for _, _, status in receiver.requests] == [429, 200]
