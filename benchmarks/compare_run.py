"""Running one tool against one fleet and measuring it over a window.

CPU is the utime + stime of the tool's process tree (the process, its live
descendants, and what their reaped children used, from /proc/<pid>/stat);
RSS is the tree's resident memory sampled every 0.5 s. Nothing the harness
does (fleet, remote-write receiver, decoding, the Whatap collector emulator)
runs in that tree, so none of it is charged to the tool.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.compare_stats import (
    bucket_deltas,
    counted_percentile,
    histogram_quantile,
    parse_histogram,
    percentile,
)
from benchmarks.compare_tools import REPO, Launch, Tool
from benchmarks.fleet import Fleet
from benchmarks.prompb_reader import BodyFacts
from benchmarks.rw_receiver import Receiver
from benchmarks.whatap_collector import FAKE_LICENSE

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
RSS_EVERY_S = 0.5
LOOP_LAG = "openagent_event_loop_lag_distribution_seconds"
OWN_SCRAPE_DURATION = "openagent_scrape_duration_seconds"


@dataclass
class Result:
    """What one tool cost, and how it behaved, over one window at one fleet size."""

    tool: str
    nodes: int
    series: int
    scrapes: int = 0
    samples: int = 0
    cpu_s: float = 0.0
    window_s: float = 0.0
    rss_avg_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rw_requests: int = 0
    rw_bytes: int = 0
    bodies_seen: int = 0
    bodies_decoded: int = 0
    decode_errors: int = 0
    scrape_p50_ms: float | None = None
    scrape_p99_ms: float | None = None
    scrape_source: str = ""
    delay_p50_s: float | None = None
    delay_p99_s: float | None = None
    loop_lag_p99_ms: float | None = None
    bytes_per_series: float | None = None
    error: str = ""

    @property
    def us_per_sample(self) -> float:
        """CPU microseconds per scraped sample (NaN without samples)."""
        return self.cpu_s / self.samples * 1e6 if self.samples else float("nan")


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, cpu ticks incl. reaped children, rss pages) for every process."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
        table[int(entry)] = (int(fields[1]), ticks, int(fields[21]))
    return table


def tree_usage(root: int) -> tuple[float, int]:
    """CPU seconds and RSS bytes of ``root`` and all its live descendants."""
    table = _proc_table()
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        members.update(kids)
        frontier.extend(kids)
    ticks = sum(table[p][1] for p in members if p in table)
    rss = sum(table[p][2] for p in members if p in table)
    return ticks / TICK, rss * PAGE


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class CollectorProcess:
    """`benchmarks.whatap_collector` in a process of its own on 127.0.0.1.

    A process of its own rather than in the harness: it decrypts and decodes
    every pack, which at large fleets would slow the harness' fleet and so the
    scrapes being measured; it is not a child of the tool, so it is not charged.
    """

    def __init__(self, work: Path, tag: str) -> None:
        self.work, self.tag = work, tag
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._log = work / f"{tag}-collector.log"

    async def start(self, within: float = 15.0) -> None:
        """Start it and wait until it listens; RuntimeError if it does not."""
        ready = self.work / f"{self.tag}-collector.json"
        ready.unlink(missing_ok=True)
        argv = ["-m", "benchmarks.whatap_collector", "--port", "0", "--quiet"]
        with self._log.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv,
                "--ready-file",
                str(ready),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + within
        while not ready.exists():
            if self._proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the collector emulator did not start: {self.log_tail()}")
            await asyncio.sleep(0.05)
        self.port = int(json.loads(ready.read_text())["port"])

    def env(self) -> dict[str, str]:
        """The Whatap settings an agent needs to send to this emulator."""
        return {
            "WHATAP_LICENSE": FAKE_LICENSE,
            "WHATAP_HOST": "127.0.0.1",
            "WHATAP_PORT": str(self.port),
            "WHATAP_ONAME": "openagent-bench",
        }

    async def stop(self) -> int | None:
        """Stop it; return how many records it received in all (None if unknown)."""
        if self._proc is not None:
            await stop_process(self._proc)
        found = re.findall(r"\| records (\d+) ", self.log_tail())
        return int(found[-1]) if found else None

    def log_tail(self) -> str:
        """The end of its log."""
        return self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""


async def fetch_metrics(listen: str) -> str:
    """The text of ``http://listen/metrics``, or "" when it cannot be read."""
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://{listen}/metrics") as resp,
        ):
            return await resp.text() if resp.status == 200 else ""
    except (aiohttp.ClientError, TimeoutError):
        return ""


def histogram_window_quantile(before: str, after: str, name: str, q: float) -> float | None:
    """The ``q`` quantile of what histogram ``name`` observed between two /metrics texts."""
    deltas = bucket_deltas(parse_histogram(before, name), parse_histogram(after, name))
    return histogram_quantile(q, deltas)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def apply_facts(result: Result, facts: BodyFacts, seen: int) -> None:
    """Scrape durations and end-to-end delays from the decoded remote-write bodies."""
    result.bodies_seen, result.bodies_decoded = seen, facts.bodies
    result.decode_errors = facts.errors
    if facts.scrape_durations_s:
        result.scrape_source = "remote write"
        result.scrape_p50_ms = _ms(percentile(facts.scrape_durations_s, 0.5))
        result.scrape_p99_ms = _ms(percentile(facts.scrape_durations_s, 0.99))
    p50, p99 = counted_percentile(facts.delays_ms, 0.5), counted_percentile(facts.delays_ms, 0.99)
    result.delay_p50_s = None if p50 is None else p50 / 1e3
    result.delay_p99_s = None if p99 is None else p99 / 1e3


def apply_own_metrics(result: Result, before: str, after: str) -> None:
    """Loop lag p99 from openagent's own /metrics; its own scrape-duration histogram where
    nothing better was decoded (the Whatap sink writes no remote-write bodies)."""
    result.loop_lag_p99_ms = _ms(histogram_window_quantile(before, after, LOOP_LAG, 0.99))
    if not result.scrape_source:
        p50 = histogram_window_quantile(before, after, OWN_SCRAPE_DURATION, 0.5)
        if p50 is not None:
            result.scrape_source = "own /metrics histogram"
            result.scrape_p50_ms = _ms(p50)
            p99 = histogram_window_quantile(before, after, OWN_SCRAPE_DURATION, 0.99)
            result.scrape_p99_ms = _ms(p99)


@dataclass
class Timing:
    """How long to warm up and measure (seconds)."""

    warmup: float
    window: float


async def _sample_window(
    proc: asyncio.subprocess.Process, result: Result, window: float, per_scrape: int, fleet: Fleet
) -> None:
    """Measure CPU, RSS and scrapes from now for ``window`` seconds into ``result``."""
    cpu0, _ = tree_usage(proc.pid)
    scrapes0 = fleet.total_scrapes()
    t0 = time.monotonic()
    rss: list[int] = []
    while time.monotonic() - t0 < window:
        await asyncio.sleep(RSS_EVERY_S)
        if proc.returncode is not None:
            raise RuntimeError(f"exited with {proc.returncode} during the window")
        rss.append(tree_usage(proc.pid)[1])
    cpu1, _ = tree_usage(proc.pid)
    result.window_s = time.monotonic() - t0
    result.cpu_s = cpu1 - cpu0
    result.scrapes = fleet.total_scrapes() - scrapes0
    result.samples = result.scrapes * per_scrape
    result.rss_avg_mb = sum(rss) / len(rss) / 2**20 if rss else 0.0
    result.rss_peak_mb = max(rss, default=0) / 2**20


async def measure(
    tool: Tool, launch: Launch, timing: Timing, fleet: Fleet, receiver: Receiver, work: Path
) -> Result:
    """Run the tool, warm up, measure one window; always stops the process."""
    per_scrape = fleet.payload(0).samples
    result = Result(tool.name, len(fleet.nodes), len(fleet.nodes) * per_scrape)
    log_path = work / f"{tool.name}-{result.nodes}.log"
    with log_path.open("wb") as log:
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=os.environ | launch.env,
            )
        except OSError as exc:
            result.error = f"cannot start {launch.argv[0]}: {exc}"
            return result
    try:
        await asyncio.sleep(timing.warmup)
        if proc.returncode is not None:
            raise RuntimeError(f"exited with {proc.returncode} during warm-up")
        before = await fetch_metrics(launch.listen) if tool.is_openagent else ""
        rw0, rwb0 = receiver.requests, receiver.bytes
        receiver.record()
        await _sample_window(proc, result, timing.window, per_scrape, fleet)
        recording = receiver.stop_recording()
        after = await fetch_metrics(launch.listen) if tool.is_openagent else ""
        result.rw_requests, result.rw_bytes = receiver.requests - rw0, receiver.bytes - rwb0
    except RuntimeError as exc:
        receiver.stop_recording()
        tail = log_path.read_text(errors="replace")[-2000:]
        result.error = f"{exc}\n{tail}"
        return result
    finally:
        await stop_process(proc)
    apply_facts(result, recording.facts(), recording.seen)
    if tool.is_openagent:
        apply_own_metrics(result, before, after)
    return result
