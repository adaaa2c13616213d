"""Side-by-side runs of vmagent, Prometheus in agent mode and openagent on one synthetic fleet.

The fleet (:mod:`benchmarks.fleet`) and a remote-write sink that accepts and
discards every POST run in this process on 127.0.0.1. Each tool then runs alone,
as a child process, against the same targets: after ``--warmup`` seconds the
harness measures for ``--window`` seconds the CPU time of the tool's process
tree (utime + stime of it and its children, from /proc), its resident memory
(sampled twice a second: peak and average) and the scrapes the fleet served.
CPU per sample is CPU time divided by the samples in the scrapes served.

    python -m benchmarks.vmagent_compare --nodes 100 --interval 15s --window 60
    python -m benchmarks.vmagent_compare --tools vmagent --nodes 20 --window 30

See benchmarks/README.md for every flag and the latest numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from benchmarks.fleet import Fleet

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_AGENT = (
    "openagent run --config {config} --sink remote_write --remote-write-url {rw}"
    " --listen {listen} --log-level warning"
)


@dataclass
class Result:
    """What one tool cost over the measured window."""

    tool: str
    scrapes: int
    samples: int
    cpu_s: float
    rss_avg_mb: float
    rss_peak_mb: float
    rw_requests: int
    rw_bytes: int
    window_s: float
    error: str = ""

    @property
    def us_per_sample(self) -> float:
        """CPU microseconds per scraped sample."""
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


class Sink:
    """A remote-write receiver on loopback that counts and discards what it gets."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _accept(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.bytes += len(await request.read())
        return web.Response(status=204)

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/{tail:.*}", self._accept)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/api/v1/write"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()


def targets(fleet: Fleet) -> list[str]:
    """host:port of every node."""
    return [f"{n.host}:{n.port}" for n in fleet.nodes]


def prometheus_config(fleet: Fleet, interval: str, rw_url: str | None) -> dict[str, Any]:
    """A Prometheus-style scrape config (vmagent and Prometheus read it)."""
    cfg: dict[str, Any] = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [{"job_name": "dcgm", "static_configs": [{"targets": targets(fleet)}]}],
    }
    if rw_url:
        cfg["remote_write"] = [{"url": rw_url}]
    return cfg


def openagent_config(fleet: Fleet, interval: str) -> dict[str, Any]:
    """The same targets as a Whatap-operator style StaticEndpoints config."""
    endpoints = [{"address": t, "path": "/metrics", "interval": interval} for t in targets(fleet)]
    target = {"targetName": "dcgm", "type": "StaticEndpoints", "enabled": True}
    return {
        "features": {"openAgent": {"enabled": True, "targets": [target | {"endpoints": endpoints}]}}
    }


def command(tool: str, args: argparse.Namespace, fleet: Fleet, sink: Sink, work: Path) -> list[str]:
    """The command line of ``tool``, with its config written into ``work``."""
    listen = f"127.0.0.1:{free_port()}"
    if tool == "vmagent":
        cfg = work / "vmagent.yml"
        cfg.write_text(yaml.safe_dump(prometheus_config(fleet, args.interval, None)))
        return [
            args.vmagent,
            f"-promscrape.config={cfg}",
            f"-remoteWrite.url={sink.url}",
            f"-remoteWrite.tmpDataPath={work / 'vmagent-data'}",
            f"-httpListenAddr={listen}",
            "-loggerLevel=WARN",
        ]
    if tool == "prometheus":
        cfg = work / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(prometheus_config(fleet, args.interval, sink.url)))
        return [
            args.prometheus,
            "--enable-feature=agent",
            f"--config.file={cfg}",
            f"--storage.agent.path={work / 'prometheus-data'}",
            f"--web.listen-address={listen}",
            "--log.level=warn",
        ]
    cfg = work / "openagent.yaml"
    cfg.write_text(yaml.safe_dump(openagent_config(fleet, args.interval), sort_keys=False))
    text = args.agent_cmd.format(
        config=cfg, listen=listen, port=listen.rsplit(":", 1)[1], rw=sink.url
    )
    return shlex.split(text)


async def measure(
    tool: str, cmd: list[str], args: argparse.Namespace, fleet: Fleet, sink: Sink, work: Path
) -> Result:
    """Run ``cmd``, warm up, then measure one window; always stops the process."""
    log = (work / f"{tool}.log").open("wb")
    exe = shutil.which(cmd[0]) or shutil.which(cmd[0], path=str(Path(sys.executable).parent))
    try:
        proc = await asyncio.create_subprocess_exec(
            exe or cmd[0], *cmd[1:], stdout=log, stderr=subprocess.STDOUT, cwd=work
        )
    except OSError as exc:
        log.close()
        return Result(tool, 0, 0, 0.0, 0.0, 0.0, 0, 0, 0.0, error=f"cannot start {cmd[0]}: {exc}")
    per_scrape = fleet.payload(0).samples
    try:
        await asyncio.sleep(args.warmup)
        if proc.returncode is not None:
            raise RuntimeError(f"exited with {proc.returncode} during warm-up")
        cpu0, _ = tree_usage(proc.pid)
        scrapes0, rw0, rwb0 = fleet.total_scrapes(), sink.requests, sink.bytes
        t0 = time.monotonic()
        rss: list[int] = []
        while time.monotonic() - t0 < args.window:
            await asyncio.sleep(0.5)
            if proc.returncode is not None:
                raise RuntimeError(f"exited with {proc.returncode} during the window")
            rss.append(tree_usage(proc.pid)[1])
        cpu1, _ = tree_usage(proc.pid)
        window = time.monotonic() - t0
        scrapes = fleet.total_scrapes() - scrapes0
        return Result(
            tool,
            scrapes,
            scrapes * per_scrape,
            cpu1 - cpu0,
            sum(rss) / len(rss) / 2**20,
            max(rss) / 2**20,
            sink.requests - rw0,
            sink.bytes - rwb0,
            window,
        )
    except RuntimeError as exc:
        tail = (work / f"{tool}.log").read_text(errors="replace")[-2000:]
        return Result(tool, 0, 0, 0.0, 0.0, 0.0, 0, 0, 0.0, error=f"{exc}\n{tail}")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


def report(results: list[Result], args: argparse.Namespace, per_scrape: int) -> str:
    """The results as a plain-text table, with ratios against vmagent."""
    head = (
        f"workload: {args.nodes} nodes x {per_scrape} samples, scrape every {args.interval}, "
        f"{args.window:g} s window after {args.warmup:g} s warm-up, {os.cpu_count()} cores"
    )
    cols = (
        "tool        scrapes   samples   cpu_s  core%  us/sample  rss_avg_MB  rss_peak_MB  rw_req"
    )
    lines = [head, cols]
    for r in results:
        if r.error:
            lines.append(f"{r.tool:<10}  FAILED: {r.error.strip().splitlines()[0]}")
            continue
        lines.append(
            f"{r.tool:<10} {r.scrapes:>8} {r.samples:>9} {r.cpu_s:>7.2f} "
            f"{100 * r.cpu_s / r.window_s:>5.1f}% {r.us_per_sample:>10.2f} "
            f"{r.rss_avg_mb:>11.1f} {r.rss_peak_mb:>12.1f} {r.rw_requests:>7}"
        )
    base = next((r for r in results if r.tool == "vmagent" and not r.error), None)
    for r in results:
        if base is None or r is base or r.error:
            continue
        lines.append(
            f"{r.tool}/vmagent: cpu per sample {r.us_per_sample / base.us_per_sample:.2f}x, "
            f"rss avg {r.rss_avg_mb / base.rss_avg_mb:.2f}x, "
            f"rss peak {r.rss_peak_mb / base.rss_peak_mb:.2f}x"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vmagent_compare", description=__doc__)
    p.add_argument(
        "--tools", default="vmagent,agent", help="comma list of vmagent, prometheus, agent"
    )
    p.add_argument("--nodes", type=int, default=100, help="fleet nodes (default 100)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--families", type=int, default=40, help="metric families (default 40)")
    p.add_argument("--pods-per-gpu", type=int, default=0, help="time-sliced pods per GPU")
    p.add_argument("--ip-per-node", action="store_true", help="one loopback IP per node")
    p.add_argument("--update-interval", type=float, default=15.0, help="fleet refresh seconds")
    p.add_argument("--interval", default="15s", help="scrape interval (default 15s)")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    p.add_argument("--window", type=float, default=60.0, help="seconds measured")
    p.add_argument("--agent-cmd", default=DEFAULT_AGENT, help="agent command template")
    p.add_argument("--vmagent", default="vmagent", help="vmagent binary")
    p.add_argument("--prometheus", default="prometheus", help="prometheus binary")
    p.add_argument("--workdir", type=Path, default=Path(".bench/vmagent_compare"))
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    return p


async def run(args: argparse.Namespace) -> list[Result]:
    """Start fleet and sink, measure each tool in turn, stop everything."""
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    work = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fleet = Fleet(
        args.nodes,
        gpus=args.gpus,
        families=args.families,
        pods_per_gpu=args.pods_per_gpu,
        ip_per_node=args.ip_per_node,
        node_port=9400 if args.ip_per_node else 0,
        update_interval=args.update_interval,
    )
    sink = Sink()
    results = []
    async with fleet:
        await sink.start()
        try:
            for tool in tools:
                print(f"running {tool} ...", file=sys.stderr, flush=True)
                cmd = command(tool, args, fleet, sink, work)
                results.append(await measure(tool, cmd, args, fleet, sink, work))
        finally:
            await sink.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 1 when a tool failed."""
    parser = _parser()
    args = parser.parse_args(argv)
    bad = set(args.tools.split(",")) - {"vmagent", "prometheus", "agent"}
    if bad:
        parser.error(f"--tools: unknown {sorted(bad)} (known: vmagent, prometheus, agent)")
    if args.nodes < 1 or args.window <= 0 or args.warmup < 0:
        parser.error("need --nodes >= 1, --window > 0 and --warmup >= 0")
    results = asyncio.run(run(args))
    per_scrape = args.families * args.gpus * max(1, args.pods_per_gpu)
    print(report(results, args, per_scrape))
    for r in results:
        if r.error:
            print(f"\n{r.tool} failed: {r.error}", file=sys.stderr)
    if args.json:
        doc = [asdict(r) | {"us_per_sample": r.us_per_sample} for r in results]
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
