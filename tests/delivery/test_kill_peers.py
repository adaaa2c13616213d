"""``kill -9`` of ``openagent run`` during a receiver outage loses nothing it had scraped.

Real peers: Prometheus 2.42 (remote-write receiver) and VictoriaMetrics
(``/api/v1/write``), each stopped for a short outage; synthetic DCGM targets
from `benchmarks.fleet` on loopback, scraped every second. The agent runs as
a real process with a spool directory and the default 64 MiB memory queue,
and a second sink, jsonl, as the ground truth of what was scraped: every
sample in the jsonl file when the agent is killed must reach the receiver
after a new process starts on the same spool and the receiver comes back.

Every batch is appended to the spool (a ``write`` into the page cache)
before it counts as queued, and the page cache survives the death of the
process, so all of them arrive, not merely all but the last fsync interval.
A power loss, which this test cannot cause, could cost up to
``--spool-fsync-interval`` (1 s) of batches per sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.fleet import Fleet
from tests.peers import PrometheusServer, VictoriaMetricsServer, free_port
from tests.support import SampleKey, eventually, jsonl_samples, spawn_openagent

pytestmark = [pytest.mark.peer, pytest.mark.timeout(180)]

JOB = "killed"


def config(path: Path, urls: list[str]) -> Path:
    endpoints = "".join(
        f"      - address: {u.removeprefix('http://').removesuffix('/metrics')}\n"
        "        interval: 1s\n"
        for u in urls
    )
    path.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        f"    - targetName: {JOB}\n      type: StaticEndpoints\n      endpoints:\n{endpoints}"
    )
    return path


async def spawn(cfg: Path, url: str, spool: Path, jsonl: Path) -> asyncio.subprocess.Process:
    """``openagent run`` into ``url`` and ``jsonl``, spooling in ``spool`` (default memory)."""
    return await spawn_openagent(
        "--config", str(cfg),
        "--listen", f"127.0.0.1:{free_port()}",
        "--sink", "remote-write", "--sink", "jsonl",
        "--remote-write-url", url,
        "--remote-write-batch-delay", "0s",
        "--jsonl-path", str(jsonl),
        "--spool-dir", str(spool),
        "--retry-max-backoff", "500ms",
        "--log-format", "json",
        log=jsonl.with_suffix(".log"),
    )  # fmt: skip


def split(labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    rest = dict(labels)
    return rest.pop("__name__"), tuple(sorted(rest.items()))


def prometheus_keys(prom: PrometheusServer) -> Iterator[SampleKey]:
    for labels, points in prom.samples(f'{{job="{JOB}"}}', "1h"):
        name, rest = split(labels)
        yield from ((name, rest, t) for t, v in points if not math.isnan(v))


def victoria_keys(vm: VictoriaMetricsServer) -> Iterator[SampleKey]:
    vm.flush()
    for labels, values, stamps in vm.export(f'{{job="{JOB}"}}'):
        name, rest = split(labels)
        yield from (
            (name, rest, t) for t, v in zip(stamps, values, strict=True) if not math.isnan(v)
        )


@pytest.mark.parametrize("peer", ["prometheus", "victoriametrics"])
async def test_kill_9_mid_outage_then_restart_delivers_every_scraped_sample(
    peer: str, tmp_path: Path
) -> None:
    server: PrometheusServer | VictoriaMetricsServer
    if peer == "prometheus":
        server = PrometheusServer()
        read = prometheus_keys
    else:
        server = VictoriaMetricsServer()
        read = victoria_keys  # type: ignore[assignment]

    def received() -> set[SampleKey]:
        return set(read(server))  # type: ignore[arg-type]

    spool, truth = tmp_path / "spool", tmp_path / "first.jsonl"
    with server:
        url = server.url + "/api/v1/write"
        async with Fleet(nodes=3, gpus=2, families=6) as fleet:
            cfg = config(tmp_path / "c.yaml", fleet.urls)
            first = await spawn(cfg, url, spool, truth)
            try:
                await eventually(lambda: asyncio.to_thread(received), within=60)
                await asyncio.to_thread(server.halt)
                down_ms = int(time.time() * 1000)  # nothing scraped after this can be delivered

                def scraped_while_down() -> bool:  # two rounds of every target
                    late = [k for k in jsonl_samples(truth) if k[2] > down_ms + 1000]
                    targets = {dict(k[1])["instance"] for k in late}
                    return len(targets) == 3 and len({k[2] for k in late}) >= 6

                await eventually(scraped_while_down, within=30)
            finally:
                first.send_signal(signal.SIGKILL)
                await first.wait()
            assert first.returncode == -signal.SIGKILL
            scraped = jsonl_samples(truth)
            missing: set[SampleKey] = set()
            second = await spawn(cfg, url, spool, tmp_path / "second.jsonl")
            try:
                await asyncio.to_thread(server.start)

                async def all_arrived() -> bool:
                    missing.clear()
                    missing.update(scraped - await asyncio.to_thread(received))
                    return not missing

                with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
                    await eventually(all_arrived, within=60)
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 60)
    assert any(k[2] > down_ms for k in scraped)
    assert not missing, f"{len(missing)} of {len(scraped)} samples lost, e.g. {sorted(missing)[:3]}"
