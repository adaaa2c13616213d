"""The former one-size comparison, now a thin alias of :mod:`benchmarks.compare`.

Its flags keep their meaning: ``--nodes`` is one size, ``--tools`` names
``vmagent``, ``prometheus`` and ``agent`` (the ``--agent-cmd`` template), and
``--json`` still writes the results. It runs no baseline size (so bytes per
series is n/a) and puts the report under ``--workdir``/report, leaving the
project's report in benchmarks/results alone.

    python -m benchmarks.vmagent_compare --tools vmagent,agent --nodes 20 --window 15
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import compare
from benchmarks.compare_tools import DEFAULT_AGENT


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


def translate(argv: Sequence[str] | None = None) -> list[str]:
    """The `benchmarks.compare` arguments that do what these old arguments did."""
    args = _parser().parse_args(argv)
    out = [
        f"--nodes={args.nodes}",
        "--baseline-nodes=0",
        f"--tools={args.tools}",
        f"--agent=agent={args.agent_cmd}",
        f"--gpus={args.gpus}",
        f"--families={args.families}",
        f"--pods-per-gpu={args.pods_per_gpu}",
        f"--update-interval={args.update_interval:g}",
        f"--interval={args.interval}",
        f"--warmup={args.warmup:g}",
        f"--window={args.window:g}",
        f"--vmagent={args.vmagent}",
        f"--prometheus={args.prometheus}",
        f"--workdir={args.workdir}",
        f"--out={args.workdir / 'report'}",
    ]
    if args.ip_per_node:
        out.append("--ip-per-node")
    if args.json:
        out.append(f"--json={args.json}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: `benchmarks.compare.main` with the translated arguments."""
    return compare.main(translate(argv))


if __name__ == "__main__":
    sys.exit(main())
