"""Receiver outages end to end: agent → remote_write → delivery layer (memory queue, spool,
retries) → a real Prometheus 2.42 or VictoriaMetrics that is stopped and restarted.

Counting is exact. `SeqExporter` numbers every successful scrape (``rw_seq``),
so a test knows how many scrapes produced samples; every series of those
scrapes must then hold exactly that many samples on the receiver (raw
samples from a range selector: stale markers are not among them), or what is
missing must equal what the agent counted as dropped. A scrape result goes
into one batch of its own (``remote_write_batch_delay`` 0), so batches are
lost or delivered as whole scrapes.

The Prometheus outage lasts 30 s; the others are shorter. The memory queue is
made small (4 KiB) and the retry backoff is capped at 0.5 s, so the path a
long outage takes (failed sends retried, the memory queue spilling to the
spool, replay from the spool after the restart, in order) is taken within
seconds; each test checks that the spool really held data during the outage
and that sends were retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.fleet import Fleet
from openagent.agent import Agent
from openagent.settings import load_settings
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from openagent.telemetry import REGISTRY
from tests.peers import PrometheusServer, VictoriaMetricsServer, free_port
from tests.sinks.remote_write_support import Receiver, SeqExporter, make_result
from tests.support import eventually, spawn_openagent

pytestmark = [pytest.mark.peer, pytest.mark.timeout(120)]

SINK = "remote_write"
OUTAGE = 30.0
#: Body series of every scrape (besides rw_seq and the five report series).
GPUS = 4
BODY = b"# TYPE dcgm_temp gauge\n" + b"".join(
    b'dcgm_temp{gpu="%d"} %d\n' % (g, 40 + g) for g in range(GPUS)
)
PER_SCRAPE = GPUS + 1 + 5


def config(path: Path, job: str, port: int, interval: str = "500ms") -> Path:
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    minimumInterval: 100ms\n    targets:\n"
        f"    - targetName: {job}\n      type: StaticEndpoints\n      endpoints:\n"
        f"      - address: 127.0.0.1:{port}\n        interval: {interval}\n"
    )
    return path


def metric(name: str, **labels: str) -> float:
    """A sample of the in-process agent's registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, {"sink": SINK, **labels}) or 0.0


def delivery_counters() -> dict[str, float]:
    reasons = ("queue_full", "spool_full", "spool_corrupt", "spool_error", "rejected")
    out = {
        "sent": metric("openagent_delivery_samples_sent_total"),
        "retried": metric("openagent_delivery_batches_retried_total"),
        "replayed": metric("openagent_delivery_replayed_samples_total"),
    }
    for reason in (*reasons, "sink_error", "encode_error", "shutdown"):
        out[reason] = metric("openagent_delivery_samples_dropped_total", reason=reason)
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


@contextlib.asynccontextmanager
async def agent_in_process(cfg: Path, url: str, **settings: Any) -> AsyncIterator[Agent]:
    agent = Agent(
        load_settings(
            config=str(cfg),
            listen="127.0.0.1:0",
            sinks=["remote-write"],
            remote_write_url=url,
            remote_write_batch_delay="0s",
            retry_max_backoff="500ms",
            drain_grace="30s",
            min_scrape_interval="0s",  # these outages are short: scrape faster than the floor
            **settings,
        )
    )
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.listen_port)
        yield agent
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 60) == 0


def prom_counts(prom: PrometheusServer, job: str) -> dict[str, list[float]]:
    """Raw sample values per series of ``job`` (name plus gpu), over the last hour."""
    out: dict[str, list[float]] = {}
    for labels, points in prom.samples(f'{{job="{job}"}}', "1h"):
        key = labels["__name__"] + labels.get("gpu", "")
        out[key] = [v for _, v in points]
    return out


async def wait_seq(server: PrometheusServer, job: str, at_least: int, within: float) -> None:
    async def seen() -> bool:
        rows = await asyncio.to_thread(server.query, f'max_over_time(rw_seq{{job="{job}"}}[1h])')
        return bool(rows) and rows[0][1] >= at_least

    await eventually(seen, within=within)


async def test_outage_of_prometheus_loses_nothing(tmp_path: Path) -> None:
    """Prometheus down for 30 s, then back on the same port with the same data."""
    job = "rw-outage"
    before = delivery_counters()
    with PrometheusServer() as prom:
        async with SeqExporter(BODY) as exp:
            cfg = config(tmp_path / "c.yaml", job, exp.port)
            async with agent_in_process(
                cfg,
                prom.url + "/api/v1/write",
                spool_dir=str(tmp_path / "spool"),
                memory_queue_bytes="4KiB",
            ):
                await wait_seq(prom, job, 3, within=30)
                await asyncio.to_thread(prom.halt)
                down_at = exp.served
                spooled = await eventually(
                    lambda: metric("openagent_delivery_spool_bytes") > 0, within=OUTAGE
                )
                await asyncio.sleep(OUTAGE - 2)
                assert spooled and exp.served - down_at >= 25
                during = delta(delivery_counters(), before)
                assert during["retried"] > 0
                await asyncio.to_thread(prom.start)
                await wait_seq(prom, job, exp.served, within=60)
                exp.failing = True  # no more numbered scrapes from here on
                await asyncio.sleep(1.0)
            served = exp.served
        counts = await asyncio.to_thread(prom_counts, prom, job)
    moved = delta(delivery_counters(), before)
    assert sorted(counts["rw_seq"]) == [float(n) for n in range(1, served + 1)]
    for g in range(GPUS):
        assert len(counts[f"dcgm_temp{g}"]) == served, g
    assert counts["up"].count(1.0) == served
    assert not any(moved[r] for r in ("queue_full", "spool_full", "rejected", "shutdown"))


def read_metrics(port: int) -> dict[str, float]:
    """The delivery counters of an agent process, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("sink") == SINK and s.name.startswith("openagent_delivery_"):
                key = s.name.removeprefix("openagent_delivery_")
                if "reason" in s.labels:
                    key += ":" + s.labels["reason"]
                out[key] = out.get(key, 0.0) + s.value
    return out


async def spawn_agent(
    cfg: Path, url: str, spool: Path, port: int, *flags: str
) -> asyncio.subprocess.Process:
    """``openagent run`` into ``url``: a spool, no memory queue (unless ``flags`` say else).

    Its log goes to ``agent-<port>.log`` beside the spool.
    """
    return await spawn_openagent(
        "--config", str(cfg),
        "--listen", f"127.0.0.1:{port}",
        "--sink", "remote-write",
        "--remote-write-url", url,
        "--remote-write-batch-delay", "0s",
        "--min-scrape-interval", "0s",
        "--spool-dir", str(spool),
        "--memory-queue-bytes", "0",
        "--retry-max-backoff", "500ms",
        "--log-format", "json",
        *flags,
        log=spool.parent / f"agent-{port}.log",
    )  # fmt: skip


def vm_series(vm: VictoriaMetricsServer, job: str) -> dict[str, list[tuple[int, float]]]:
    """Raw (timestamp, value) samples per series of ``job``, NaN (stale markers) left out."""
    vm.flush()
    out: dict[str, list[tuple[int, float]]] = {}
    for labels, values, stamps in vm.export(f'{{job="{job}"}}'):
        key = labels["__name__"] + labels.get("gpu", "")
        out[key] = [(t, v) for t, v in zip(stamps, values, strict=True) if not math.isnan(v)]
    return out


async def test_kill_9_during_an_outage_then_replay_into_victoriametrics(tmp_path: Path) -> None:
    """SIGKILL of ``openagent run`` while VictoriaMetrics is down; a new process replays.

    VictoriaMetrics keeps duplicate samples (Prometheus would fold them), so
    duplicates can be counted: they must not exceed what the second process
    reports as replayed (``openagent_delivery_replayed_samples_total``).
    """
    job = "rw-crash"
    spool = tmp_path / "spool"
    with VictoriaMetricsServer() as vm:
        url = vm.url + "/api/v1/write"

        async def seq_count() -> int:
            series = await asyncio.to_thread(vm_series, vm, job)
            return len(series.get("rw_seq", []))

        async with SeqExporter(BODY) as exp:
            cfg = config(tmp_path / "c.yaml", job, exp.port)
            first = await spawn_agent(cfg, url, spool, free_port())
            try:
                await eventually(lambda: _at_least(seq_count, 3), within=30)
                await asyncio.to_thread(vm.halt)
                await asyncio.sleep(5)  # scrapes keep coming, into the spool
                exp.held = True  # the next scrape hangs: nothing is half-processed
                await eventually(lambda: exp.waiting > 0, within=10)
                await asyncio.sleep(1.0)
            finally:
                first.send_signal(signal.SIGKILL)
                await first.wait()
            assert first.returncode == -signal.SIGKILL
            spooled = sum(f.stat().st_size for f in spool.rglob("*") if f.is_file())
            assert spooled > 0
            exp.release()
            at_kill = exp.served
            await asyncio.to_thread(vm.start)
            port = free_port()
            second = await spawn_agent(cfg, url, spool, port)
            try:
                await eventually(lambda: exp.served >= at_kill + 3, within=30)
                await eventually(lambda: _at_least(seq_count, exp.served), within=60)
                exp.failing = True
                await asyncio.sleep(1.0)
                counters = await asyncio.to_thread(read_metrics, port)
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 60)
            err = (tmp_path / f"agent-{port}.log").read_bytes()
            assert second.returncode == 0, err.decode()[-2000:]
            served = exp.served
        series = await asyncio.to_thread(vm_series, vm, job)
    assert b"replaying" in err
    assert {int(v) for _, v in series["rw_seq"]} == set(range(1, served + 1))
    duplicates = 0
    for key in ["rw_seq", *(f"dcgm_temp{g}" for g in range(GPUS))]:
        stamps = [t for t, _ in series[key]]
        assert len(set(stamps)) == served, key
        duplicates += len(stamps) - len(set(stamps))
    assert duplicates <= counters.get("replayed_samples_total", 0.0)
    dropped = {k: v for k, v in counters.items() if k.startswith("samples_dropped") and v}
    assert dropped == {}


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)


async def test_a_full_spool_drops_the_oldest_and_counts_exactly(tmp_path: Path) -> None:
    """A 32 KiB spool and an outage that overflows it: what Prometheus misses is exactly
    what the agent counted as dropped for ``spool_full`` (whole scrapes, oldest first)."""
    job = "rw-cap"
    wide = b"# TYPE dcgm_power gauge\n" + b"".join(
        b'dcgm_power{gpu="%d",UUID="GPU-%s"} %d\n' % (g, uuid.uuid4().hex.encode(), g)
        for g in range(200)
    )
    per_scrape = PER_SCRAPE + 200
    before = delivery_counters()
    with PrometheusServer() as prom:
        async with SeqExporter(BODY + wide) as exp:
            cfg = config(tmp_path / "c.yaml", job, exp.port, interval="250ms")
            async with agent_in_process(
                cfg,
                prom.url + "/api/v1/write",
                spool_dir=str(tmp_path / "spool"),
                spool_max_bytes="32KiB",
                memory_queue_bytes="4KiB",
            ):
                await wait_seq(prom, job, 3, within=30)
                await asyncio.to_thread(prom.halt)
                await eventually(
                    lambda: delivery_counters()["spool_full"] > before["spool_full"], within=30
                )
                await asyncio.sleep(1.0)
                await asyncio.to_thread(prom.start)

                async def settled() -> bool:
                    if metric("openagent_delivery_spool_samples") or metric(
                        "openagent_delivery_queue_batches"
                    ):
                        return False
                    rows = await asyncio.to_thread(prom.query, f'rw_seq{{job="{job}"}}')
                    return bool(rows) and rows[0][1] == exp.served

                await eventually(settled, within=60)
                exp.failing = True
                await asyncio.sleep(1.0)
            served = exp.served
        counts = await asyncio.to_thread(prom_counts, prom, job)
    moved = delta(delivery_counters(), before)
    delivered = len(counts["rw_seq"])
    lost = served - delivered
    assert lost > 0
    for g in range(GPUS):
        assert len(counts[f"dcgm_temp{g}"]) == delivered
    assert moved["spool_full"] == lost * per_scrape
    assert not any(moved[r] for r in ("queue_full", "rejected", "shutdown", "spool_error"))


async def test_a_400_drops_only_the_old_samples_once_without_a_retry_storm(
    tmp_path: Path,
) -> None:
    """Samples 10 h old, with the scrape-time timestamp bounds lifted so that they reach the
    receiver: Prometheus answers 400 to each batch; the sink sends it in parts, so the old
    samples are dropped once each, never retried, and the scrape's other series (``rw_seq``
    among them) are stored."""
    job = "rw-reject"
    old_ms = int(time.time() * 1000) - 10 * 3600 * 1000
    body = b"# TYPE dcgm_old gauge\n" + b"".join(
        b'dcgm_old{gpu="%d"} 1 %d\n' % (g, old_ms) for g in range(GPUS)
    )
    before = delivery_counters()
    with PrometheusServer() as prom:
        await seed_head(prom)
        async with SeqExporter(body) as exp:
            cfg = config(tmp_path / "c.yaml", job, exp.port)
            bounds_lifted = {"timestamp_max_age": "0s", "timestamp_max_ahead": "0s"}
            async with agent_in_process(cfg, prom.url + "/api/v1/write", **bounds_lifted):
                await eventually(
                    lambda: delta(delivery_counters(), before)["rejected"] >= 5 * GPUS,
                    within=30,
                )
                exp.failing = True
                await asyncio.sleep(1.0)
            requests = await asyncio.to_thread(_write_requests, prom)
            seq = await asyncio.to_thread(prom.samples, f'rw_seq{{job="{job}"}}', "10m")
    moved = delta(delivery_counters(), before)
    assert requests.get("400", 0) >= 5
    scrapes, rest = divmod(moved["rejected"], GPUS)
    assert rest == 0 and scrapes >= 5
    ((_, points),) = seq
    assert len(points) == scrapes  # every scrape that lost its old samples kept rw_seq
    assert moved["retried"] == 0


async def seed_head(prom: PrometheusServer) -> None:
    """A current sample, so that the TSDB head has a time range (an empty one takes anything)."""
    sink = RemoteWriteSink(RemoteWriteOptions(prom.url + "/api/v1/write", max_batch_delay=0))
    (batch,) = sink.encode(
        make_result(1, timestamp_ms=int(time.time() * 1000), prefix="seed")
    ).batches
    await sink.send(batch)
    await sink.close()


def _write_requests(prom: PrometheusServer) -> dict[str, int]:
    """``prometheus_http_requests_total`` of the write handler, by status code."""
    with urllib.request.urlopen(prom.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if (
                s.name == "prometheus_http_requests_total"
                and s.labels.get("handler") == "/api/v1/write"
            ):
                out[s.labels["code"]] = int(s.value)
    return out


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_slow_receiver_keeps_the_agents_memory_bounded(tmp_path: Path) -> None:
    """A receiver that takes 2 s per request, and scrapes that outpace it many times over.

    The backlog goes to the spool on disk; over 12 s the agent's resident
    memory grows by less than half the backlog (the memory queue holds 1 MiB).
    """
    fleet = Fleet(8, gpus=8, families=40, pods_per_gpu=4, update_interval=60)
    async with Receiver(delay=2.0) as rx, fleet:
        endpoints = "\n".join(
            f"      - address: 127.0.0.1:{n.port}\n        interval: 250ms" for n in fleet.nodes
        )
        cfg = tmp_path / "c.yaml"
        cfg.write_text(
            "features:\n  openAgent:\n    enabled: true\n    minimumInterval: 100ms\n"
            "    targets:\n    - targetName: rw-slow\n      type: StaticEndpoints\n"
            f"      endpoints:\n{endpoints}\n"
        )
        port = free_port()
        spool = tmp_path / "spool"
        agent = await spawn_agent(cfg, rx.url, spool, port, "--memory-queue-bytes", "1MiB")
        try:
            await eventually(lambda: len(rx.requests) >= 2, within=30)
            before = rss_bytes(agent.pid)
            scrapes0 = fleet.total_scrapes()
            await asyncio.sleep(12)
            after = rss_bytes(agent.pid)
            scraped = (fleet.total_scrapes() - scrapes0) * fleet.payload(0).samples
            counters = await asyncio.to_thread(read_metrics, port)
        finally:
            agent.send_signal(signal.SIGKILL)
            await agent.wait()
    backlog = counters["spool_bytes"]
    sent = counters["samples_sent_total"]
    assert scraped > 10 * sent  # the receiver really is the bottleneck
    assert backlog > 12 * 2**20  # the backlog went to disk
    assert after - before < 6 * 2**20, (before, after, backlog)  # and not into memory
