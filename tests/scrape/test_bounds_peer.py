"""Against a real Prometheus 2.42: an old exposed timestamp is dropped at scrape time.

Two loopback exporters are scraped by real scrape loops and their results
go to Prometheus in one remote-write request, as the agent batches them: a
healthy one, and one that exposes a sample stamped three hours back beside a
current one. With the bounds open, Prometheus refuses the whole request (400,
out of bounds): the sink has to split it to save the healthy target, and the
old sample is lost at the receiver as ``rejected``. With the default bounds
the old sample is dropped at scrape time, and the request is taken whole.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web

from openagent.exposition import Limits
from openagent.model import ScrapeResult
from openagent.scrape.bounds import TimestampBounds
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from openagent.sinks.base import Loss, Sent
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.peers import PrometheusServer
from tests.scrape.test_loop import make_target
from tests.support import Exporter

pytestmark = [pytest.mark.peer, pytest.mark.timeout(90)]

HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as prom:
        yield prom


@contextlib.asynccontextmanager
async def exporter(body: bytes) -> AsyncIterator[Exporter]:
    """A loopback exporter serving ``body``."""
    exp = Exporter(body=body)
    app = web.Application()
    app.router.add_get("/metrics", exp.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    exp.port = runner.addresses[0][1]
    try:
        yield exp
    finally:
        await runner.cleanup()


async def scrape_pair(client: ScrapeClient, bounds: TimestampBounds) -> list[ScrapeResult]:
    """Scrape a healthy exporter and one with an old and a current stamped sample."""
    now_ms = int(time.time() * 1000)
    stamped = f'stamped{{when="now"}} 1 {now_ms}\nstamped{{when="old"}} 2 {now_ms - 3 * HOUR_MS}\n'
    async with (
        exporter(b'healthy{gpu="0"} 7\n') as good,
        exporter(stamped.encode()) as bad,
    ):
        results = []
        for exp in (good, bad):
            loop = ScrapeLoop(
                make_target(exp.port), client, lambda r: None, limits=Limits(), bounds=bounds
            )
            results.append(await loop.scrape_once())
    return results


async def send_together(prometheus: PrometheusServer, results: list[ScrapeResult]) -> Sent:
    """Deliver the results in one remote-write request; what became of it."""
    sink = RemoteWriteSink(RemoteWriteOptions(prometheus.url + "/api/v1/write"))
    try:
        for result in results:
            sink.encode(result)
        (batch,) = sink.flush()
        return await sink.send(batch)
    finally:
        await sink.close()


async def test_an_old_exposed_timestamp_is_dropped_at_scrape_before_the_receiver_refuses_it(
    prometheus: PrometheusServer, client: ScrapeClient
) -> None:
    # a current sample first: Prometheus bounds ages by the newest time its head holds
    await send_together(prometheus, (await scrape_pair(client, TimestampBounds()))[:1])

    open_bounds = await scrape_pair(client, TimestampBounds(0, 0))
    refused = await send_together(prometheus, open_bounds)
    assert refused.loss == Loss("rejected", 1)

    bounded = await scrape_pair(client, TimestampBounds())
    assert await send_together(prometheus, bounded) == Sent()
    kept = bounded[0].instance
    assert len(await prometheus.aquery(f'healthy{{instance="{kept}"}}')) == 1
    stamped = await prometheus.aquery(f'stamped{{instance="{bounded[1].instance}"}}')
    assert [labels["when"] for labels, _ in stamped] == ["now"]
