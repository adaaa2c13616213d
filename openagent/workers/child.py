"""The worker's end of its link to the agent: its share of the targets, questions, Secrets.

A worker process (`openagent.worker`, in the shell) reads its `Boot` with
`read_boot`, builds its scrape manager and delivery (`Scrapers`) from the
settings it was booted with, and hands them to `AgentLink.serve`, which:

- applies each ``update`` of its share (bursts of updates are applied once);
- answers ``states`` (its targets' states, for ``/targets``) and ``metrics``
  (its registry's families, for ``/metrics``);
- reads Kubernetes Secrets through the agent (`AgentSecrets`), which holds
  the only connection to the API server;
- on ``stop`` from the agent, on SIGTERM, SIGINT or SIGQUIT, or when the link
  closes because the agent is gone: stops scraping, delivers for the grace
  period (the agent's, or the worker's own ``default_grace``), keeps the rest
  in its spool, and returns the exit code 0;
- ends that drain at once on ``end_drain`` from the agent, or on a second
  SIGTERM, SIGINT or SIGQUIT of its own.

SIGHUP, SIGUSR1 and SIGUSR2 are the agent's to act on: sent to the process
group they reach the worker too, whose default would be to die of them, so it
ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from prometheus_client.metrics_core import Metric

from openagent.httpauth import SecretError, SecretRefLike, describe_ref
from openagent.model import Target, TargetState
from openagent.telemetry import get_logger, watch_loop_lag
from openagent.workers.process import Boot
from openagent.workers.wire import Call, Link, LinkClosed, RemoteError, read_frame

log = get_logger("workers")

#: How long a Secret lookup waits for the agent (its own lookup gives up after 10 s).
SECRET_TIMEOUT = 30.0


class Scrapers(Protocol):
    """What a worker runs: the scrape manager and delivery of its share."""

    async def start(self) -> None: ...
    async def apply(self, targets: list[Target], handed_over: Collection[str] = ()) -> None: ...
    def states(self) -> list[tuple[Target, TargetState]]: ...
    async def stop(self, grace: float, end_drain: asyncio.Event | None = None) -> None: ...


#: Signals that stop the worker (a second one ends its drain).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: Signals the agent acts on, ignored here.
AGENT_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


async def read_boot(fd: int) -> tuple[Boot, asyncio.StreamReader, asyncio.StreamWriter]:
    """Open the link on socket ``fd`` and read the `Boot` the agent sends first."""
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    first = await read_frame(reader)
    if not (isinstance(first, Call) and first.what == "boot" and isinstance(first.arg, Boot)):
        raise ValueError(f"expected the agent's boot message, got {first!r:.80}")
    return first.arg, reader, writer


def _ignore() -> None:
    """A signal the agent acts on: nothing for the worker to do."""


class AgentSecrets:
    """A `openagent.httpauth.SecretResolver` that asks the agent for each value."""

    def __init__(self, link: Link) -> None:
        self.link = link

    async def get(self, ref: SecretRefLike) -> bytes:
        """The value the agent read; `SecretError` with the agent's reason otherwise."""
        try:
            async with asyncio.timeout(SECRET_TIMEOUT):
                value = await self.link.call("secret", ref)
        except RemoteError as exc:
            raise SecretError(str(exc)) from None
        except (LinkClosed, ConnectionError, TimeoutError):
            raise SecretError(f"{describe_ref(ref)}: the agent process did not answer") from None
        if not isinstance(value, bytes):
            raise SecretError(f"{describe_ref(ref)}: the agent answered {type(value).__name__}")
        return value


class AgentLink:
    """The worker's side of the link (see the module docs)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        families: Callable[[], Iterable[Metric]],
    ) -> None:
        self.link = Link(reader, writer, self._on_call)
        self.secrets = AgentSecrets(self.link)
        self.families = families
        self.grace: float | None = None
        self._share: dict[str, Target] = {}
        self._handed_over: set[str] = set()
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._end_drain = asyncio.Event()
        self._scrapers: Scrapers | None = None

    async def serve(self, scrapers: Scrapers, default_grace: float) -> int:
        """Run ``scrapers`` on the agent's word until told to stop; return the exit code."""
        self._scrapers = scrapers
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_stop_signal)
        for sig in AGENT_SIGNALS:
            loop.add_signal_handler(sig, _ignore)
        reading = asyncio.create_task(self.link.run(), name="agent link")
        await scrapers.start()
        helpers = [
            asyncio.create_task(self._apply_changes(), name="apply share"),
            asyncio.create_task(watch_loop_lag(), name="loop lag"),
        ]
        with contextlib.suppress(LinkClosed, ConnectionError):
            await self.link.tell("ready")
        await self._until_stopped()
        grace = default_grace if self.grace is None else self.grace
        log.info("worker stopping", agent_gone=self.link.closed.is_set(), grace=grace)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await scrapers.stop(grace, self._end_drain)
        await self.link.aclose()
        await reading
        log.info("worker stopped")
        return 0

    def _on_stop_signal(self) -> None:
        if self._stop.is_set():
            self._end_drain.set()
        self._stop.set()

    async def _until_stopped(self) -> None:
        """Wait for ``stop`` from the agent, a stop signal, or the agent's end of the link."""
        waits = [
            asyncio.create_task(self.link.closed.wait()),
            asyncio.create_task(self._stop.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()

    async def _apply_changes(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            assert self._scrapers is not None
            handed_over, self._handed_over = self._handed_over, set()
            await self._scrapers.apply(list(self._share.values()), handed_over)

    async def _on_call(self, what: str, arg: Any) -> object:
        if what == "update":
            changed, removed, handed_over = arg
            for tid in removed:
                self._share.pop(tid, None)
                # Of several updates applied at once, the last word on an id counts.
                if tid in handed_over:
                    self._handed_over.add(tid)
                else:
                    self._handed_over.discard(tid)
            self._share.update((t.id, t) for t in changed)
            self._handed_over.difference_update(t.id for t in changed)
            self._changed.set()
            return None
        if what == "states":
            assert self._scrapers is not None
            return [(t.id, state) for t, state in self._scrapers.states()]
        if what == "metrics":
            return list(self.families())
        if what == "stop":
            self.grace = float(arg)
            self._stop.set()
            return None
        if what == "end_drain":
            self._end_drain.set()
            return None
        raise ValueError(f"unknown call {what!r}")
