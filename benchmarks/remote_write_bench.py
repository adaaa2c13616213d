"""Remote-write cost: encode+compress per sample, and end-to-end throughput into receivers.

Run: ``python -m benchmarks.remote_write_bench [--nodes N] [--interval S] [--window S]``.

* encode: dcgm-exporter bodies (:mod:`benchmarks.dcgm_payload`) are parsed
  once by the real parser into `Series` (as the scrape loop does, with
  ``job``/``instance`` attached); then `RemoteWriteSink.encode` + ``flush``
  (protobuf with cached labels, snappy block compression) is timed per
  sample, pinned to one core. Figures are medians of ``--runs`` runs (and
  the best run's total, the least disturbed by other work on the machine).
* end to end: a fleet of ``--nodes`` synthetic nodes (in this process, on
  loopback) is scraped every ``--interval`` by ``openagent run --sink
  remote-write`` (a child process, one event loop: one core), which writes
  to a real Prometheus 2.42 or VictoriaMetrics (another child; see
  ``--receivers``). Over ``--window`` seconds after ``--warmup`` the
  harness counts the samples the fleet served (scraped), the samples the
  receiver took in over the same window (its own counter: Prometheus's
  ``prometheus_tsdb_head_samples_appended_total{type="float"}``, VictoriaMetrics's
  ``vm_rows_inserted_total{type="promremotewrite"}``; nothing else writes to
  them; in steady state the two counts differ by the samples in flight at
  either end), and the CPU seconds of the agent and of the receiver (from
  /proc). ``--baseline`` also runs the agent with the jsonl sink to
  /dev/null, so the sink's share of the agent's CPU shows.

Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.common import pin_one_core
from benchmarks.compare_run import free_port, tree_usage
from benchmarks.compare_tools import openagent_config
from benchmarks.dcgm_payload import NodeShape, Payload
from benchmarks.fleet import Fleet
from openagent.exposition import Parser
from openagent.model import SERIES_SLOTS, Labels, ScrapeResult, Series
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.peers import PrometheusServer, VictoriaMetricsServer, _Server

TARGET: Labels = (("job", "dcgm"), ("instance", "10.0.3.17:9400"))
NOW_MS = int(time.time() * 1000)


# -- encode + compress ----------------------------------------------------------


def _results(shape: NodeShape, targets: int) -> list[ScrapeResult]:
    """One parsed scrape per target, each target with its own series."""
    payload = Payload(shape)
    out = []
    for t in range(targets):
        labels = (("job", "dcgm"), ("instance", f"10.0.3.{t}:9400"))
        parser = Parser(lambda name, exposed, labels=labels: Series(name, exposed + labels))
        parsed = parser.parse(payload.render(t).decode(), openmetrics=False, default_ts_ms=0)
        out.append(
            ScrapeResult(
                f"t{t}",
                "dcgm",
                labels[1][1],
                "http://x/metrics",
                NOW_MS,
                series=parsed.series,
                values=parsed.values,
            )
        )
    return out


def bench_encode(shape: NodeShape, targets: int, runs: int, min_time: float) -> str:
    """One table row: µs per sample for encode, compress and both, and bytes per sample."""
    results = _results(shape, targets)
    samples = sum(len(r.series) for r in results)
    sink = RemoteWriteSink(
        RemoteWriteOptions("http://127.0.0.1:9/api/v1/write", max_samples=10_000_000)
    )
    sink.use_series_slot(SERIES_SLOTS[0])  # as the delivery layer hands it out
    for r in results:  # first pass fills the label caches, as the first scrape does
        sink.encode(r)
    sink.flush()
    enc, total = [], []
    raw_bytes = wire_bytes = 0
    for _ in range(runs):
        n, t_enc, t_all = 0, 0.0, 0.0
        while t_all < min_time:
            t0 = time.perf_counter()
            for r in results:
                sink.encode(r)
            builder = sink._builder
            t1 = time.perf_counter()
            (batch,) = sink.flush()
            t2 = time.perf_counter()
            t_enc += t1 - t0
            t_all += t2 - t0
            n += samples
            raw_bytes, wire_bytes = len(builder.buf), len(batch.payload)
        enc.append(t_enc / n * 1e6)
        total.append(t_all / n * 1e6)
    e, a = statistics.median(enc), statistics.median(total)
    return (
        f"| {targets} x {samples // targets} | {e:6.3f} | {a - e:6.3f} | {a:6.3f} "
        f"| {min(total):6.3f} | {1e6 / a:12,.0f} | {raw_bytes / samples:6.1f} "
        f"| {wire_bytes / samples:5.1f} |"
    )


# -- end to end -----------------------------------------------------------------


@dataclass
class Run:
    """One measured window."""

    sink: str
    receiver: str
    window: float
    scraped: int
    delivered: int
    agent_cpu: float
    prom_cpu: float
    rss_mb: float


#: The receiver's own counter of samples taken in over remote write.
COUNTERS = {
    "prometheus": 'prometheus_tsdb_head_samples_appended_total{type="float"}',
    "victoria-metrics": 'vm_rows_inserted_total{type="promremotewrite"}',
}


def _appended(server: _Server) -> int:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == COUNTERS[server.name]:
                return int(float(value))
    return 0


def _pid_of(server: _Server) -> int:
    proc = server._proc
    assert proc is not None
    return proc.pid


async def measure(
    sink: str, fleet: Fleet, prom: _Server, args: argparse.Namespace, work: Path
) -> Run:
    """Run the agent with ``sink`` for warm-up + window; return what it did."""
    cfg = work / "openagent.yaml"
    cfg.write_text(yaml.safe_dump(openagent_config(fleet, args.interval), sort_keys=False))
    cmd = f"{sys.executable} -m openagent run --config {cfg} --listen 127.0.0.1:{free_port()} "
    if sink == "remote_write":
        cmd += f"--sink remote-write --remote-write-url {prom.url}/api/v1/write"
    else:
        cmd += "--sink jsonl --jsonl-path /dev/null"
    log = (work / f"agent-{sink}.log").open("wb")
    argv = shlex.split(cmd)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONPATH": "."}
    )
    per_scrape = fleet.payload(0).samples + 5
    try:
        await asyncio.sleep(args.warmup)
        if proc.returncode is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}; see {log.name}")
        cpu0, _ = tree_usage(proc.pid)
        pcpu0, _ = tree_usage(_pid_of(prom))
        app0, scr0 = _appended(prom), fleet.total_scrapes()
        t0 = time.monotonic()
        rss = []
        while time.monotonic() - t0 < args.window:
            await asyncio.sleep(0.5)
            rss.append(tree_usage(proc.pid)[1])
        cpu1, _ = tree_usage(proc.pid)
        pcpu1, _ = tree_usage(_pid_of(prom))
        scraped = (fleet.total_scrapes() - scr0) * per_scrape
        window = time.monotonic() - t0
        delivered = _appended(prom) - app0 if sink == "remote_write" else 0
        return Run(
            sink,
            prom.name if sink == "remote_write" else "/dev/null",
            window,
            scraped,
            delivered,
            cpu1 - cpu0,
            pcpu1 - pcpu0,
            max(rss) / 2**20,
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def end_to_end(args: argparse.Namespace) -> list[Run]:
    """The fleet, then one run per receiver (and the jsonl baseline)."""
    runs = []
    fleet = Fleet(
        args.nodes, gpus=args.gpus, families=args.families, update_interval=args.update_interval
    )
    servers = {"prometheus": PrometheusServer, "victoria-metrics": VictoriaMetricsServer}
    with tempfile.TemporaryDirectory(prefix="rw-bench-") as tmp:
        async with fleet:
            for name in args.receivers.split(","):
                with servers[name]() as server:
                    print(f"running the agent into {name} ...", file=sys.stderr, flush=True)
                    runs.append(await measure("remote_write", fleet, server, args, Path(tmp)))
                    if args.baseline and not any(r.sink == "jsonl" for r in runs):
                        print("running the agent with jsonl ...", file=sys.stderr, flush=True)
                        runs.append(await measure("jsonl", fleet, server, args, Path(tmp)))
    return runs


def report(runs: list[Run], args: argparse.Namespace) -> list[str]:
    """Table rows for the end-to-end runs."""
    rows = [
        f"workload: {args.nodes} nodes x {args.gpus * args.families} samples (+5 report series), "
        f"every {args.interval:g}s; {args.window:g}s window after {args.warmup:g}s warm-up",
        "",
        "| sink → receiver | scraped/s | delivered/s | delivered/scraped | agent core % "
        "| agent µs/sample | receiver core % | agent RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        ratio = f"{r.delivered / r.scraped:.3f}" if r.delivered else "-"
        rows.append(
            f"| {r.sink} → {r.receiver} | {r.scraped / r.window:,.0f} "
            f"| {r.delivered / r.window:,.0f} | {ratio} "
            f"| {100 * r.agent_cpu / r.window:.1f} | {r.agent_cpu / r.scraped * 1e6:.2f} "
            f"| {100 * r.prom_cpu / r.window if r.delivered else 0:.1f} | {r.rss_mb:.0f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print both tables."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.remote_write_bench", description=__doc__
    )
    ap.add_argument("--runs", type=int, default=7, help="timed encode runs (median)")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds per encode run")
    ap.add_argument("--nodes", type=int, default=50, help="fleet nodes (default 50)")
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--families", type=int, default=40)
    ap.add_argument("--interval", type=float, default=1.0, help="scrape interval seconds")
    ap.add_argument("--update-interval", type=float, default=15.0, help="fleet value refresh")
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument(
        "--receivers",
        default="prometheus,victoria-metrics",
        help="comma list of prometheus, victoria-metrics",
    )
    ap.add_argument("--baseline", action="store_true", help="also run with jsonl to /dev/null")
    ap.add_argument("--encode-only", action="store_true", help="skip the end-to-end run")
    args = ap.parse_args(argv)
    if args.nodes < 1 or args.window <= 0 or args.interval <= 0:
        ap.error("need --nodes >= 1, --window > 0 and --interval > 0")
    unknown = set(args.receivers.split(",")) - set(COUNTERS)
    if unknown:
        ap.error(f"--receivers: unknown {sorted(unknown)} (known: {', '.join(COUNTERS)})")

    runs = [] if args.encode_only else asyncio.run(end_to_end(args))
    print(f"# remote-write encode + compress ({pin_one_core()}, median of {args.runs} runs)")
    print()
    print(
        "| targets x samples | encode µs/sample | compress µs/sample | total µs/sample "
        "| best total | samples/s | raw B/sample | snappy B/sample |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for targets, shape in (
        (1, NodeShape(gpus=8, families=40)),
        (30, NodeShape(gpus=8, families=40)),
        (3, NodeShape(gpus=8, families=40, pods_per_gpu=10)),
    ):
        print(bench_encode(shape, targets, args.runs, args.min_time), flush=True)
    if runs:
        print()
        print("# end to end: fleet → openagent (one process) → receiver")
        print()
        print("\n".join(report(runs, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
