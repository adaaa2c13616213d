"""The cost of confirmed Whatap delivery: a TIME_SYNC barrier after each group of packs.

Run: ``python -m benchmarks.whatap_barrier_bench [--samples N] [--runs R]``.

The collector emulator runs in its own process (``benchmarks.whatap_collector``
on an ephemeral loopback port), so the figures are the agent side only. The
packs are those `WhatapSink.encode` makes of dcgm-exporter scrapes (the
``8 GPUs x 10 pods x 40 families`` shape of `benchmarks.common`, through the
real parser: 3,200 series a scrape, packs of up to 1,000 records, gzip),
encoded once beforehand; what is timed is sending them, one row per mode:

* ``send``: `WhatapSink.send` per pack, no barrier (written counts as sent),
  and one barrier at the very end so that the round lasts until the collector
  has read everything (else it times the kernel's buffers, not delivery);
* ``group N``: `WhatapSink.send_confirmed` with groups of N packs, each group
  waiting for its barrier's answer.

Figures: CPU µs per sample of this process (``time.process_time``; the best of
``--runs`` rounds), samples per second (wall clock, same round), the median
wait for a barrier's answer, and the bytes of one group (the data at risk while
its answer is awaited). Loopback only: over a WAN each group also waits one
round trip, which bounds throughput at group bytes / RTT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import STANDARD_SHAPES
from benchmarks.whatap_collector import FAKE_LICENSE
from benchmarks.whatap_encode_bench import scrape_results
from openagent.sinks.base import Batch
from openagent.sinks.whatap.sink import WhatapOptions, WhatapSink, build_whatap_sink

GROUPS = (1, 4, 16, 64)


def start_collector(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The emulator in a child process; its port once it listens."""
    ready = workdir / "ready.json"
    command = [sys.executable, "-m", "benchmarks.whatap_collector", "--port", "0"]
    proc = subprocess.Popen([*command, "--quiet", "--ready-file", str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the collector emulator did not start")
        time.sleep(0.05)
    return proc, int(json.loads(ready.read_text())["port"])


def batches_of(sink: WhatapSink, samples: int) -> tuple[list[Batch], float]:
    """Data packs of successive scrapes, about ``samples`` samples in all (help left out),
    and the CPU seconds encoding them took."""
    shape = dict(STANDARD_SHAPES)["8 GPUs x 10 pods x 40 families (3,200)"]
    results = scrape_results(shape, max(1, samples // 3200))
    out: list[Batch] = []
    cpu = time.process_time()
    for result in results:
        out += [b for b in sink.encode(result).batches if b.samples]
    return out, time.process_time() - cpu


async def timed(sink: WhatapSink, batches: list[Batch], group: int) -> tuple[float, float, float]:
    """(CPU s, wall s, median barrier wait s) to deliver ``batches``."""
    waits: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    if group == 0:
        for batch in batches:
            await sink.send(batch)
        # One barrier at the very end: the round lasts until the collector has read it all.
        await sink.send_confirmed([])
    else:
        for i in range(0, len(batches), group):
            chunk = batches[i : i + group]
            for batch in chunk[:-1]:
                await sink.send(batch)
            before = time.perf_counter()
            await sink.send_confirmed(chunk[-1:])
            waits.append(time.perf_counter() - before)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, statistics.median(waits) if waits else 0.0


async def bench(port: int, samples: int, runs: int) -> list[str]:
    sink = build_whatap_sink(
        WhatapOptions(license=FAKE_LICENSE, hosts=("127.0.0.1",), port=port,
                      identity_env={"WHATAP_ONAME": "barrier-bench"})
    )  # fmt: skip
    await sink.start()
    try:
        batches, encode_cpu = batches_of(sink, samples)
        await sink.send_confirmed(batches[:1])  # connected, help sent
        total = sum(b.samples for b in batches)
        pack_bytes = statistics.mean(len(b.payload) for b in batches)
        lines = [
            f"{len(batches)} packs, {total} samples, {pack_bytes / 1024:.1f} KiB a pack "
            f"({pack_bytes / (total / len(batches)):.1f} B/sample); encoding them took "
            f"{encode_cpu / total * 1e6:.2f} CPU us/sample (first scrape of each target)",
            "mode | CPU us/sample | samples/s | barrier wait ms | group KiB",
            "---|---|---|---|---",
        ]
        for group in (0, *GROUPS):
            cpu, wall, wait = min([await timed(sink, batches, group) for _ in range(runs)])
            name = "send" if group == 0 else f"group {group}"
            lines.append(
                f"{name} | {cpu / total * 1e6:.2f} | {total / wall:,.0f} | {wait * 1e3:.2f} | "
                f"{group * pack_bytes / 1024:.0f}"
            )
        return lines
    finally:
        await sink.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=64_000, help="samples per round")
    parser.add_argument("--runs", type=int, default=3, help="rounds per mode (best kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_collector(Path(tmp))
        try:
            for line in asyncio.run(bench(port, args.samples, args.runs)):
                print(line)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
