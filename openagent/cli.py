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

    run = sub.add_parser(
        "run",
        help="run the agent",
        description="Run the agent. Every flag has an environment variable "
        "(OPENAGENT_<NAME>; the Whatap credentials only come from WHATAP_LICENSE, "
        "WHATAP_HOST and WHATAP_PORT); flags win.",
    )
    _add_settings_flags(run)

    check = sub.add_parser("check", help="validate a config file; exit 2 if invalid")
    check.add_argument("--config", required=True)

    scrape = sub.add_parser("scrape", help="scrape a URL once and print what would be sent")
    scrape.add_argument("url")
    scrape.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
    scrape.add_argument("--config", help="take endpoint settings and rules from this config")
    scrape.add_argument("--target", help="targetName in --config whose settings to use")

    targets = sub.add_parser("targets", help="list the targets a config yields")
    targets.add_argument("--config", required=True)
    targets.add_argument(
        "--kubeconfig", help="kubeconfig for PodMonitor/ServiceMonitor targets (env KUBECONFIG)"
    )
    targets.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the cluster (10)"
    )

    sub.add_parser("version", help="print the version")
    return p


#: How Whatap's Go agent is started (``foreground``, ``standalone``, ``-d`` or nothing,
#: as the operator's Deployment does); each means ``run`` with settings from the env,
#: and in a cluster (not ``standalone``) the config from the operator's ConfigMap.
GO_AGENT_MODES = frozenset({"foreground", "standalone", "-d"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openagent`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in GO_AGENT_MODES:
        from openagent.settings import go_agent_config_map

        config_map = go_agent_config_map(argv)
        argv = ["run", *(["--config-map", config_map] if config_map else [])]
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

        return targets(args.config, args.kubeconfig, args.timeout)
    from openagent.commands import run

    overrides = {k: v for k, v in vars(args).items() if k not in ("command",)}
    return run(**overrides)


#: Settings that have no flag: credentials and what the downward API provides.
_ENV_ONLY = frozenset(
    {"license", "host", "port", "pod_name", "node_name", "node_ip", "pod_namespace"}
)


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per process setting, named after it (``sample_limit`` → ``--sample-limit``)."""
    from openagent.settings import Settings
    from openagent.settings_help import HELP

    for name, field in Settings.model_fields.items():
        if name in _ENV_ONLY:
            continue
        doc = HELP.get(name, "")
        if name == "sinks":
            parser.add_argument(
                "--sink",
                action="append",
                dest="sinks",
                help="a sink to send to (repeat for several): jsonl, whatap, remote_write",
            )
            continue
        default = field.default
        hint = f"default {default}" if default not in (None, [], ()) else "no default"
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:  # --node-local / --no-node-local
            parser.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{doc} ({hint})",
            )
            continue
        parser.add_argument(flag, dest=name, help=f"{doc} ({hint})".strip())


if __name__ == "__main__":
    sys.exit(main())
