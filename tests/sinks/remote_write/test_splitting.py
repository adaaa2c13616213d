"""A batch refused with 400 is sent in parts, down to the refused series: requests counted.

The receiver here is a loopback aiohttp server that refuses a whole request
(400, "out of bounds") when it holds a series marked ``bad="yes"``, and
takes it otherwise, as Prometheus 2.42 does with one out-of-bounds sample.
It is a fake because the tests count every request and make one of them fail
with 503 on purpose, which a real receiver cannot be told to do; it does not
model storage (no out-of-order or out-of-bounds rules of its own, identical
duplicates are kept, so a series sent twice shows). The same behaviour
against real Prometheus and VictoriaMetrics is in ``test_splitting_peers``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from openagent.model import ScrapeResult, Series
from openagent.sinks.base import Loss, Sent, SinkError
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from openagent.sinks.remote_write.splitting import SPLIT_REQUESTS
from openagent.telemetry import REGISTRY
from tests.sinks.remote_write.delivery import deliver
from tests.sinks.remote_write_support import DecodedSeries, decode_payload

pytestmark = pytest.mark.timeout(60)

REFUSED_EVENT = "receiver refused a target's samples, dropped"


@dataclass
class MarkRefusingReceiver:
    """Refuses a request holding a ``bad="yes"`` series with 400; the requests numbered in
    ``fail_requests`` (from 1) get 503 instead. ``stored`` is every series taken, in order."""

    fail_requests: frozenset[int] = frozenset()
    requests: list[int] = field(default_factory=list)  # series per request
    stored: list[DecodedSeries] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    async def write(self, request: web.Request) -> web.Response:
        series = decode_payload(await request.read())
        self.requests.append(len(series))
        if len(self.requests) in self.fail_requests:
            return web.Response(status=503, text="busy")
        if any(("bad", "yes") in s.labels for s in series):
            return web.Response(status=400, text="out of bounds")
        self.stored += series
        return web.Response(status=204)

    def stored_keys(self) -> Counter[tuple[str, str, str]]:
        return Counter(
            (d["job"], d["instance"], d["i"]) for d in (dict(s.labels) for s in self.stored)
        )


@pytest.fixture
async def receiver() -> AsyncIterator[MarkRefusingReceiver]:
    rx = MarkRefusingReceiver()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/api/v1/write", rx.write)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rx.port = runner.addresses[0][1]
    yield rx
    await runner.cleanup()


def target_result(
    job: str, instance: str, n: int, bad: frozenset[int] = frozenset()
) -> ScrapeResult:
    """``n`` series of one target; those in ``bad`` carry the mark the receiver refuses."""
    series = [
        Series(
            "dcgm_gpu_temp",
            (
                ("bad", "yes" if i in bad else ""),
                ("i", str(i)),
                ("instance", instance),
                ("job", job),
            ),
        )
        for i in range(n)
    ]
    return ScrapeResult(
        target_id=f"{job}/{instance}",
        job=job,
        instance=instance,
        url=f"http://{instance}/metrics",
        timestamp_ms=1_764_300_000_000,
        series=series,
        values=[float(i) for i in range(n)],
    )


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def sink_for(rx: MarkRefusingReceiver) -> RemoteWriteSink:
    return RemoteWriteSink(RemoteWriteOptions(rx.url, max_batch_delay=60))


def expected_keys(
    job: str, instance: str, n: int, bad: frozenset[int]
) -> Counter[tuple[str, str, str]]:
    return Counter((job, instance, str(i)) for i in range(n) if i not in bad)


@pytest.mark.parametrize("bad", [frozenset({1234}), frozenset({0}), frozenset({3, 999, 1998})])
async def test_only_the_refused_series_are_dropped_in_few_requests(
    receiver: MarkRefusingReceiver, bad: frozenset[int]
) -> None:
    n = 2000
    split_requests = counter("openagent_remote_write_split_requests_total")
    with capture_logs() as logs:
        ledger = await deliver(sink_for(receiver), target_result("gpu", "node-a:9400", n, bad))
    assert counter("openagent_remote_write_split_requests_total") - split_requests == (
        len(receiver.requests) - 1
    )
    assert ledger.sent_samples == n - len(bad)
    assert ledger.dropped_samples == {"rejected": len(bad)}
    assert receiver.stored_keys() == expected_keys("gpu", "node-a:9400", n, bad)
    assert len(receiver.requests) <= 1 + 2 * len(bad) * math.ceil(math.log2(n))
    (line,) = [e for e in logs if e["event"] == REFUSED_EVENT]
    assert (line["job"], line["instance"], line["metric"]) == (
        "gpu",
        "node-a:9400",
        "dcgm_gpu_temp",
    )
    assert (line["status"], line["error"]) == (400, "out of bounds")
    assert (line["series"], line["samples"], line["whole_runs"]) == (len(bad), len(bad), 0)


async def test_healthy_targets_beside_a_poisoned_one_lose_nothing(
    receiver: MarkRefusingReceiver,
) -> None:
    results = [
        target_result("gpu", "node-a:9400", 300),
        target_result("gpu", "node-b:9400", 300, frozenset(range(300))),  # all refused
        target_result("gpu", "node-c:9400", 300),
    ]
    with capture_logs() as logs:
        ledger = await deliver(sink_for(receiver), *results)
    assert ledger.dropped_samples == {"rejected": 300}
    assert ledger.sent_samples == 600
    assert receiver.stored_keys() == expected_keys("gpu", "node-a:9400", 300, frozenset()) + (
        expected_keys("gpu", "node-c:9400", 300, frozenset())
    )
    (line,) = [e for e in logs if e["event"] == REFUSED_EVENT]
    assert (line["instance"], line["series"], line["samples"]) == ("node-b:9400", 300, 300)
    assert line["whole_runs"] > 0  # the cap was reached inside the bad target
    # the bad target is set apart at its boundaries, so the healthy ones cost few requests
    assert len(receiver.requests) <= 1 + SPLIT_REQUESTS + 2 * math.ceil(math.log2(900))


async def test_a_batch_refused_everywhere_stops_at_the_request_cap(
    receiver: MarkRefusingReceiver,
) -> None:
    n = 2000
    with capture_logs() as logs:
        ledger = await deliver(
            sink_for(receiver), target_result("gpu", "x:1", n, frozenset(range(n)))
        )
    assert ledger.dropped_samples == {"rejected": n} and ledger.sent_samples == 0
    assert len(receiver.requests) <= 1 + SPLIT_REQUESTS + math.ceil(math.log2(n))
    (line,) = [e for e in logs if e["event"] == REFUSED_EVENT]
    assert (line["series"], line["samples"]) == (n, n) and line["whole_runs"] > 0


async def test_a_503_while_splitting_resumes_without_sending_a_part_twice(
    receiver: MarkRefusingReceiver,
) -> None:
    n, bad = 1000, frozenset({700})
    receiver.fail_requests = frozenset(
        {4}
    )  # the whole batch, its first half (taken), the second (refused), …
    ledger = await deliver(sink_for(receiver), target_result("gpu", "node-a:9400", n, bad))
    assert ledger.dropped_samples == {"rejected": 1} and ledger.sent_samples == n - 1
    assert receiver.stored_keys() == expected_keys("gpu", "node-a:9400", n, bad)  # once each
    assert receiver.requests[3] < n // 2  # the failed request was a part, and it was resent
    assert receiver.requests[4] == receiver.requests[3]


async def test_a_503_while_splitting_is_retryable(receiver: MarkRefusingReceiver) -> None:
    receiver.fail_requests = frozenset({2})
    sink = sink_for(receiver)
    sink.encode(target_result("gpu", "a:1", 10, frozenset({9})))
    (batch,) = sink.flush()
    with pytest.raises(SinkError) as info:
        await sink.send(batch)
    assert info.value.retryable
    assert "sending a refused batch in parts: 0 of 10 series delivered" in str(info.value)
    assert await sink.send(batch) == Sent(Loss("rejected", 1))
    await sink.close()


async def test_each_target_is_logged_once_a_minute(receiver: MarkRefusingReceiver) -> None:
    sink = sink_for(receiver)
    with capture_logs() as logs:
        for _ in range(3):
            sink.encode(target_result("gpu", "a:1", 4, frozenset({1})))
            sink.encode(target_result("gpu", "b:1", 4, frozenset({2})))
            (batch,) = sink.flush()
            assert await sink.send(batch) == Sent(Loss("rejected", 2))
    await sink.close()
    lines = [e for e in logs if e["event"] == REFUSED_EVENT]
    assert sorted(e["instance"] for e in lines) == ["a:1", "b:1"]


async def test_a_single_refused_series_is_dropped_without_splitting(
    receiver: MarkRefusingReceiver,
) -> None:
    sink = sink_for(receiver)
    sink.encode(target_result("gpu", "a:1", 1, frozenset({0})))
    (batch,) = sink.flush()
    assert await sink.send(batch) == Sent(Loss("rejected", 1))
    await sink.close()
    assert receiver.requests == [1]


async def test_two_refused_batches_failing_in_turn_each_resume_where_they_stopped(
    receiver: MarkRefusingReceiver,
) -> None:
    receiver.fail_requests = frozenset({5, 10})  # in each batch, after its first quarter is taken
    sink = sink_for(receiver)
    batches = []
    for instance in ("a:1", "b:1"):
        sink.encode(target_result("gpu", instance, 16, frozenset({5})))
        batches += sink.flush()
    for batch in batches:
        with pytest.raises(SinkError):
            await sink.send(batch)
    for batch in batches:
        assert await sink.send(batch) == Sent(Loss("rejected", 1))
    await sink.close()
    expected = expected_keys("gpu", "a:1", 16, frozenset({5}))
    assert receiver.stored_keys() == expected + expected_keys("gpu", "b:1", 16, frozenset({5}))
