"""Native histograms end to end against a real Prometheus 2.42 with native histograms on.

The agent runs in-process with ``enable_protobuf`` and the remote-write sink,
scrapes a loopback exporter that answers the protobuf exposition with a native
histogram, and sends it to Prometheus's remote-write receiver. Prometheus then
answers ``histogram_count`` and ``histogram_sum`` with the exporter's numbers,
holds the buckets the spans and deltas describe (computed here from the schema,
independently of the agent), and ends the series once the histogram vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.exposition.protobuf_writer import (
    GAUGE,
    HISTOGRAM,
    delimited,
    family,
    gauge,
    metric,
    native,
)
from tests.peers import PrometheusServer
from tests.protobuf_exporter import NegotiatingExporter, serving
from tests.sinks.test_remote_write_peers import write_config
from tests.support import eventually

pytestmark = [pytest.mark.peer, pytest.mark.timeout(90)]

SCHEMA = 0
ZERO_THRESHOLD = 2.938735877055719e-39  # client_golang's default
ZERO_COUNT = 1
SPANS = ((0, 2), (3, 1))  # bucket indexes 0, 1 and 5
DELTAS = (4, -1, 5)  # counts 4, 3 and 8
COUNT = ZERO_COUNT + 4 + 3 + 8
SUM = 123.25
LABELS = (("gpu", "0"),)


def body(*, with_histogram: bool = True) -> bytes:
    families = [family("dcgm_temp", GAUGE, metric(gauge(40), labels=LABELS))]
    if with_histogram:
        h = native(
            schema=SCHEMA,
            zero_threshold=ZERO_THRESHOLD,
            zero_count=ZERO_COUNT,
            positive=(SPANS, DELTAS),
            count=COUNT,
            total=SUM,
        )
        families.append(family("dcgm_latency_seconds", HISTOGRAM, metric(h, labels=LABELS)))
    return delimited(*families)


def expected_buckets() -> set[tuple[float, float, int]]:
    """(lower, upper, count) of each populated bucket: with schema s, bucket i spans
    (2^((i-1)/2^s), 2^(i/2^s)]; counts are the running sum of the deltas."""
    out, index, count = set(), 0, 0
    deltas = iter(DELTAS)
    for offset, length in SPANS:
        index += offset
        for _ in range(length):
            count += next(deltas)
            base = 2.0 ** (2.0**-SCHEMA)
            out.add((base ** (index - 1), base**index, count))
            index += 1
    return out


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer(extra_args=["--enable-feature=native-histograms"]) as prom:
        yield prom


@contextlib.asynccontextmanager
async def running_agent(config: Path, url: str) -> AsyncIterator[Agent]:
    settings = load_settings(
        config=str(config),
        listen="127.0.0.1:0",
        sinks=["remote-write"],
        remote_write_url=url,
        remote_write_batch_delay="200ms",
        enable_protobuf=True,
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.listen_port)
        yield agent
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 30) == 0


def histogram_now(prom: PrometheusServer, selector: str) -> list[dict[str, Any]]:
    """The instant-query rows of a native-histogram selector (``histogram`` instead of value)."""
    payload = prom.get_json("/api/v1/query", {"query": selector})
    assert payload["status"] == "success", payload
    rows: list[dict[str, Any]] = payload["data"]["result"]
    return rows


async def test_prometheus_holds_the_native_histogram_and_its_end(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    job = "rw-native"
    exporter = NegotiatingExporter(text=b"dcgm_temp 40\n", protobuf=body())
    async with serving(exporter):
        config = write_config(tmp_path / "scrape_config.yaml", job, [exporter.port])
        async with running_agent(config, prometheus.url + "/api/v1/write"):
            selector = f'dcgm_latency_seconds{{job="{job}"}}'

            async def count() -> list[tuple[dict[str, str], float]]:
                return await asyncio.to_thread(prometheus.query, f"histogram_count({selector})")

            [(labels, value)] = await eventually(count, within=30)
            assert value == COUNT
            assert labels == {"gpu": "0", "job": job, "instance": f"127.0.0.1:{exporter.port}"}
            [(_, total)] = prometheus.query(f"histogram_sum({selector})")
            assert total == SUM
            [row] = histogram_now(prometheus, selector)
            h = row["histogram"][1]
            buckets = {
                (float(lo), float(hi), int(n)) for _, lo, hi, n in h["buckets"] if float(lo) > 0
            }
            assert buckets == expected_buckets()
            zero = [b for b in h["buckets"] if float(b[1]) <= 0 <= float(b[2])]
            assert [int(b[3]) for b in zero] == [ZERO_COUNT]
            [(_, temp)] = prometheus.query(f'dcgm_temp{{job="{job}"}}')
            assert temp == 40.0, "flat samples travel beside the histogram"

            seen_at = float(row["histogram"][0])  # when the query above saw it
            exporter.protobuf = body(with_histogram=False)

            async def ended() -> bool:
                return not await count()

            await eventually(ended, within=30)
            # ended by the stale histogram, not by the 5-minute lookback: at the moment
            # it was seen the series still answers
            assert prometheus.query(f"histogram_count({selector})", at=seen_at)
