"""The collector emulator's command line: ``python -m benchmarks.whatap_collector``.

Listens on loopback until SIGINT/SIGTERM, prints session events and, with
``--summary``, one line of totals every few seconds (connections, packs,
records and their rate, distinct series, native histograms, help, last
ONAME); ``--jsonl`` appends everything that arrived (see
`benchmarks.whatap_received`). SIGUSR1 freezes the emulator (it stops reading,
`Collector.freeze`), SIGUSR2 resumes it; SIGKILL is a real crash (the kernel
resets connections with unread data).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.fleet import check_loopback
from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from openagent.sinks.whatap.license import parse_license


async def _print_summaries(collector: Collector, every: float) -> None:
    received = collector.received
    last_count, last_t = received.record_count, time.monotonic()
    while True:
        await asyncio.sleep(every)
        now = time.monotonic()
        rate = (received.record_count - last_count) / max(now - last_t, 1e-9)
        last_count, last_t = received.record_count, now
        print(f"[collector] {received.summary(collector.live, rate)}", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.whatap_collector",
        description="Emulate the Whatap collector on loopback until SIGINT/SIGTERM.",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument("--port", type=int, default=6600, help="port (default 6600; 0: any)")
    p.add_argument(
        "--license",
        action="append",
        dest="licenses",
        help="accept this license (repeatable; default: the protocol's fake test license)",
    )
    p.add_argument("--cypher-level", type=int, choices=[0, 128], default=128)
    p.add_argument(
        "--jsonl", type=Path, help="append records, histograms, help, events and sessions here"
    )
    p.add_argument("--summary", action="store_true", help="print a summary line periodically")
    p.add_argument("--summary-interval", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--ready-file", type=Path, help='write {"pid", "host", "port"} once listening')
    p.add_argument("--quiet", action="store_true", help="do not print session events")
    return p


async def _main(args: argparse.Namespace) -> None:
    def show(line: str) -> None:
        print(f"[collector] {line}", flush=True)

    collector = Collector(
        licenses=args.licenses or (FAKE_LICENSE,),
        host=args.host,
        port=args.port,
        cypher_level=args.cypher_level,
        jsonl=args.jsonl,
        keep_records=False,
        on_event=None if args.quiet else show,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def freeze() -> None:
        collector.freeze()
        show("frozen: reading nothing until SIGUSR2")

    def resume() -> None:
        collector.resume()
        show("resumed")

    loop.add_signal_handler(signal.SIGUSR1, freeze)
    loop.add_signal_handler(signal.SIGUSR2, resume)
    async with collector:
        show(f"listening on {args.host}:{collector.port}, pcodes {sorted(collector.projects)}")
        if args.ready_file is not None:
            tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
            doc = {"pid": os.getpid(), "host": args.host, "port": collector.port}
            tmp.write_text(json.dumps(doc) + "\n")
            tmp.replace(args.ready_file)
        printer = None
        if args.summary:
            printer = asyncio.create_task(_print_summaries(collector, args.summary_interval))
        await stop.wait()
        if printer is not None:
            printer.cancel()
        collector.drain_timeout = 2.0
    show("stopped | " + collector.received.summary(0, 0.0))


def run(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_loopback(args.host)
        for lic in args.licenses or ():
            parse_license(lic)
    except ValueError as exc:
        parser.error(str(exc))
    if args.summary_interval <= 0:
        parser.error("--summary-interval must be positive")
    try:
        asyncio.run(_main(args))
    except OSError as exc:
        print(f"collector: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
