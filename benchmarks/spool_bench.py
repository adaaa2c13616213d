"""Spool write and replay rates on this machine's disk, per batch size and fsync policy.

Run: ``python -m benchmarks.spool_bench [--total-mib N] [--dir PATH]``.

* write: append ``--total-mib`` of batches through `Spool.append`, yielding
  to the event loop after each one (as the agent does between scrapes), then
  `Spool.close`, which waits for the last fsync. The rate counts the whole
  time, so it is the rate at which data becomes durable under the policy.
  ``append p50/p99/max`` is the time one inline append holds the event loop.
* replay: open the spool again and read + acknowledge every record (a
  checkpoint rename per record, as in delivery). ``warm`` reads from the page
  cache; ``cold`` first evicts the segment files from it
  (``posix_fadvise(DONTNEED)`` on those files only), so reads hit the disk.
  ``loop lag max`` is the worst lateness of a 1 ms timer running beside the
  replay (reads run in a worker thread; acks write the position mark inline);
  the same timer on an idle loop is printed first, as the machine's noise.

Everything is written under ``--dir`` (default: a fresh directory in the
system temp dir) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from openagent.delivery.fsync import FSYNC_POLICIES, FsyncPolicy
from openagent.delivery.spool import Spool
from openagent.sinks.base import Batch
from openagent.telemetry import setup_logging

MiB = 1024 * 1024
SIZES = (4 * 1024, 64 * 1024, MiB)


def _evict(directory: Path) -> None:
    for path in directory.glob("*.seg"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


async def write(directory: Path, size: int, total: int, policy: FsyncPolicy) -> dict[str, float]:
    """Append ``total`` bytes of ``size``-byte batches; rate and per-append stall."""
    spool = Spool(directory, sink="bench", max_bytes=4 * total, fsync=policy)
    await spool.open()
    payloads = [os.urandom(size) for _ in range(8)]
    count = total // size
    stalls: list[float] = []
    t0 = time.perf_counter()
    for i in range(count):
        a = time.perf_counter()
        spool.append(Batch(payloads[i % 8], 100, 0))
        stalls.append(time.perf_counter() - a)
        await asyncio.sleep(0)
    await spool.close()
    elapsed = time.perf_counter() - t0
    stalls.sort()
    return {
        "mbps": count * size / MiB / elapsed,
        "p50": statistics.median(stalls) * 1e3,
        "p99": stalls[int(len(stalls) * 0.99)] * 1e3,
        "max": stalls[-1] * 1e3,
        "rounds": spool.sync_rounds,
    }


async def _lag_probe(worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - start - 0.001)


async def replay(directory: Path, size: int, *, cold: bool) -> dict[str, float]:
    """Read and acknowledge everything in the spool at ``directory``."""
    if cold:
        await asyncio.to_thread(_evict, directory)
    spool = Spool(directory, sink="bench", max_bytes=1 << 40, fsync="never")
    await spool.open()
    records = 0
    worst = [0.0]
    probe = asyncio.create_task(_lag_probe(worst))
    t0 = time.perf_counter()
    while (got := await spool.read()) is not None:
        spool.ack(got[1])
        records += 1
        await asyncio.sleep(0)  # a real send always yields to the loop
    elapsed = time.perf_counter() - t0
    probe.cancel()
    await spool.close()
    return {"mbps": records * size / MiB / elapsed, "records": records, "max": worst[0] * 1e3}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--total-mib", type=int, default=128, help="data per run (MiB)")
    p.add_argument("--dir", type=Path, help="where to write (default: a temp dir)")
    p.add_argument("--policies", nargs="+", default=list(FSYNC_POLICIES), choices=FSYNC_POLICIES)
    args = p.parse_args()
    setup_logging("warning")
    base = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=args.dir))
    total = args.total_mib * MiB
    print(f"spool bench in {base}: {args.total_mib} MiB per run")
    idle = [0.0]
    probe = asyncio.create_task(_lag_probe(idle))
    await asyncio.sleep(3)
    probe.cancel()
    print(f"idle loop: worst timer lateness {idle[0] * 1e3:.2f} ms over 3 s")
    header = (
        f"{'batch':>7} {'fsync':>8} | {'write MB/s':>10} {'append p50':>10} {'p99':>7} "
        f"{'max ms':>7} {'fsyncs':>6} | {'replay warm':>11} {'cold':>7} {'loop lag max ms':>15}"
    )
    print(header)
    print("-" * len(header))
    try:
        for size in SIZES:
            for policy in args.policies:
                directory = base / f"{size}-{policy}"
                w = await write(directory, size, total, policy)
                warm = await replay(directory, size, cold=False)
                # replay acknowledged everything: write the same data again for the cold read
                shutil.rmtree(directory)
                await write(directory, size, total, "never")
                cold = await replay(directory, size, cold=True)
                shutil.rmtree(directory)
                label = f"{size // 1024} KiB" if size < MiB else "1 MiB"
                print(
                    f"{label:>7} {policy:>8} | {w['mbps']:>10.0f} {w['p50']:>9.3f}ms "
                    f"{w['p99']:>7.3f} {w['max']:>7.2f} {w['rounds']:>6.0f} | "
                    f"{warm['mbps']:>11.0f} {cold['mbps']:>7.0f} "
                    f"{max(warm['max'], cold['max']):>15.2f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
