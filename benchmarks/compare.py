"""The performance report: vmagent, Prometheus (agent mode) and openagent variants, side by side.

For each fleet size the harness starts a synthetic dcgm-exporter fleet
(:mod:`benchmarks.fleet`) and runs every tool alone against it, one after
another, with a remote-write receiver in this process (and, for Whatap
variants, the collector emulator in a process of its own), all on 127.0.0.1.
It writes ``results.md``, ``results.json``, ``cpu_per_sample.png`` and
``rss.png`` to ``--out``.

    python -m benchmarks.compare --nodes 100,300,1000,2000 --whatap
    python -m benchmarks.compare --nodes 20 --tools openagent --warmup 5 --window 15
    python -m benchmarks.compare --plot-only

See benchmarks/README.md for every flag and what each column means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.compare_report import plot, render_markdown, write_report
from benchmarks.compare_run import CollectorProcess, Result, Timing, free_port, measure
from benchmarks.compare_stats import bytes_per_series
from benchmarks.compare_tools import (
    DEFAULT_AGENT,
    DEFAULT_WHATAP_AGENT,
    GO_TOOLS,
    REPO,
    Tool,
    launch,
    parse_agent,
    tool_version,
)
from benchmarks.fleet import Fleet
from benchmarks.rw_receiver import Receiver

DEFAULT_SIZES = "100,300,1000,2000"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_sizes(text: str) -> list[int]:
    """``100,300`` -> [100, 300]; ValueError for anything but positive integers."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--nodes: expected a comma list of node counts, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--nodes: node counts must be >= 1, got {text!r}")
    return sorted(set(sizes))


def select_tools(args: argparse.Namespace) -> list[Tool]:
    """The tools to run, in order; ValueError for a bad variant or an unknown name."""
    default = Tool("openagent", "openagent", DEFAULT_AGENT)
    variants = [parse_agent(a) for a in args.agent] or [default]
    whatap = [parse_agent(a, sink="whatap") for a in args.whatap_agent]
    if args.whatap:
        whatap.append(Tool("openagent-whatap", "openagent", DEFAULT_WHATAP_AGENT, "whatap"))
    known = {t: Tool(t, t) for t in GO_TOOLS}
    for tool in variants + whatap:
        if tool.name in known:
            raise ValueError(f"variant name {tool.name!r} is given twice")
        known[tool.name] = tool
    names = [n.strip() for n in args.tools.split(",") if n.strip()] if args.tools else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--tools: unknown {unknown} (known: {', '.join(known)})")
    return [known[n] for n in dict.fromkeys(names)]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = p.add_argument
    add("--nodes", default=DEFAULT_SIZES, help=f"fleet sizes, comma list ({DEFAULT_SIZES})")
    add(
        "--baseline-nodes",
        type=int,
        default=1,
        help="the size whose RSS is each tool's baseline for bytes per series; run first "
        "unless listed in --nodes (default 1; 0: none)",
    )
    add(
        "--tools",
        help="comma list of vmagent, prometheus and variant names, run in that order "
        "(default: vmagent, prometheus, then every variant)",
    )
    add(
        "--agent",
        action="append",
        default=[],
        metavar="NAME=TEMPLATE",
        help=f"an openagent variant (repeatable; default: openagent={DEFAULT_AGENT})",
    )
    add(
        "--whatap",
        action="store_true",
        help="add the variant openagent-whatap: --sink whatap to the collector emulator",
    )
    add(
        "--whatap-agent",
        action="append",
        default=[],
        metavar="NAME=TEMPLATE",
        help="an openagent variant that sends to the collector emulator (repeatable)",
    )
    add("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    add("--families", type=int, default=40, help="metric families (default 40)")
    add("--pods-per-gpu", type=int, default=0, help="time-sliced pods per GPU (default 0)")
    add("--ip-per-node", action="store_true", help="one loopback IP per node, port 9400")
    add("--update-interval", type=float, default=15.0, help="fleet refresh seconds (15)")
    add("--interval", default="15s", help="scrape interval of every tool (15s)")
    add("--warmup", type=float, default=20.0, help="seconds before measuring (20)")
    add("--window", type=float, default=60.0, help="seconds measured (60)")
    add(
        "--decode-max",
        type=int,
        default=1000,
        help="remote-write bodies decoded per window at most; a uniform sample of them "
        "when more arrive (1000)",
    )
    add("--vmagent", default="vmagent", help="vmagent binary")
    add("--prometheus", default="prometheus", help="prometheus binary")
    add(
        "--workdir",
        type=Path,
        default=Path(".bench/compare"),
        help="configs and logs, emptied first (default .bench/compare)",
    )
    add("--out", type=Path, default=DEFAULT_OUT, help="the report's folder (benchmarks/results)")
    add("--json", type=Path, help="also write results.json here")
    add("--plot-only", action="store_true", help="redraw the PNGs from --out/results.json")
    return p


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def _checkout() -> str:
    """This checkout's commit, ``+changes`` when the work tree differs from it: variants that
    print the same version are told apart by the code they run."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head}{' +changes' if dirty else ''} in {REPO}"


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model or platform.machine()}), {mem:.0f} GiB, " + (
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def describe(args: argparse.Namespace, tools: list[Tool], sizes: list[int]) -> dict[str, Any]:
    """The report's header facts: date, machine, workload, tool versions and commands."""
    pods = max(1, args.pods_per_gpu)
    shape = f"{args.gpus} GPUs × {args.families} families" + (
        f" × {args.pods_per_gpu} pods" if args.pods_per_gpu else ""
    )
    commands = {"vmagent": args.vmagent, "prometheus": f"{args.prometheus} --enable-feature=agent"}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "checkout": _checkout(),
        "sizes": sizes,
        "baseline_nodes": args.baseline_nodes or None,
        "decode_max": args.decode_max,
        "workload": {
            "per_scrape": args.gpus * args.families * pods,
            "shape": shape,
            "interval": args.interval,
            "update_interval": args.update_interval,
            "warmup": args.warmup,
            "window": args.window,
        },
        "tools": {
            t.name: {
                "version": tool_version(t, args),
                "command": t.template or commands[t.name],
                "sink": t.sink if t.is_openagent else "remote_write",
            }
            for t in tools
        },
    }


async def _run_tool(
    tool: Tool, args: argparse.Namespace, fleet: Fleet, receiver: Receiver, work: Path
) -> Result:
    start = launch(
        tool,
        fleet=fleet,
        interval=args.interval,
        rw_url=receiver.url,
        work=work,
        listen=f"127.0.0.1:{free_port()}",
        bins=args,
    )
    timing = Timing(args.warmup, args.window)
    if tool.sink != "whatap":
        return await measure(tool, start, timing, fleet, receiver, work)
    collector = CollectorProcess(work, f"{tool.name}-{len(fleet.nodes)}")
    try:
        await collector.start()
    except RuntimeError as exc:
        await collector.stop()
        series = len(fleet.nodes) * fleet.payload(0).samples
        return Result(tool.name, len(fleet.nodes), series, error=str(exc))
    start.env |= collector.env()
    try:
        result = await measure(tool, start, timing, fleet, receiver, work)
    finally:
        records = await collector.stop()
    if not result.error and not records:
        result.error = "the collector emulator received no records"
    return result


async def _run_size(
    nodes: int, tools: list[Tool], args: argparse.Namespace, receiver: Receiver, work: Path
) -> list[Result]:
    fleet = Fleet(
        nodes,
        gpus=args.gpus,
        families=args.families,
        pods_per_gpu=args.pods_per_gpu,
        ip_per_node=args.ip_per_node,
        node_port=9400 if args.ip_per_node else 0,
        update_interval=args.update_interval,
    )
    results = []
    async with fleet:
        for tool in tools:
            print(f"{nodes} nodes: running {tool.name} ...", file=sys.stderr, flush=True)
            results.append(await _run_tool(tool, args, fleet, receiver, work))
    return results


def fill_bytes_per_series(results: list[Result], baseline_nodes: int) -> None:
    """Set each result's bytes per series against the same tool's baseline-size result."""
    base = {r.tool: r for r in results if r.nodes == baseline_nodes and not r.error}
    for r in results:
        b = base.get(r.tool)
        if r.error or b is None or r is b:
            continue
        r.bytes_per_series = bytes_per_series(
            r.rss_avg_mb * 2**20, r.series, b.rss_avg_mb * 2**20, b.series
        )


async def run(args: argparse.Namespace, tools: list[Tool], sizes: list[int]) -> list[Result]:
    """Measure every tool at every size (the baseline size first); fill bytes per series."""
    work = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    base = [args.baseline_nodes] if args.baseline_nodes else []
    runs = base + [n for n in sizes if n not in base]
    receiver = Receiver(keep=args.decode_max)
    await receiver.start()
    results: list[Result] = []
    try:
        for nodes in runs:
            results += await _run_size(nodes, tools, args, receiver, work)
    finally:
        await receiver.stop()
    fill_bytes_per_series(results, args.baseline_nodes)
    return results


def _check(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[list[Tool], list[int]]:
    try:
        tools, sizes = select_tools(args), parse_sizes(args.nodes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.window <= 0 or args.warmup < 0 or args.baseline_nodes < 0 or args.decode_max < 0:
        parser.error("need --window > 0, --warmup >= 0, --baseline-nodes >= 0, --decode-max >= 0")
    return tools, sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit 1 when a tool failed."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.plot_only:
        if not (args.out / "results.json").is_file():
            parser.error(f"--plot-only: there is no {args.out / 'results.json'} to draw from")
        for path in plot(args.out):
            print(path)
        return 0
    tools, sizes = _check(args, parser)
    meta = describe(args, tools, sizes)
    results = asyncio.run(run(args, tools, sizes))
    paths = write_report(args.out, meta, results)
    print(render_markdown(meta, results))
    if args.json:
        args.json.write_text((args.out / "results.json").read_text())
    for r in results:
        if r.error:
            print(f"\n{r.tool} at {r.nodes} nodes failed: {r.error}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
