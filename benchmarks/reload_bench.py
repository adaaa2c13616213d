"""How responsive the agent stays while a reload of the largest allowed config is reconciled.

Run: ``python -m benchmarks.reload_bench [--endpoints 10000] [--reloads 3] [--change move]``.

One ``openagent run`` scrapes a static config of ``--endpoints`` endpoints (the
default is the 10,000 of ``--config-max-endpoints``; each carries metric
relabel rules so the file is about 3.5 MB, near the 4 MiB limit) at loopback
addresses where nothing listens, every 300 s, so scraping itself costs next
to nothing. Each reload rewrites the file and sends SIGHUP: with ``--change
move`` every endpoint moves to another address (all loops stop, as many
start), with ``--change settings`` every endpoint gets another timeout (all
loops restart, keeping their caches). Meanwhile this process asks
``/healthz`` over one kept-alive connection, again 10 ms after each answer,
and reports per reload: how long the reload took (SIGHUP to the
``targets reconciled`` log line), the slowest ``/healthz`` answer from SIGHUP
to one second after, and the agent's own event-loop lag over that time (the
smallest bucket of ``openagent_event_loop_lag_distribution_seconds`` that
holds every measurement taken then; the agent measures every 0.5 s).
``--profile FILE`` runs the agent under cProfile and writes its stats there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
PROBE_GAP = 0.010
AFTER = 1.0
PATIENCE = 300.0
LAG_BUCKET = "openagent_event_loop_lag_distribution_seconds_bucket"

#: Rules each endpoint carries, so 10,000 endpoints make a file of the size measured first.
RULES = """\
        metricRelabelConfigs:
        - sourceLabels: [__name__]
          regex: DCGM_FI_DEV_(GPU_UTIL|MEM_COPY_UTIL|FB_USED|FB_FREE|POWER_USAGE|SM_CLOCK).*
          action: keep
        - regex: (Hostname|DCGM_FI_DRIVER_VERSION|pci_bus_id|device)
          action: labeldrop
"""


def fleet_config(endpoints: int, port: int, generation: int, change: str) -> str:
    """A StaticEndpoints config of ``endpoints`` endpoints; each generation differs in
    every endpoint's address (``move``) or timeout (``settings``)."""
    net = 1 + generation % 2 if change == "move" else 1
    timeout = f"{10 + generation % 2}s"
    lines = []
    for i in range(endpoints):
        address = f"127.{net}.{i // 250 % 250}.{1 + i % 250}:{port}"
        lines.append(f"      - address: {address}\n        interval: 300s\n")
        lines.append(f"        timeout: {timeout}\n{RULES}")
    return (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: big-static-fleet\n      type: StaticEndpoints\n      enabled: true\n"
        "      endpoints:\n" + "".join(lines)
    )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` so that a reader never sees half a file."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    os.replace(scratch, path)


@dataclass
class Probe:
    """``/healthz`` answers: (seconds since the probe began, latency) each."""

    url: str
    answers: list[tuple[float, float]] = field(default_factory=list)
    failures: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Ask until ``stop`` is set, again ``PROBE_GAP`` after each answer."""
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    async with session.get(self.url) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                self.failures += not ok
                self.answers.append((began, time.monotonic() - began))
                await asyncio.sleep(PROBE_GAP)

    def worst(self, since: float) -> float:
        """The slowest answer to a request sent at or after ``since`` (monotonic)."""
        return max((lat for at, lat in self.answers if at >= since), default=0.0)


async def lag_buckets(base: str) -> dict[str, float]:
    """The agent's loop-lag histogram: cumulative count per ``le`` bound."""
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics") as r:
        text = await r.text()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(LAG_BUCKET):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            found[bound] = float(line.rsplit(" ", 1)[1])
    return found


def lag_bound(before: dict[str, float], after: dict[str, float]) -> str:
    """The smallest bucket bound that holds every lag measured between the two reads."""
    total = after["+Inf"] - before.get("+Inf", 0.0)
    for bound in sorted((b for b in after if b != "+Inf"), key=float):
        if after[bound] - before.get(bound, 0.0) >= total:
            return f"<= {float(bound) * 1000:g} ms"
    return "> 5 s"


class Agent:
    """One ``openagent run`` of the fleet config, its log read for reconciles."""

    def __init__(self, tmp: Path, args: argparse.Namespace) -> None:
        self.tmp, self.args = tmp, args
        self.config = tmp / "fleet.yaml"
        self.log = tmp / "agent.log"
        self.listen = free_port()
        self.base = f"http://127.0.0.1:{self.listen}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, text: str) -> None:
        """Start the agent on ``text`` and wait until it scrapes every endpoint."""
        write_atomically(self.config, text)
        argv = [sys.executable]
        if self.args.profile:
            argv += ["-m", "cProfile", "-o", self.args.profile]
        argv += ["-m", "openagent", "run", "--config", str(self.config), "--log-format", "json"]
        argv += ["--listen", f"127.0.0.1:{self.listen}", "--reload-interval", "3600"]
        argv += ["--sink", "jsonl", "--jsonl-path", str(self.tmp / "out.jsonl")]
        argv += ["--spool-dir", str(self.tmp / "spool")]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAGENT_", "WHATAP_"))}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=REPO, stdout=log, stderr=log
            )
        await self.reconciled(0)

    def reconciles(self) -> int:
        """How many ``targets reconciled`` lines the agent has logged."""
        text = self.log.read_text(errors="replace")
        return text.count('"targets reconciled"')

    async def reconciled(self, seen: int) -> None:
        """Wait (up to ``PATIENCE``) for a reconcile after the first ``seen``."""
        try:
            async with asyncio.timeout(PATIENCE):
                while self.reconciles() <= seen:
                    if self.proc is not None and self.proc.returncode is not None:
                        raise SystemExit(f"the agent exited {self.proc.returncode}; see {self.log}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise SystemExit(f"no reconcile within {PATIENCE:g} s; see {self.log}") from None

    async def stop(self) -> None:
        """SIGTERM, and wait for the agent to exit."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 120)


async def reload_once(agent: Agent, probe: Probe, generation: int) -> dict[str, object]:
    """Rewrite the config, SIGHUP, and measure until a second after the reconcile."""
    args = agent.args
    write_atomically(agent.config, fleet_config(args.endpoints, args.port, generation, args.change))
    before, seen = await lag_buckets(agent.base), agent.reconciles()
    sent = time.monotonic()
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGHUP)
    await agent.reconciled(seen)
    took = time.monotonic() - sent
    await asyncio.sleep(AFTER)
    after = await lag_buckets(agent.base)
    return {
        "reload_s": round(took, 3),
        "worst_healthz_ms": round(probe.worst(sent) * 1000, 1),
        "loop_lag": lag_bound(before, after),
    }


async def bench(args: argparse.Namespace) -> list[dict[str, object]]:
    """Start the agent, then time ``--reloads`` reloads with the probe running."""
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as scratch:
        agent = Agent(Path(scratch), args)
        first = fleet_config(args.endpoints, args.port, 0, args.change)
        print(f"config: {len(first.encode()):,} bytes, {args.endpoints:,} endpoints", flush=True)
        results: list[dict[str, object]] = []
        try:
            await agent.start(first)
            await asyncio.sleep(2.0)  # let the start-up settle
            probe, stop = Probe(agent.base + "/healthz"), asyncio.Event()
            probing = asyncio.create_task(probe.run(stop))
            await asyncio.sleep(1.0)
            idle = probe.worst(0.0)
            print("| reload | took (s) | worst /healthz (ms) | event-loop lag |")
            print("|---|---|---|---|")
            for generation in range(1, args.reloads + 1):
                results.append(await reload_once(agent, probe, generation))
                row = results[-1]
                print(
                    f"| {generation} ({args.change}) | {row['reload_s']} "
                    f"| {row['worst_healthz_ms']} | {row['loop_lag']} |",
                    flush=True,
                )
            stop.set()
            await probing
            print(f"idle worst /healthz: {idle * 1000:.1f} ms; failed probes: {probe.failures}")
        finally:
            await agent.stop()
        return results


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=10_000)
    p.add_argument("--reloads", type=int, default=3)
    p.add_argument("--change", choices=("move", "settings"), default="move")
    p.add_argument("--port", type=int, default=0, help="the endpoints' port (0: a free one)")
    p.add_argument("--profile", default="", help="write the agent's cProfile stats here")
    args = p.parse_args(argv)
    args.port = args.port or free_port()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
