"""Command line: ``openagent run | check | scrape | targets | version``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from openagent import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openagent", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", help="scrape_config.yaml (env OPENAGENT_CONFIG)")
    run.add_argument(
        "--sink",
        action="append",
        dest="sinks",
        help="jsonl (repeat for several sinks; env OPENAGENT_SINKS, comma-separated)",
    )
    run.add_argument("--jsonl-path", help="file for the jsonl sink, - for stdout")
    run.add_argument("--listen", help="HTTP listen address host:port (env OPENAGENT_LISTEN)")
    run.add_argument("--log-level", help="debug, info, warning, error")
    run.add_argument("--log-format", choices=["auto", "json", "console"])
    run.add_argument(
        "--spool-dir", help="keep undelivered batches here (one subdirectory per sink)"
    )
    run.add_argument("--spool-max-bytes", help="cap of each sink's spool, e.g. 1GiB")
    run.add_argument(
        "--spool-fsync",
        choices=["always", "interval", "never"],
        help="when spooled data is flushed to disk (default interval: every second)",
    )
    run.add_argument(
        "--memory-queue-bytes", help="memory queue per sink before spilling, e.g. 64MiB"
    )
    run.add_argument("--drain-grace", help="on shutdown, keep delivering this long, e.g. 10s")
    run.add_argument(
        "--retry-max-backoff", help="longest wait between retries of a batch, e.g. 30s"
    )

    check = sub.add_parser("check", help="validate a config file; exit 2 if invalid")
    check.add_argument("--config", required=True)

    scrape = sub.add_parser("scrape", help="scrape a URL once and print what would be sent")
    scrape.add_argument("url")
    scrape.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
    scrape.add_argument("--config", help="take endpoint settings and rules from this config")
    scrape.add_argument("--target", help="targetName in --config whose settings to use")

    targets = sub.add_parser("targets", help="list the targets a config yields")
    targets.add_argument("--config", required=True)

    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openagent`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"openagent {__version__}")
        return 0
    if args.command == "check":
        from openagent.commands import check

        return check(args.config)
    if args.command == "scrape":
        from openagent.commands import scrape

        return asyncio.run(scrape(args.url, args.format, args.config, args.target))
    if args.command == "targets":
        from openagent.commands import targets

        return targets(args.config)
    from openagent.commands import run

    return run(
        config=args.config,
        sinks=args.sinks,
        jsonl_path=args.jsonl_path,
        listen=args.listen,
        log_level=args.log_level,
        log_format=args.log_format,
        spool_dir=args.spool_dir,
        spool_max_bytes=args.spool_max_bytes,
        spool_fsync=args.spool_fsync,
        memory_queue_bytes=args.memory_queue_bytes,
        drain_grace=args.drain_grace,
        retry_max_backoff=args.retry_max_backoff,
    )


if __name__ == "__main__":
    sys.exit(main())
