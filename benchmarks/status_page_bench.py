"""The targets page's rendering time and size for a large fleet, beside the JSON answer's.

Run: ``python -m benchmarks.status_page_bench [--targets 5000] [--runs 5]``.

The fleet is shaped like a dcgm-exporter DaemonSet found through a
PodMonitor: three jobs, eight labels per target (``node`` shared by ten
targets, ``namespace``, ``container`` and ``endpoint`` shared by all),
about 6% of targets down with a dial error and 2% never scraped, spread
over four worker processes. Figures are the median and best of ``--runs``
renders, pinned to one core when the OS allows it; ``json`` is what
``/targets`` costs without HTML (`target_json` for every row, then orjson).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson

from benchmarks.common import pin_one_core
from openagent.config.models import EndpointConfig
from openagent.model import Target, TargetState
from openagent.server import target_json
from openagent.status_page import PageRow, targets_page

JOBS = ("dcgm-exporter", "dcgm-exporter-canary", "node-gpu-extra")
NOW = 1_800_000_000.0


def _state(i: int) -> TargetState:
    if i % 50 == 7:
        return TargetState()
    if i % 16 == 3:
        return TargetState(
            health="down",
            last_scrape_ms=int((NOW - 12.5) * 1000),
            last_duration=10.0,
            last_error=f'Get "http://127.1.{i // 256 % 256}.{i % 256}:9400/metrics": '
            "dial tcp: connect: connection refused",
        )
    return TargetState(
        health="up", last_scrape_ms=int((NOW - i % 30) * 1000), last_duration=0.0123, samples=320
    )


def fleet(size: int) -> list[PageRow]:
    """``size`` targets, their states and workers, shaped as the module docstring says."""
    endpoint = EndpointConfig()
    rows: list[PageRow] = []
    for i in range(size):
        address = f"127.1.{i // 256 % 256}.{i % 256}:9400"
        job = JOBS[0] if i % 20 else JOBS[1 + i % 40 // 20]
        labels = (
            ("job", job),
            ("instance", address),
            ("namespace", "gpu-operator"),
            ("pod", f"nvidia-dcgm-exporter-{i:05x}"),
            ("container", "nvidia-dcgm-exporter"),
            ("endpoint", "gpu-metrics"),
            ("node", f"gpu-node-{i // 10:04d}"),
            ("Hostname", f"gpu-node-{i // 10:04d}"),
        )
        target = Target(job, f"http://{address}/metrics", labels, endpoint)
        rows.append((target, _state(i), i % 4))
    return rows


def _seconds(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    """Render the page and the JSON for the fleet; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pinned = pin_one_core()
    rows = fleet(args.targets)
    page = targets_page(rows, shard="shard-0", now=NOW)
    down = targets_page(rows, shard="shard-0", now=NOW, health="down")

    def as_json() -> bytes:
        return orjson.dumps([target_json(t, s, w, "shard-0") for t, s, w in rows])

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("page", lambda: targets_page(rows, shard="shard-0", now=NOW), len(page.encode())),
        (
            "page ?health=down",
            lambda: targets_page(rows, shard="shard-0", now=NOW, health="down"),
            len(down.encode()),
        ),
        ("json", as_json, len(as_json())),
    ]
    print(f"{args.targets} targets, {args.runs} runs, {pinned}\n")
    print("| answer | median ms | best ms | KB |")
    print("|---|---:|---:|---:|")
    for name, fn, size in cases:
        median, best = _seconds(fn, args.runs)
        print(f"| {name} | {median * 1000:.1f} | {best * 1000:.1f} | {size / 1000:.0f} |")


if __name__ == "__main__":
    main()
