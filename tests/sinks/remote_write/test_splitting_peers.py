"""One bad sample beside two healthy targets, against real Prometheus 2.42 and VictoriaMetrics.

The batch holds five series of target ``a``, one series of target ``bad``
whose sample is 2 h old, and five series of target ``b``, and goes through
the real delivery layer. Prometheus refuses the whole request (400, ``out
of bounds``: its head takes nothing older than an hour before its newest
sample), so the sink sends it in parts: every healthy sample must be stored
and exactly the old one booked as dropped ``rejected``. VictoriaMetrics
takes a sample 2 h old (its retention is a month), so there all eleven are
stored and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from openagent.model import ScrapeResult, Series
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.peers import PrometheusServer, VictoriaMetricsServer
from tests.sinks.remote_write.delivery import deliver

pytestmark = [pytest.mark.peer, pytest.mark.timeout(90)]

JOB = "rw-split"
HEALTHY = 5
TWO_HOURS_MS = 2 * 3600 * 1000


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as prom:
        yield prom


@pytest.fixture(scope="module")
def victoria() -> Iterator[VictoriaMetricsServer]:
    with VictoriaMetricsServer() as vm:
        yield vm


def target(instance: str, n: int, timestamp_ms: int) -> ScrapeResult:
    series = [
        Series("dcgm_gpu_temp", (("gpu", str(g)), ("instance", instance), ("job", JOB)))
        for g in range(n)
    ]
    return ScrapeResult(
        target_id=instance,
        job=JOB,
        instance=instance,
        url=f"http://{instance}/metrics",
        timestamp_ms=timestamp_ms,
        series=series,
        values=[40.0 + g for g in range(n)],
    )


def batch_with_one_old_sample(now_ms: int) -> list[ScrapeResult]:
    return [
        target("a:9400", HEALTHY, now_ms),
        target("bad:9400", 1, now_ms - TWO_HOURS_MS),
        target("b:9400", HEALTHY, now_ms),
    ]


def sink_for(url: str) -> RemoteWriteSink:
    return RemoteWriteSink(RemoteWriteOptions(url + "/api/v1/write", max_batch_delay=60))


async def test_prometheus_stores_every_healthy_sample_and_only_the_old_one_is_dropped(
    prometheus: PrometheusServer,
) -> None:
    now_ms = int(time.time() * 1000)
    await deliver(sink_for(prometheus.url), target("warm:9400", 1, now_ms))  # a head to be old in
    with capture_logs() as logs:
        ledger = await deliver(sink_for(prometheus.url), *batch_with_one_old_sample(now_ms))
    assert ledger.dropped_samples == {"rejected": 1}
    assert ledger.sent_samples == 2 * HEALTHY
    rows = await asyncio.to_thread(
        prometheus.query, f'dcgm_gpu_temp{{job="{JOB}",instance!="warm:9400"}}'
    )
    assert sorted((labels["instance"], labels["gpu"], value) for labels, value in rows) == [
        (instance, str(g), 40.0 + g) for instance in ("a:9400", "b:9400") for g in range(HEALTHY)
    ]
    (line,) = [e for e in logs if e["event"] == "receiver refused a target's samples, dropped"]
    assert (line["job"], line["instance"], line["metric"]) == (JOB, "bad:9400", "dcgm_gpu_temp")
    assert (line["status"], line["error"], line["samples"]) == (400, "out of bounds", 1)


async def test_victoria_metrics_takes_the_old_sample_too(victoria: VictoriaMetricsServer) -> None:
    now_ms = int(time.time() * 1000) - 1000
    ledger = await deliver(sink_for(victoria.url), *batch_with_one_old_sample(now_ms))
    assert ledger.dropped_samples == {}
    assert ledger.sent_samples == 2 * HEALTHY + 1
    await asyncio.to_thread(victoria.flush)
    exported = await asyncio.to_thread(
        victoria.wait_export, f'dcgm_gpu_temp{{job="{JOB}"}}', 2 * HEALTHY + 1
    )
    assert sorted(
        (labels["instance"], labels["gpu"], stamps) for labels, _, stamps in exported
    ) == [("a:9400", str(g), [now_ms]) for g in range(HEALTHY)] + [
        ("b:9400", str(g), [now_ms]) for g in range(HEALTHY)
    ] + [("bad:9400", "0", [now_ms - TWO_HOURS_MS])]
