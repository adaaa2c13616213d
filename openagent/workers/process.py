"""One worker process as the agent sees it: started, fed its share, restarted when it dies.

The agent starts the worker as a new program (``options.command`` with the
number of its end of a socket pair appended), never by forking: the agent's
event loop, threads and sockets already exist, and a fork would copy them
half-alive. The first frame a worker reads is ``("boot", Boot)``; then
``("update", (changed, removed, handed_over))`` frames bring its share of the
targets, a full one after every start and only the difference after that;
``handed_over`` names the removed ids that another agent scrapes now (they
stop without stale markers). ``("stop", grace)`` asks the worker to drain
for ``grace`` seconds and exit; ``("end_drain", None)`` then ends that drain
at once (the agent got a second SIGTERM).

When the process exits while the agent runs, it is counted
(``openagent_worker_restarts_total{worker}``), started again after a capped,
jittered backoff (`openagent.backoff`; a worker that ran for a minute starts
over from the shortest wait) and given its whole share again. Its targets
are not handed to the other workers meanwhile: one worker's absence should
not double the others' load, and a target is never scraped by two processes.
The worker exits by itself when its socket closes, so a killed agent leaves
no worker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from openagent.backoff import Backoff
from openagent.model import Target
from openagent.telemetry import get_logger
from openagent.workers.metrics import WORKER_RESTARTS, WORKER_UP
from openagent.workers.wire import Handler, Link, LinkClosed

log = get_logger("workers")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How the agent runs its worker processes.

    ``count`` workers, each started as ``command`` plus the number of its
    socket, with ``env`` (None: the agent's environment); ``boot`` goes to
    each worker first (it must pickle). A worker that exits is started again
    after ``restart_initial`` doubling up to ``restart_max`` seconds. On
    shutdown a worker drains for the grace period it is given, and is killed
    when it has not exited ``stop_margin`` seconds after that; a question to
    a worker waits ``answer_timeout`` seconds.
    """

    count: int
    command: tuple[str, ...]
    boot: object = None
    env: Mapping[str, str] | None = field(default=None, repr=False)
    restart_initial: float = 0.5
    restart_max: float = 30.0
    restart_reset_after: float = 60.0
    stop_margin: float = 10.0
    answer_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"need at least one worker, got {self.count}")
        if not self.command:
            raise ValueError("the command that starts a worker is empty")


@dataclass(frozen=True, slots=True)
class Boot:
    """What a worker is told first: its number, how many there are, and the agent's ``payload``."""

    index: int
    count: int
    payload: object


def difference(
    sent: Mapping[str, Target], share: Mapping[str, Target]
) -> tuple[list[Target], list[str]]:
    """What turns ``sent`` into ``share``: targets new or changed, and ids gone."""
    changed = [t for tid, t in share.items() if sent.get(tid) != t]
    removed = [tid for tid in sent if tid not in share]
    return changed, removed


Update = tuple[list[Target], list[str], list[str]]


def update_of(
    sent: Mapping[str, Target], share: Mapping[str, Target], handed_over: Collection[str]
) -> Update | None:
    """The ``update`` frame that turns ``sent`` into ``share``: targets new or changed, ids
    gone, and those of them handed to another agent; None when nothing changed."""
    changed, removed = difference(sent, share)
    if not changed and not removed:
        return None
    return changed, removed, [tid for tid in removed if tid in handed_over]


class WorkerProcess:
    """The agent's handle on worker number ``index`` (see the module docs)."""

    def __init__(self, index: int, options: WorkerOptions, handler: Handler) -> None:
        self.index = index
        self.options = options
        self.pool_handler = handler
        self.share: dict[str, Target] = {}
        self.handed_over: frozenset[str] = frozenset()
        self.ready = False
        self.pid: int | None = None
        self.restarts = 0
        self._sent: dict[str, Target] = {}
        self._link: Link | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._backoff = Backoff(
            options.restart_initial,
            options.restart_max,
            reset_after=options.restart_reset_after,
        )
        WORKER_UP.labels(str(index)).set(0)

    @property
    def member(self) -> str:
        """The worker's name among the members that share the targets."""
        return f"worker-{self.index}"

    # -- the share ---------------------------------------------------------------

    async def assign(
        self, share: dict[str, Target], handed_over: Collection[str] = frozenset()
    ) -> None:
        """Make ``share`` the worker's targets; send the difference when it runs.

        The ids of ``handed_over`` that leave the share are scraped by another
        agent now: the worker stops them without stale markers.
        """
        self.share = share
        self.handed_over = frozenset(handed_over)
        await self._send_update()

    async def _send_update(self) -> None:
        link = self._link
        if link is None:
            return
        update = update_of(self._sent, self.share, self.handed_over)
        if update is None:
            return
        self._sent = self.share
        with contextlib.suppress(LinkClosed, ConnectionError):
            await link.tell("update", update)

    # -- questions ---------------------------------------------------------------

    async def ask(self, what: str) -> Any:
        """The worker's answer to ``what``; None when it does not run or does not answer."""
        link = self._link
        if link is None or not self.ready:
            return None
        try:
            async with asyncio.timeout(self.options.answer_timeout):
                return await link.call(what)
        except (TimeoutError, ConnectionError) as exc:
            log.warning("worker did not answer", worker=self.index, what=what, error=repr(exc))
        except Exception as exc:
            log.warning("worker failed to answer", worker=self.index, what=what, error=str(exc))
        return None

    async def _on_call(self, what: str, arg: Any) -> object:
        """``ready`` once the worker runs (rooms built, spool open); the rest to the pool."""
        if what == "ready":
            self.ready = True
            WORKER_UP.labels(str(self.index)).set(1)
            return None
        return await self.pool_handler(what, arg)

    # -- lifecycle ---------------------------------------------------------------

    async def supervise(self) -> None:
        """Run the worker, and start it again whenever it exits, until `stop`."""
        while not self._stopping.is_set():
            code = await self._run_once()
            if self._stopping.is_set():
                return
            delay = self._backoff.next()
            self.restarts += 1
            WORKER_RESTARTS.labels(str(self.index)).inc()
            log.warning(
                "worker exited; starting it again",
                worker=self.index,
                exit_code=code,
                restart_in_seconds=round(delay, 2),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self) -> int | None:
        try:
            proc, link = await self._spawn()
        except OSError as exc:
            log.error("cannot start a worker", worker=self.index, error=str(exc))
            return None
        reading = asyncio.create_task(link.run(), name=f"worker {self.index} link")
        self._sent = {}
        self._link = link
        try:
            await link.tell("boot", Boot(self.index, self.options.count, self.options.boot))
            await self._send_update()
            if self._stopping.is_set():  # stopped while it was starting
                await link.tell("stop", 0.0)
        except (LinkClosed, ConnectionError):
            pass  # it died at once; its exit code says more
        code = await proc.wait()
        self._link, self.ready, self.pid = None, False, None
        WORKER_UP.labels(str(self.index)).set(0)
        await link.aclose()
        await reading
        return code

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, Link]:
        mine, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.options.command,
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                env=None if self.options.env is None else dict(self.options.env),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self._proc, self.pid = proc, proc.pid
        reader, writer = await asyncio.open_unix_connection(sock=mine)
        log.info("worker started", worker=self.index, pid=proc.pid)
        return proc, Link(reader, writer, self._on_call)

    async def end_drain(self) -> None:
        """Tell the stopping worker to end its drain now (its spool keeps the rest)."""
        link = self._link
        if link is not None:
            with contextlib.suppress(LinkClosed, ConnectionError):
                await link.tell("end_drain")

    async def stop(self, supervisor: asyncio.Task[None], grace: float) -> None:
        """Ask the worker to drain for ``grace`` seconds and exit; kill it when it overstays."""
        self._stopping.set()
        link, proc = self._link, self._proc
        if link is not None:
            with contextlib.suppress(LinkClosed, ConnectionError):
                await link.tell("stop", grace)
        try:
            await asyncio.wait_for(asyncio.shield(supervisor), grace + self.options.stop_margin)
        except TimeoutError:
            if proc is not None and proc.returncode is None:
                log.error("worker did not stop in time; killing it", worker=self.index)
                proc.kill()
            await supervisor
