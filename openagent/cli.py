"""Command line: ``openagent run | check | scrape | targets | version``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from openagent import __version__

#: ``--remote-write-<name>`` flags (setting ``remote_write_<name>``, ``OPENAGENT_REMOTE_WRITE_*``).
REMOTE_WRITE_FLAGS = (
    ("url", "receiver URL, e.g. http://127.0.0.1:9090/api/v1/write"),
    ("timeout", "timeout of one request (default 30s)"),
    ("max-samples", "samples per request (default 10000)"),
    ("max-bytes", "uncompressed bytes per request (default 4MiB)"),
    ("batch-delay", "longest time a partial request waits (default 1s)"),
    ("username", "basic auth user name"),
    ("password-file", "file with the basic auth password"),
    ("bearer-token-file", "file with a bearer token"),
    ("ca-file", "CA certificates that verify the receiver (PEM)"),
    ("cert-file", "client certificate (PEM)"),
    ("key-file", "client key (PEM)"),
    ("server-name", "server name to verify in the receiver's certificate"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openagent", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", help="scrape_config.yaml (env OPENAGENT_CONFIG)")
    run.add_argument(
        "--sink",
        action="append",
        dest="sinks",
        help="jsonl or remote-write (repeat for several sinks; env OPENAGENT_SINKS, "
        "comma-separated)",
    )
    for flag, text in REMOTE_WRITE_FLAGS:
        run.add_argument(f"--remote-write-{flag}", help=text)
    run.add_argument(
        "--remote-write-insecure-skip-verify",
        action="store_const",
        const=True,
        help="do not verify the receiver's certificate",
    )
    run.add_argument("--jsonl-path", help="file for the jsonl sink, - for stdout")
    run.add_argument("--listen", help="HTTP listen address host:port (env OPENAGENT_LISTEN)")
    run.add_argument("--log-level", help="debug, info, warning, error")
    run.add_argument("--log-format", choices=["auto", "json", "console"])

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
        **{k: v for k, v in vars(args).items() if k.startswith("remote_write_")},
    )


if __name__ == "__main__":
    sys.exit(main())
