"""Live membership: the agent's own pods, from a pod informer on the shared connection.

`PodMembership` lists and watches ``pods`` in the agent's namespace with the
configured label selector (pushed to the API server, one informer on the
agent's one `openagent.kube.Cluster`), and after every event works out the
members again (`openagent.shard.members`). When they change it calls back,
and the agent hands the targets out anew; so a replica whose pod goes
unready or is deleted loses its targets to the others as soon as the API
server says so, and one that comes back takes its own share back.

Until the first list has arrived ``current`` is None and ``waiting`` says
why (no connection, or the informer's error, such as a missing permission to
list pods): the agent then scrapes nothing rather than everything, since
scraping every target from every replica is what sharding exists to avoid.
A watch that breaks later keeps the last members (the informer heals it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from openagent.backoff import Backoff
from openagent.kube import Cluster, Informer, InformerKey, InformerPool, follow
from openagent.shard.members import JSON, ownership_of, pod_name
from openagent.shard.ownership import Ownership
from openagent.telemetry import get_logger

log = get_logger("shard")


@dataclass(frozen=True, slots=True)
class MembershipOptions:
    """Whose pods are members: those matching ``label_selector`` in ``namespace``.

    ``me`` is this agent's pod name (``POD_NAME``), its member name; ``retry``
    is the longest pause between attempts to connect to the cluster.
    """

    namespace: str
    label_selector: str
    me: str
    retry: float = 30.0


class PodMembership:
    """A `openagent.shard.Shard` fed by a pod informer (see the module docs)."""

    mode = "pods"

    def __init__(self, cluster: Cluster, options: MembershipOptions) -> None:
        self.cluster = cluster
        self.options = options
        self.key = InformerKey("pods", options.namespace, options.label_selector)
        self.current: Ownership | None = None
        self.waiting: str | None = f"waiting for the list of {self.key}"
        self._listed = True

    @property
    def me(self) -> str:
        """This agent's pod name."""
        return self.options.me

    async def run(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Follow the members until cancelled, calling ``on_change`` when they change."""

        async def look(informer: Informer) -> None:
            if self._update(informer):
                await on_change()

        pool = await self._connect()
        await follow(pool, self.key, look, "handing out the targets to the new members failed")

    def _check_listed(self, pods: Iterable[JSON]) -> None:
        """Warn once when this agent's own pod does not match the selector: the others do
        not count it, so the targets it takes are scraped twice."""
        listed = any(pod_name(pod) == self.options.me for pod in pods)
        if not listed and self._listed:
            log.warning(
                "this agent's pod does not match the shard selector: the other replicas do "
                "not count it, and the targets it takes are scraped twice; check "
                "OPENAGENT_SHARD_SELECTOR and POD_NAME",
                pod=self.options.me,
                key=str(self.key),
            )
        self._listed = listed

    async def _connect(self) -> InformerPool:
        retry = self.options.retry
        backoff = Backoff(min(0.5, retry), retry, jitter=0.5)
        while True:
            try:
                return await self.cluster.pool()
            except Exception as exc:
                problem = f"no Kubernetes connection to list the agent's pods: {exc}"
                if problem != self.waiting:
                    log.error("shard membership unknown; scraping nothing", error=problem)
                self.waiting = problem
                await asyncio.sleep(backoff.next())

    def _update(self, informer: Informer) -> bool:
        """Work the members out again; True when they changed."""
        if not informer.synced.is_set():
            if informer.error:
                self.waiting = f"shard members unknown: {informer.error}"
            return False
        pods = informer.objects.values()
        self._check_listed(pods)
        new = ownership_of(pods, self.options.me)
        self.waiting = None
        if new == self.current:
            return False
        before = self.current.members if self.current is not None else ()
        log.info(
            "shard members changed",
            members=list(new.members),
            joined=sorted(set(new.members) - set(before)),
            left=sorted(set(before) - set(new.members)),
        )
        self.current = new
        return True
