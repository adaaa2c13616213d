"""Command line: ``openagent run | check | scrape | targets | rbac | version``.

The parser only parses: each command is a function of `openagent.commands`
(``run`` is `openagent.agent.run`), and every coroutine runs on one runner
(`run_coroutine`, uvloop).

How the Go agent's words and a bare ``openagent`` are read is told to the
user by ``--help`` (`HELP`): the Go agent's words keep the flags that follow
them; a bare ``openagent`` runs the agent only in a pod, next to a config
file or with the config named by the environment (`runs_bare`), and prints
the usage (exit 2) anywhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openagent import __version__

if TYPE_CHECKING:  # the config room is loaded only by the commands that read a config
    from openagent.config.limits import ConfigLimits

#: How Whatap's Go agent is started (``foreground``, ``standalone``, ``-d`` or nothing,
#: as the operator's Deployment does); each means ``run`` with settings from the env,
#: and in a cluster (not ``standalone``) the config from the operator's ConfigMap.
GO_AGENT_MODES = frozenset({"foreground", "standalone", "-d"})

#: What ``openagent --help`` says before the commands.
HELP = """\
Scrape NVIDIA dcgm-exporter endpoints and deliver the metrics to Whatap
(or to Prometheus remote write, or as JSON lines).

Start with: openagent check --config scrape_config.yaml
       then openagent run --config scrape_config.yaml

The Whatap Go agent's words run the agent too, and keep the flags that
follow them: foreground, standalone, foreground standalone and -d all mean
run. In a Kubernetes pod (not with standalone, and unless --config or
--config-map is given) the config then comes from the Whatap Operator's
ConfigMap whatap-open-agent-config.

With no arguments at all, openagent runs the agent the same way, since the
Whatap Operator may start the image with none, but only inside a Kubernetes
pod (KUBERNETES_SERVICE_HOST is set), where a config file is waiting
($WHATAP_OPEN_HOME/scrape_config.yaml, else ./scrape_config.yaml), or when
OPENAGENT_CONFIG or OPENAGENT_CONFIG_MAP names the config. Anywhere else it
prints this usage and exits 2.
"""

#: Settings that have no flag: credentials and what the downward API provides.
_ENV_ONLY = frozenset(
    {"license", "host", "port", "pod_name", "node_name", "node_ip", "pod_namespace"}
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="openagent",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"openagent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the agent",
        description="Run the agent. Every flag has an environment variable "
        "(OPENAGENT_<NAME>; the Whatap credentials only come from WHATAP_LICENSE, "
        "WHATAP_HOST and WHATAP_PORT); flags win. A file named with --config must load: "
        "if it is missing or invalid the agent exits 2. Without --config (the file from "
        "OPENAGENT_CONFIG or the default, or a ConfigMap) the agent waits for a valid config "
        "to appear, as the Whatap Operator needs. A reload that fails keeps the last good "
        "config. A listen address in use, or a jsonl file or spool directory that cannot be "
        "written, exits 1.",
    )
    _add_settings_flags(run)

    check = sub.add_parser(
        "check", help="validate a config file; exit 2 if invalid, 1 if --strict and warned"
    )
    check.add_argument("--config", required=True)
    check.add_argument(
        "--strict", action="store_true", help="exit 1 when there are warnings (unknown keys...)"
    )
    check.add_argument(
        "--kubeconfig", help="kubeconfig that would resolve Secret references (env KUBECONFIG)"
    )
    _add_limit_flags(check)

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

    rbac = sub.add_parser(
        "rbac",
        help="print the Role that lets the agent read the Secrets a config references",
    )
    rbac.add_argument("--config", required=True)
    rbac.add_argument(
        "--namespace",
        default="whatap-monitoring",
        help="the agent's namespace: its service account's, and that of Secret references "
        "without one (whatap-monitoring)",
    )
    rbac.add_argument(
        "--service-account",
        default="openagent",
        help="the agent's service account (openagent, as in deploy/)",
    )

    sub.add_parser("version", help="print the version")
    return p


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """``check``'s copies of the run's config limits, so both judge a config alike."""
    from openagent.config.limits import ConfigLimits
    from openagent.config.units import parse_duration, parse_size

    defaults = ConfigLimits()
    for flag, parse, default in (
        ("--config-max-bytes", parse_size, "4MiB"),
        ("--config-max-endpoints", int, f"{defaults.max_endpoints}"),
        ("--min-scrape-interval", parse_duration, "1s"),
    ):
        parser.add_argument(flag, type=parse, help=f"as for run (default: {default})")


def _check_limits(args: argparse.Namespace) -> ConfigLimits:
    """The `ConfigLimits` of ``check``'s flags (the run's defaults where none is given)."""
    from openagent.config.limits import ConfigLimits

    given = {
        "max_bytes": args.config_max_bytes,
        "max_endpoints": args.config_max_endpoints,
        "interval_floor": args.min_scrape_interval,
    }
    return ConfigLimits(**{k: v for k, v in given.items() if v is not None})


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per process setting, named after it (``sample_limit`` → ``--sample-limit``),
    with the help and default the setting declares."""
    from openagent.settings import Settings, help_text

    for name, field in Settings.model_fields.items():
        if name in _ENV_ONLY:
            continue
        if name == "sinks":
            parser.add_argument(
                "--sink", action="append", dest="sinks", help=help_text(name) + "; repeatable"
            )
            continue
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:  # --node-local / --no-node-local
            parser.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text(name),
            )
            continue
        parser.add_argument(flag, dest=name, help=help_text(name))


def run_coroutine(coro: Coroutine[Any, Any, int]) -> int:
    """Run ``coro`` on uvloop when it is installed, else on the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


#: Variables that name where the config comes from (any case, as the settings read them).
_CONFIG_VARIABLES = frozenset({"OPENAGENT_CONFIG", "OPENAGENT_CONFIG_MAP"})


def runs_bare(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a bare ``openagent`` runs the agent: in a pod, next to a config file, or
    with the config named by the environment (``docker run -e OPENAGENT_CONFIG=...``)."""
    from openagent.settings.values import default_config

    env = os.environ if environ is None else environ
    if env.get("KUBERNETES_SERVICE_HOST", "").strip():
        return True
    if any(k.upper() in _CONFIG_VARIABLES and v.strip() for k, v in env.items()):
        return True
    return default_config().is_file()


def go_agent_argv(argv: Sequence[str]) -> list[str]:
    """The ``run`` command line for a Go agent invocation: its words, then any flags.

    An explicit ``--config`` or ``--config-map`` after the words wins over the
    operator's ConfigMap.
    """
    from openagent.settings import go_agent_config_map

    count = 0
    while count < len(argv) and count < 2 and argv[count] in GO_AGENT_MODES:
        count += 1
    words, flags = argv[:count], list(argv[count:])
    named = any(f.split("=", 1)[0] in ("--config", "--config-map") for f in flags)
    config_map = None if named else go_agent_config_map(words)
    return ["run", *(["--config-map", config_map] if config_map else []), *flags]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openagent`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv and not runs_bare():
        parser.error(
            "name a command (run, check, scrape, targets, rbac, version); a bare openagent "
            "runs the agent only in a Kubernetes pod, next to ./scrape_config.yaml or with "
            "OPENAGENT_CONFIG set"
        )
    if not argv or argv[0] in GO_AGENT_MODES:
        argv = go_agent_argv(argv)
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"openagent {__version__}")
        return 0
    if args.command == "run":
        from openagent import agent

        overrides = {k: v for k, v in vars(args).items() if k != "command"}
        return run_coroutine(agent.run(config_named=args.config is not None, **overrides))
    from openagent import commands

    if args.command == "check":
        return commands.check(
            args.config, args.kubeconfig, strict=args.strict, limits=_check_limits(args)
        )
    if args.command == "rbac":
        return commands.rbac(args.config, args.namespace, args.service_account)
    if args.command == "scrape":
        return run_coroutine(commands.scrape(args.url, args.format, args.config, args.target))
    return run_coroutine(commands.targets(args.config, args.kubeconfig, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
