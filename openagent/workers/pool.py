"""The agent's worker processes as one: targets split by rendezvous hashing, answers gathered.

`WorkerPool.apply` gives each target to the worker whose member name
(``worker-<i>``) has the highest rendezvous weight for the target's id
(`openagent.rendezvous`), and sends each worker what changed in its share.
The same target always lands on the same worker, across reloads and worker
restarts. ``/targets`` asks every worker for the states of its targets and
lists every target with its worker (a target of a worker that is down shows
as ``unknown`` with the reason); ``/metrics`` merges the workers' registries
into the agent's (`openagent.workers.metrics`). Workers ask the agent for
Kubernetes Secret values (``secret`` calls), so the API server sees one
client per pod whatever the number of workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric

from openagent.httpauth import SecretRefLike, SecretResolver
from openagent.model import Target, TargetState
from openagent.rendezvous import assign
from openagent.telemetry import REGISTRY, get_logger
from openagent.workers.metrics import agent_families, exposition, merge
from openagent.workers.process import WorkerOptions, WorkerProcess

log = get_logger("workers")

#: A target, its state, and the worker that scrapes it.
Row = tuple[Target, TargetState, int | None]


class WorkerPool:
    """The agent's side of ``options.count`` worker processes (see the module docs)."""

    def __init__(self, options: WorkerOptions, secrets: SecretResolver) -> None:
        self.options = options
        self.secrets = secrets
        self.workers = [WorkerProcess(i, options, self._on_call) for i in range(options.count)]
        self._supervisors: list[asyncio.Task[None]] = []
        self._members = {w.member: w for w in self.workers}

    async def start(self) -> None:
        """Start every worker (each is then kept running until `stop`)."""
        self._supervisors = [
            asyncio.create_task(w.supervise(), name=f"worker {w.index}") for w in self.workers
        ]

    async def apply(self, targets: Sequence[Target], handed_over: Collection[str] = ()) -> None:
        """Split ``targets`` over the workers and send each its changes.

        ``handed_over``: ids another agent scrapes now; a worker that loses one
        stops it without stale markers. Between the workers themselves no
        target ever moves (their number is fixed), so only those need it.
        """
        shares = assign(targets, tuple(self._members), key=lambda t: t.id)
        moved = frozenset(handed_over)
        await asyncio.gather(
            *(
                self._members[m].assign({t.id: t for t in share}, moved)
                for m, share in shares.items()
            )
        )

    def ready(self) -> tuple[bool, str]:
        """Ready when every worker runs."""
        down = [str(w.index) for w in self.workers if not w.ready]
        if down:
            return False, f"not ready: worker {', '.join(down)} not running"
        return True, "ready"

    async def rows(self) -> list[Row]:
        """Every target with its state and its worker, ordered by job and URL."""
        answers = await asyncio.gather(*(w.ask("states") for w in self.workers))
        rows: list[Row] = []
        for worker, states in zip(self.workers, answers, strict=True):
            known: dict[str, TargetState] = dict(states or ())
            missing = TargetState(last_error=None if worker.ready else "its worker is not running")
            rows.extend(
                (t, known.get(tid, missing), worker.index) for tid, t in worker.share.items()
            )
        return sorted(rows, key=lambda row: (row[0].job, row[0].url))

    async def metrics(self) -> bytes:
        """The agent's metrics and every running worker's, in one exposition."""
        answers = await asyncio.gather(*(w.ask("metrics") for w in self.workers))
        workers: list[tuple[int, Sequence[Metric]]] = [
            (w.index, families)
            for w, families in zip(self.workers, answers, strict=True)
            if families
        ]
        return exposition(merge(agent_families(REGISTRY), workers))

    async def stop(self, grace: float, end_drain: asyncio.Event | None = None) -> None:
        """Have every worker stop scraping, deliver for up to ``grace`` seconds and exit;
        when ``end_drain`` is set meanwhile, tell them to end their drains at once."""
        relay = asyncio.create_task(self._relay(end_drain), name="end drains")
        try:
            await asyncio.gather(
                *(
                    w.stop(task, grace)
                    for w, task in zip(self.workers, self._supervisors, strict=True)
                )
            )
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
        log.info("workers stopped", restarts=sum(w.restarts for w in self.workers))

    async def _relay(self, end_drain: asyncio.Event | None) -> None:
        if end_drain is None:
            return
        await end_drain.wait()
        await asyncio.gather(*(w.end_drain() for w in self.workers))

    async def _on_call(self, what: str, arg: Any) -> object:
        """A worker's call: ``secret`` asks for the value of a Secret key."""
        if what == "secret":
            ref: SecretRefLike = arg
            return await self.secrets.get(ref)
        raise ValueError(f"unknown call {what!r}")
