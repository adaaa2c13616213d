"""``kill -9`` of ``openagent run`` while the Whatap collector is down or frozen loses nothing.

The agent runs as a real process with ``--sink whatap --sink jsonl``, a spool
directory and the default memory queue; its Whatap identity comes from
``WHATAP_LICENSE`` / ``WHATAP_HOST`` / ``WHATAP_PORT`` / ``WHATAP_ONAME`` as in a pod.
Synthetic DCGM targets (`benchmarks.fleet`) on loopback are scraped every second.
The collector is the emulator (`benchmarks.whatap_collector`), in this process,
since no real Whatap collector can run here. The jsonl file is the ground truth
of what was scraped: every sample in it when the agent is killed must reach the
collector (same metric name, labels and timestamp) once a new process runs on
the same spool and the collector is back, and what arrives twice is at most
what the new process counted in ``openagent_delivery_replayed_samples_total``.

The outages:

``down``
    The collector stops listening (a graceful stop: what it was sent arrived).
``frozen_then_crashed``
    The collector stops reading: the agent's packs and TIME_SYNC barriers are
    written into the socket and never answered; after the kill the collector
    crashes (RST, the unread bytes are thrown away) and comes back empty-handed
    on the same port. Only the spool can bring those packs back.
``frozen_then_resumed``
    The same freeze, but the collector then reads on: the packs written before
    the kill arrive, and the new process sends them again (possible duplicates,
    which must be counted). This case checks the count of duplicates; an agent
    that writes every pack into the socket at once passes it too, since the
    socket buffers outlive the process and nothing here fills them.

Measured with the agent of commit 78aca14 (a memory queue that spilled to the
spool only when full, packs counted sent once written): in ``down`` and
``frozen_then_crashed`` the 333 of 444 samples that had not reached the
collector at the kill (three rounds of scrapes) were all lost, uncounted. Now
none are; at most one group in flight (37 samples) arrives twice, and the new
process counts 37 as replayed.

Every batch is appended to the spool (a ``write`` into the page cache) before
it counts as queued, and is consumed only once a barrier after it was answered,
so all of them survive the death of the process. What it does not prove: a
power loss (up to ``--spool-fsync-interval`` of batches may go), a real Whatap
server (the emulator's model is in its docstring), or a kill during the
spool's own start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.fleet import Fleet
from benchmarks.whatap_collector import FAKE_LICENSE, Collector, Record
from tests.peers import free_port
from tests.support import SampleKey, eventually, jsonl_samples, spawn_openagent

Outage = Literal["down", "frozen_then_crashed", "frozen_then_resumed"]
NODES = 3


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(NODES, gpus=4, families=8) as f:
        yield f


def config(path: Path, fleet: Fleet) -> Path:
    endpoints = "".join(
        f"      - address: {n.host}:{n.port}\n        interval: 1s\n" for n in fleet.nodes
    )
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        f"    - targetName: killed\n      type: StaticEndpoints\n      endpoints:\n{endpoints}"
    )
    return path


async def spawn(
    cfg: Path, collector_port: int, spool: Path, jsonl: Path, listen: int
) -> asyncio.subprocess.Process:
    """``openagent run`` into the collector and ``jsonl``, spooling in ``spool``."""
    whatap = {
        "WHATAP_LICENSE": FAKE_LICENSE,
        "WHATAP_HOST": "127.0.0.1",
        "WHATAP_PORT": str(collector_port),
        "WHATAP_ONAME": "killed-agent",
    }
    return await spawn_openagent(
        "--config", str(cfg),
        "--listen", f"127.0.0.1:{listen}",
        "--sink", "whatap", "--sink", "jsonl",
        "--jsonl-path", str(jsonl),
        "--spool-dir", str(spool),
        "--retry-max-backoff", "500ms",
        "--whatap-connect-timeout", "1s",
        "--log-format", "json",
        log=jsonl.with_suffix(".log"), env=whatap,
    )  # fmt: skip


def record_key(r: Record) -> SampleKey:
    """A record as jsonl writes it: without the ``pcode`` label the whatap sink adds."""
    return (r.name, tuple(sorted(kv for kv in r.labels if kv[0] != "pcode")), r.timestamp_ms)


async def whatap_counters(listen: int) -> dict[str, float]:
    """The agent's ``openagent_delivery_*_total{sink="whatap"}`` counters, by short name
    (none while its HTTP server is not up yet)."""
    url = f"http://127.0.0.1:{listen}/metrics"
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
    except aiohttp.ClientConnectionError:
        return {}
    out: dict[str, float] = {}
    prefix, suffix = "openagent_delivery_", "_total"
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name
            if (
                name.startswith(prefix)
                and name.endswith(suffix)
                and s.labels.get("sink") == "whatap"
            ):
                short = name.removeprefix(prefix).removesuffix(suffix)
                out[short] = out.get(short, 0.0) + s.value
    return out


async def begin(outage: Outage, collector: Collector) -> None:
    if outage == "down":
        await collector.stop()
    else:
        collector.freeze()


async def end(outage: Outage, collector: Collector) -> None:
    if outage == "down":
        await collector.start()
    elif outage == "frozen_then_crashed":
        await collector.die()
        await collector.start()
    else:
        collector.resume()


@pytest.mark.parametrize("outage", ["down", "frozen_then_crashed", "frozen_then_resumed"])
async def test_kill_9_mid_outage_then_restart_delivers_every_scraped_sample(
    outage: Outage, tmp_path: Path, fleet: Fleet
) -> None:
    cfg = config(tmp_path / "scrape_config.yaml", fleet)
    spool, truth = tmp_path / "spool", tmp_path / "first.jsonl"
    async with Collector(drain_timeout=5) as collector:

        def arrived() -> set[SampleKey]:
            return {record_key(r) for r in collector.records}

        def every_target_arrived() -> bool:
            return len({dict(k[1])["instance"] for k in arrived()}) == NODES

        first = await spawn(cfg, collector.port, spool, truth, free_port())
        try:
            await collector.wait_for(every_target_arrived, within=60)
            await begin(outage, collector)
            down_ms = int(time.time() * 1000)  # nothing scraped after this was answered

            def scraped_while_down() -> bool:  # two rounds of every target
                late = [k for k in jsonl_samples(truth) if k[2] > down_ms + 1000]
                targets = {dict(k[1])["instance"] for k in late}
                return len(targets) == NODES and len({k[2] for k in late}) >= 2 * NODES

            await eventually(scraped_while_down, within=30)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        scraped = jsonl_samples(truth)
        unsent_at_kill = scraped - arrived()
        listen = free_port()
        second = await spawn(cfg, collector.port, spool, tmp_path / "second.jsonl", listen)
        try:
            await end(outage, collector)
            with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
                await collector.wait_for(lambda: scraped <= arrived(), within=60)

            async def backlog_sent() -> dict[str, float]:  # the spool's replay is booked
                counters = await whatap_counters(listen)
                sent, recovered = (counters.get(f"samples_{n}", -1) for n in ("sent", "recovered"))
                return counters if sent >= recovered >= 0 else {}

            counters = await eventually(backlog_sent, within=60)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 60)
    missing = scraped - arrived()
    twice = sum(n - 1 for n in Counter(record_key(r) for r in collector.records).values())
    assert unsent_at_kill  # the kill did catch samples the collector had not taken
    assert not missing, f"{len(missing)} of {len(scraped)} samples lost, e.g. {sorted(missing)[:3]}"
    assert twice <= counters.get("replayed_samples", 0)
    assert counters.get("samples_dropped", 0) == 0
    assert collector.errors == []
