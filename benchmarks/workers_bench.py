"""Sustained throughput and CPU per sample of the agent with 1, 2, ... worker processes.

A synthetic fleet (:mod:`benchmarks.fleet`) runs in its own process on
127.0.0.1, its bodies rendered once per ``--update-interval`` and served as
the same bytes in between, so serving stays cheap next to scraping. The
agent runs as ``python -m openagent run --workers W`` with the jsonl sink
writing to /dev/null, against a config whose interval asks for more scrapes
than one core can do: one process saturates, and more workers can only help
if they scale. Each run: start the agent, wait ``--warmup`` seconds, then
measure for ``--window`` seconds:

- samples scraped, from the agent's own ``openagent_target_samples_total
  {result="scraped"}`` over all workers (failed scrapes carry no samples);
- CPU seconds of the agent's process tree (agent and workers, from /proc)
  and of the fleet's;
- bodies the fleet served, scrapes that failed (a saturated agent times
  out), and scrapes the agent skipped because the previous one of the same
  target ran late.

CPU per sample is the agent tree's CPU time over the samples scraped; the
report also gives the agent process's own share (with workers it only
discovers, feeds the workers and serves). The fleet shares the machine, so
the report gives its CPU too.

    python -m benchmarks.workers_bench --workers 1,2 --nodes 60 --interval 1s

See benchmarks/README.md for the flags and the latest numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.compare_run import TICK, free_port, tree_usage

REPO = Path(__file__).resolve().parents[1]
_SCRAPED = re.compile(r'^openagent_target_samples_total\{.*result="scraped".*\} (\S+)$', re.M)
_SKIPPED = re.compile(r"^openagent_scrapes_skipped_total\{.*\} (\S+)$", re.M)
_FAILED = re.compile(
    r'^openagent_target_scrapes_total\{.*result="(?!success)[^"]*".*\} (\S+)$', re.M
)
Process = subprocess.Popen[bytes]


@dataclass
class Snapshot:
    """Counters at one moment."""

    at: float
    agent_cpu: float
    parent_cpu: float
    fleet_cpu: float
    samples: float
    skipped: float
    failed: float
    served: int


@dataclass
class Result:
    """One agent run over the measured window."""

    workers: int
    window: float
    samples: float
    agent_cpu: float
    parent_cpu: float
    fleet_cpu: float
    skipped: float
    failed: float
    served: int
    processes: int
    rss_mb: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.window

    @property
    def us_per_sample(self) -> float:
        return self.agent_cpu / self.samples * 1e6 if self.samples else float("nan")


def config_text(nodes: list[dict[str, Any]], interval: str) -> str:
    """A StaticEndpoints config for every node, at ``interval`` (timeout the same)."""
    endpoints = "\n".join(
        f"      - address: {n['host']}:{n['port']}\n        interval: {interval}\n"
        f"        timeout: {interval}"
        for n in nodes
    )
    return (
        "features:\n  openAgent:\n    enabled: true\n    minimumInterval: 100ms\n"
        "    targets:\n    - targetName: fleet\n      type: StaticEndpoints\n"
        f"      endpoints:\n{endpoints}\n"
    )


def start_fleet(args: argparse.Namespace, work: Path) -> tuple[Process, dict[str, Any]]:
    """The fleet in its own process; returns it and its endpoints document."""
    doc_path = work / "fleet.json"
    doc_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        *("-m", "benchmarks.fleet", "--base-port", "0", "--endpoints-file", str(doc_path)),
        *("--nodes", str(args.nodes), "--gpus", str(args.gpus)),
        *("--families", str(args.families), "--pods-per-gpu", str(args.pods_per_gpu)),
        *("--update-interval", str(args.update_interval)),
    ]
    fleet = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not doc_path.exists():
        if fleet.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the fleet did not start")
        time.sleep(0.1)
    return fleet, json.loads(doc_path.read_text())


async def fleet_served(session: aiohttp.ClientSession, nodes: list[dict[str, Any]]) -> int:
    """Bodies served by every node so far."""

    async def one(n: dict[str, Any]) -> int:
        async with session.get(f"http://{n['host']}:{n['port']}/-/stats") as r:
            return int((await r.json())["scrapes"])

    return sum(await asyncio.gather(*(one(n) for n in nodes)))


async def snapshot(
    session: aiohttp.ClientSession, agent: int, fleet: int, port: int, nodes: list[dict[str, Any]]
) -> Snapshot:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    served = await fleet_served(session, nodes)
    return Snapshot(
        at=time.monotonic(),
        agent_cpu=tree_usage(agent)[0],
        parent_cpu=own_cpu(agent),
        fleet_cpu=tree_usage(fleet)[0],
        samples=sum(float(v) for v in _SCRAPED.findall(text)),
        skipped=sum(float(v) for v in _SKIPPED.findall(text)),
        failed=sum(float(v) for v in _FAILED.findall(text)),
        served=served,
    )


async def wait_ready(session: aiohttp.ClientSession, port: int, proc: Process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {proc.returncode}")
        try:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the agent did not become ready")


async def measure(
    workers: int, args: argparse.Namespace, fleet: Process, doc: dict[str, Any]
) -> Result:
    """Run the agent with ``workers`` and measure it (see the module docs)."""
    work: Path = args.workdir
    cfg = work / "scrape_config.yaml"
    cfg.write_text(config_text(doc["nodes"], args.interval))
    port = free_port()
    cmd = [
        sys.executable,
        *("-m", "openagent", "run", "--config", str(cfg), "--listen", f"127.0.0.1:{port}"),
        *("--sink", "jsonl", "--jsonl-path", "/dev/null", "--log-level", "warning"),
        *("--workers", str(workers)),
    ]
    proc = start_agent(cmd, work / f"agent-{workers}.log")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await wait_ready(session, port, proc)
            await asyncio.sleep(args.warmup)
            start = await snapshot(session, proc.pid, fleet.pid, port, doc["nodes"])
            await asyncio.sleep(args.window)
            end = await snapshot(session, proc.pid, fleet.pid, port, doc["nodes"])
            processes = process_count(proc.pid)
            rss = tree_usage(proc.pid)[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return Result(
        workers=workers,
        window=end.at - start.at,
        samples=end.samples - start.samples,
        agent_cpu=end.agent_cpu - start.agent_cpu,
        parent_cpu=end.parent_cpu - start.parent_cpu,
        fleet_cpu=end.fleet_cpu - start.fleet_cpu,
        skipped=end.skipped - start.skipped,
        failed=end.failed - start.failed,
        served=end.served - start.served,
        processes=processes,
        rss_mb=rss / 2**20,
    )


def own_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` alone (utime + stime, not its children's)."""
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def process_count(pid: int) -> int:
    """``pid`` and its children (Linux)."""
    return 1 + len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def start_agent(cmd: list[str], log_path: Path) -> Process:
    """The agent, its output in ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log)


def report(results: list[Result], args: argparse.Namespace, demanded: float) -> str:
    """A markdown table of the runs, and each run's ratios to the first."""
    lines = [
        f"fleet: {args.nodes} nodes x {args.gpus} GPUs x {args.families} families"
        + (f" x {args.pods_per_gpu} pods/GPU" if args.pods_per_gpu else "")
        + f", interval {args.interval}:"
        f" {demanded:,.0f} scrapes/s asked; {os.cpu_count()} CPUs; {args.window:g} s measured",
        "",
        "| workers | processes | samples/s | served/s | failed/s | skipped/s"
        " | agent CPU | of which the agent process | µs/sample | fleet CPU | agent RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per_s = [r.served, r.failed, r.skipped]
        lines.append(
            f"| {r.workers} | {r.processes} | {r.samples_per_s:,.0f} | "
            + " | ".join(f"{v / r.window:,.0f}" for v in per_s)
            + f" | {r.agent_cpu / r.window:.2f} cores | {r.parent_cpu / r.window:.2f} cores"
            f" | {r.us_per_sample:.3f}"
            f" | {r.fleet_cpu / r.window:.2f} cores | {r.rss_mb:,.0f} MB |"
        )
    base = results[0]
    lines.append("")
    for r in results[1:]:
        lines.append(
            f"{r.workers} vs {base.workers} workers: throughput"
            f" {_ratio(r.samples_per_s, base.samples_per_s)},"
            f" CPU per sample {_ratio(r.us_per_sample, base.us_per_sample)}"
        )
    return "\n".join(lines)


def _ratio(value: float, base: float) -> str:
    """``x1.23``, or ``x?`` when the base read zero: CPU time comes in 10 ms clock ticks,
    so a short run of a small fleet can measure none."""
    return f"x{value / base:.2f}" if base else "x?"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.workers_bench", description=__doc__)
    p.add_argument("--workers", default="1,2", help="comma list of worker counts (default 1,2)")
    p.add_argument("--nodes", type=int, default=60, help="fleet nodes (default 60)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--families", type=int, default=40, help="metric families (default 40)")
    p.add_argument("--pods-per-gpu", type=int, default=4, help="time-sliced pods per GPU (4)")
    p.add_argument("--update-interval", type=float, default=30.0, help="fleet refresh seconds")
    p.add_argument("--interval", default="1s", help="scrape interval and timeout (default 1s)")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring (10)")
    p.add_argument("--window", type=float, default=30.0, help="seconds measured (30)")
    p.add_argument("--workdir", type=Path, default=Path(".bench/workers_bench"))
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    return p


def _seconds(text: str) -> float:
    value = float(text.rstrip("ms"))
    return value / 1000 if text.endswith("ms") else value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    fleet, doc = start_fleet(args, args.workdir)
    try:
        results = [asyncio.run(measure(w, args, fleet, doc)) for w in counts]
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(30)
    print(report(results, args, args.nodes / _seconds(args.interval)))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
