"""The remote-write sink against a real Prometheus 2.42 and a real VictoriaMetrics.

The whole agent runs in-process with ``sinks=["remote_write"]`` and scrapes
loopback exporters that serve the dcgm-exporter fixtures. What the receiver
then answers to a query must equal what ``openagent scrape`` reports for the
same endpoints (`scrape_once` on `target_for_url`), label for label and value
for value. Labels with an empty value are absent on the receiver's side (to
Prometheus an empty label is no label), so the reference drops them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from openagent import wiring
from openagent.agent import Agent
from openagent.config import load_config
from openagent.discovery import target_for_url
from openagent.model import ScrapeResult, Series
from openagent.scrape import scrape_once
from openagent.scrape.loop import REPORT_NAMES
from openagent.settings import load_settings
from openagent.sinks.base import DELIVERED, Loss, Sent
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.peers import PrometheusServer, VictoriaMetricsServer, _Server
from tests.sinks.remote_write_support import make_result
from tests.support import DCGM_FIXTURES, Exporter, eventually

pytestmark = [pytest.mark.peer, pytest.mark.timeout(90)]

FIXTURES = DCGM_FIXTURES
BODIES = ["l4-1gpu.txt", "t4-2gpu-k8s-prof-excerpt.txt", "h100-mig-k8s-excerpt.txt"]

LabelSet = frozenset[tuple[str, str]]


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as prom:
        yield prom


@pytest.fixture(scope="module")
def victoria() -> Iterator[VictoriaMetricsServer]:
    with VictoriaMetricsServer() as vm:
        yield vm


@contextlib.asynccontextmanager
async def exporters(bodies: list[bytes]) -> AsyncIterator[list[Exporter]]:
    """One loopback exporter per body."""
    runners, out = [], []
    for body in bodies:
        exp = Exporter(body=body)
        app = web.Application()
        app.router.add_get("/metrics", exp.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        exp.port = runner.addresses[0][1]
        runners.append(runner)
        out.append(exp)
    try:
        yield out
    finally:
        for runner in runners:
            await runner.cleanup()


def write_config(path: Path, job: str, ports: list[int]) -> Path:
    endpoints = "\n".join(
        f"      - address: 127.0.0.1:{p}\n        interval: 1s\n        timeout: 1s" for p in ports
    )
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        f"    - targetName: {job}\n      type: StaticEndpoints\n      endpoints:\n{endpoints}\n"
    )
    return path


@contextlib.asynccontextmanager
async def running_agent(config: Path, url: str) -> AsyncIterator[Agent]:
    settings = load_settings(
        config=str(config),
        listen="127.0.0.1:0",
        sinks=["remote-write"],
        remote_write_url=url,
        remote_write_batch_delay="200ms",
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.listen_port)
        yield agent
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 30) == 0


def as_label_set(series: Series) -> LabelSet:
    return frozenset((k, v) for k, v in (("__name__", series.name), *series.labels) if v)


def reference(results: list[ScrapeResult]) -> dict[LabelSet, float]:
    out: dict[LabelSet, float] = {}
    for result in results:
        assert result.ok, result.error
        for s, v in zip(result.series, result.values, strict=True):
            out[as_label_set(s)] = v
    return out


def same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def compare(expected: dict[LabelSet, float], rows: list[tuple[dict[str, str], float]]) -> None:
    got = {frozenset(labels.items()): value for labels, value in rows}
    assert set(got) == set(expected)
    for labels, value in expected.items():
        if dict(labels)["__name__"] in REPORT_NAMES[1:]:
            continue  # durations and counts of the receiver's scrape differ from ours
        assert same_value(got[labels], value), (dict(labels), got[labels], value)


async def scrape_reference(config: Path, job: str, ports: list[int]) -> dict[LabelSet, float]:
    settings = load_settings()
    results = [
        await scrape_once(
            target_for_url(f"http://127.0.0.1:{p}/metrics", load_config(config), job),
            wiring.scrape_options(settings),
        )
        for p in ports
    ]
    return reference(results)


def fixture_bodies() -> list[bytes]:
    return [(FIXTURES / name).read_bytes() for name in BODIES]


async def query(
    server: _Server, promql: str, at: float | None = None
) -> list[tuple[dict[str, str], float]]:
    if isinstance(server, VictoriaMetricsServer):
        await asyncio.to_thread(server.flush)
    return await asyncio.to_thread(server.query, promql, at)


@pytest.mark.parametrize("receiver", ["prometheus", "victoria"])
async def test_receiver_holds_what_openagent_scrape_reports(
    receiver: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: _Server = request.getfixturevalue(receiver)
    job = f"rw-{receiver}"
    async with exporters(fixture_bodies()) as exps:
        ports = [e.port for e in exps]
        config = write_config(tmp_path / "scrape_config.yaml", job, ports)
        expected = await scrape_reference(config, job, ports)
        assert len(expected) == 23 + 6 + 3 + 5 * len(ports)
        async with running_agent(config, server.url + "/api/v1/write"):

            async def complete() -> list[tuple[dict[str, str], float]] | None:
                rows = await query(server, f'{{job="{job}"}}')
                return rows if len(rows) >= len(expected) else None

            rows = await eventually(complete, within=30)
            compare(expected, rows)
            up = await query(server, f'up{{job="{job}"}}')
            assert sorted(v for _, v in up) == [1.0] * len(ports)


async def test_a_vanished_series_is_marked_stale_in_prometheus(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """A stale marker ends a series at once in Prometheus.

    Prometheus keeps answering an instant query with a series' last sample
    for 5 minutes (its lookback delta) unless a stale marker follows that
    sample; its API never returns the marker itself (range selectors skip
    it). So the observable is: after the exporter drops ``gpu="1"``, an
    instant query at the present returns only ``gpu="0"`` within seconds,
    while a query at the time of ``gpu="1"``'s last real sample still
    returns it — the series existed and was ended by the marker, not by
    lookback expiry.
    """
    job = "rw-stale"
    both = b'# TYPE dcgm_temp gauge\ndcgm_temp{gpu="0"} 40\ndcgm_temp{gpu="1"} 41\n'
    async with exporters([both]) as (exp,):
        config = write_config(tmp_path / "scrape_config.yaml", job, [exp.port])
        async with running_agent(config, prometheus.url + "/api/v1/write"):
            selector = f'dcgm_temp{{job="{job}"}}'

            async def present(n: int) -> list[tuple[dict[str, str], float]] | None:
                rows = await query(prometheus, selector)
                return rows if len(rows) == n else None

            await eventually(lambda: present(2), within=30)
            exp.body = b'# TYPE dcgm_temp gauge\ndcgm_temp{gpu="0"} 40\n'
            rows = await eventually(lambda: present(1), within=15)
            assert [(labels["gpu"], v) for labels, v in rows] == [("0", 40.0)]
            samples = await asyncio.to_thread(
                prometheus.samples, f'dcgm_temp{{job="{job}",gpu="1"}}', "5m"
            )
            ((_, points),) = samples
            last_ms, last_value = points[-1]
            assert last_value == 41.0
            before = await query(prometheus, selector, at=last_ms / 1000)
            assert sorted(labels["gpu"] for labels, _ in before) == ["0", "1"]
            assert time.time() * 1000 - last_ms < 60_000  # well inside the 5 min lookback


async def test_prometheus_rejections_are_permanent(prometheus: PrometheusServer) -> None:
    """Prometheus answers 400 to a sample 10 h old and to an out-of-order one; the sink sends
    such a batch in parts, and each refused series is lost, never retried.

    "Old" is relative to what the TSDB head holds (an empty head takes any
    time), so a current sample goes first.
    """
    sink = RemoteWriteSink(RemoteWriteOptions(prometheus.url + "/api/v1/write"))
    now_ms = int(time.time() * 1000)
    try:
        sink.encode(make_result(1, timestamp_ms=now_ms, prefix="rw_now"))
        assert await sink.send(sink.flush()[0]) == DELIVERED
        sink.encode(make_result(3, timestamp_ms=now_ms - 10 * 3600 * 1000, prefix="rw_old"))
        (old,) = sink.flush()
        with capture_logs() as logs:
            assert await sink.send(old) == Sent(Loss("rejected", 3))
        assert {e["error"] for e in logs if e["event"].startswith("receiver refused")} == {
            "out of bounds"
        }

        sink.encode(make_result(3, timestamp_ms=now_ms, prefix="rw_order"))
        (fresh,) = sink.flush()
        assert await sink.send(fresh) == DELIVERED
        sink.encode(make_result(3, timestamp_ms=now_ms - 5000, prefix="rw_order"))
        (older,) = sink.flush()
        assert await sink.send(older) == Sent(Loss("rejected", 3))
    finally:
        await sink.close()
    rows = prometheus.query('{__name__=~"rw_order_metric|rw_old_metric"}')
    assert sorted(int(labels["i"]) for labels, _ in rows) == [0, 1, 2]
