"""A worker process: ``python -m openagent.worker FD``, started by the agent with ``--workers``.

``FD`` is the worker's end of a socket pair whose other end the agent holds.
The worker reads the agent's settings from it, builds its own scrape manager,
delivery and sinks from them (`openagent.inprocess.InProcess`, its spool in
``worker-<i>``), and runs its share of the targets until the agent says stop,
SIGTERM or SIGINT arrives, or the agent is gone (`openagent.workers.AgentLink`).
Its log lines carry ``worker=<i>``.

The families it reports for ``/metrics`` leave out what only the agent
measures (`openagent.workers.metrics.worker_families`).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

import structlog

from openagent import wiring
from openagent.cli import run_coroutine
from openagent.httpauth import HTTPAuth
from openagent.inprocess import InProcess
from openagent.settings import Settings
from openagent.telemetry import REGISTRY, get_logger, setup_logging
from openagent.workers import AgentLink, read_boot
from openagent.workers.child import AGENT_SIGNALS
from openagent.workers.metrics import worker_families

log = get_logger("worker")


async def serve(fd: int) -> int:
    """Run the worker on socket ``fd``; return its exit code."""
    boot, reader, writer = await read_boot(fd)
    settings = boot.payload
    if not isinstance(settings, Settings):
        raise TypeError(f"expected the agent's settings, got {type(settings).__name__}")
    setup_logging(settings.log_level, settings.log_format)
    structlog.contextvars.bind_contextvars(worker=boot.index)
    agent = AgentLink(reader, writer, lambda: worker_families(REGISTRY))
    cluster = wiring.cluster(settings) if settings.gpu_attribution else None
    scrapers = InProcess.build(
        settings, HTTPAuth(agent.secrets), worker=boot.index, cluster=cluster
    )
    log.info("worker running", of=boot.count, spool=str(settings.spool_dir or ""))
    try:
        return await agent.serve(scrapers, settings.drain_grace)
    finally:
        if cluster is not None:
            await cluster.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv`` holds the socket's number.

    SIGHUP, SIGUSR1 and SIGUSR2 sent to the agent's process group are the
    agent's to act on; they are ignored from here on, before the event loop
    takes them over (`openagent.workers.AgentLink.serve`), so that none kills
    a worker that is still starting.
    """
    for sig in AGENT_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m openagent.worker FD (started by the agent)", file=sys.stderr)
        return 2
    return run_coroutine(serve(int(args[0])))


if __name__ == "__main__":
    sys.exit(main())
