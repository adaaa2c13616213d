"""Discovery: from the scrape config to the desired set of targets.

`Discovery` is what the agent talks to. It takes each new config, derives
static targets at once and Kubernetes targets (PodMonitor, ServiceMonitor)
from shared informers, and reports the whole desired set through its
callback whenever that set may have changed.

Kubernetes changes are debounced: the set is rebuilt ``debounce`` seconds
after the last informer event, and at most ``max_delay`` seconds after the
first unpublished one, so a rollout of 500 pods reconciles a few times, not
500. Static targets never wait for Kubernetes: without a connection (no
kubeconfig, API server down, RBAC missing) they are published alone and
the Kubernetes targets join when their informers sync. A Kubernetes target
whose informers have not synced yet keeps the targets it had before (after
a config reload that changed its selectors, say) rather than dropping them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openagent.config import ScrapeConfig
from openagent.discovery.candidates import Dropped
from openagent.discovery.static import static_targets
from openagent.model import Target
from openagent.telemetry import get_logger

if TYPE_CHECKING:
    from openagent.discovery.monitors import KubeTargets
    from openagent.kube import Informer, InformerKey, InformerPool
    from openagent.settings import Settings

log = get_logger("discovery")

OnTargets = Callable[[list[Target]], Awaitable[None]]
Connect = Callable[[], Awaitable["InformerPool"]]
KUBE_TYPES = ("PodMonitor", "ServiceMonitor")


def kube_connector(kubeconfig: Path | None) -> Connect:
    """Connect through ``kubeconfig`` (or in-cluster, ``$KUBECONFIG``, ``~/.kube/config``)."""

    async def connect() -> InformerPool:
        from openagent.kube import InformerPool, connect

        return InformerPool(await connect(kubeconfig))

    return connect


def needs_kubernetes(config: ScrapeConfig) -> bool:
    """True when an enabled target is a PodMonitor or ServiceMonitor."""
    return config.enabled and any(t.enabled and t.type in KUBE_TYPES for t in config.targets)


class Discovery:
    """Keeps the desired target set current and hands it to ``on_targets``.

    ``connect`` makes the informer pool (on first need); ``node`` turns on
    node-local mode (only this node's pods and endpoints).
    """

    def __init__(
        self,
        on_targets: OnTargets,
        *,
        connect: Connect | None = None,
        node: str | None = None,
        debounce: float = 1.0,
        max_delay: float = 5.0,
        retry: float = 30.0,
    ) -> None:
        self.on_targets = on_targets
        self.connect = connect or kube_connector(None)
        self.node = node
        self.debounce = debounce
        self.max_delay = max_delay
        self.retry = retry
        self.static: list[Target] = []
        self.dropped: list[Dropped] = []
        self.kube_dropped: list[Dropped] = []
        self._waiting: list[str] = []
        self.kube_error: str | None = None
        self.pool: InformerPool | None = None
        self._kube: KubeTargets | None = None
        self._kube_targets: dict[str, list[Target]] = {}
        self._informers: dict[InformerKey, Informer] = {}
        self._unsubscribe: dict[InformerKey, Callable[[], None]] = {}
        self._dirty = asyncio.Event()
        self._first_change: float | None = None
        self._last_change = 0.0
        self._connecting = asyncio.Lock()

    @classmethod
    def from_settings(cls, on_targets: OnTargets, settings: Settings) -> Discovery:
        """The agent's discovery: kubeconfig and node-local mode from ``settings``."""
        node = None
        if settings.node_local:
            if not settings.node_name:
                raise ValueError(
                    "node-local discovery (OPENAGENT_NODE_LOCAL) needs the node name in NODE_NAME"
                )
            node = settings.node_name
        return cls(on_targets, connect=kube_connector(settings.kubeconfig), node=node)

    # -- config --------------------------------------------------------------

    async def apply_config(self, config: ScrapeConfig) -> None:
        """Take a new config and publish the targets it yields."""
        self.static, self.dropped = static_targets(config)
        for d in self.dropped:
            log.info("candidate dropped", source=d.source, reason=d.reason)
        if needs_kubernetes(config):
            from openagent.discovery.monitors import KubeTargets

            self._kube = KubeTargets(config, self.node)
        else:
            self._kube = None
        await self._ensure_pool()
        self._track_informers()
        self._rebuild()
        await self.publish()

    async def _ensure_pool(self) -> bool:
        """Connect when Kubernetes targets need it; True when a new connection was made.

        A failure is kept in ``kube_error`` and retried from `run`.
        """
        async with self._connecting:
            if self._kube is None or self.pool is not None:
                return False
            try:
                pool = await self.connect()
            except Exception as exc:
                if self.kube_error != str(exc):
                    log.error("no Kubernetes connection; Kubernetes targets wait", error=str(exc))
                self.kube_error = str(exc)
                return False
            self.pool, self.kube_error = pool, None
            return True

    def _track_informers(self) -> None:
        """Acquire the informers the config needs and release the others."""
        pool = self.pool
        wanted = set(self._kube.keys) if self._kube is not None and pool is not None else set()
        for key in [k for k in self._informers if k not in wanted]:
            self._unsubscribe.pop(key)()
            del self._informers[key]
            if pool is not None:
                pool.release(key)
        if pool is None or self._kube is None:
            return
        for key in self._kube.keys:
            if key not in self._informers:
                informer = pool.acquire(key)
                self._informers[key] = informer
                self._unsubscribe[key] = informer.subscribe(self._on_event)

    def _on_event(self, _type: str, _old: Any, _new: Any) -> None:
        now = asyncio.get_running_loop().time()
        self._last_change = now
        if self._first_change is None:
            self._first_change = now
        self._dirty.set()

    # -- building ------------------------------------------------------------

    @property
    def waiting(self) -> list[str]:
        """What Kubernetes targets wait for now (connection, unsynced informers, errors)."""
        if self._kube is None:
            return []
        if self.pool is None:
            reason = f"no Kubernetes connection: {self.kube_error}"
            return [f"{p.where}: {reason}" for p in self._kube.plans]
        return self._kube.waiting(self._informers)

    def _rebuild(self) -> None:
        """Recompute the Kubernetes targets from what the informers hold now."""
        if self._kube is None:
            self._kube_targets, self.kube_dropped, self._waiting = {}, [], []
            return
        names = {p.index: p.target.target_name for p in self._kube.plans}
        if self.pool is None:
            self._kube_targets = {n: self._kube_targets.get(n, []) for n in names.values()}
            return
        outcome = self._kube.build(self._informers)
        found: dict[str, list[Target]] = {}
        for index, targets in outcome.by_target.items():
            name = names[index]
            found[name] = targets if targets is not None else self._kube_targets.get(name, [])
        if outcome.waiting != self._waiting:
            for line in outcome.waiting:
                log.info("kubernetes target waiting", detail=line)
        self._kube_targets = found
        self.kube_dropped = outcome.dropped
        self._waiting = outcome.waiting

    def status(self) -> dict[str, Any]:
        """What `/discovery` shows: informers, what discovery waits for, dropped candidates."""
        return {
            "kubernetes_error": self.kube_error,
            "waiting": self.waiting,
            "informers": self.pool.status() if self.pool is not None else [],
            "dropped": [
                {"source": d.source, "reason": d.reason}
                for d in (*self.dropped, *self.kube_dropped)
            ],
        }

    def targets(self) -> list[Target]:
        """The desired set now (each id once)."""
        out: dict[str, Target] = {t.id: t for t in self.static}
        for targets in self._kube_targets.values():
            for t in targets:
                out.setdefault(t.id, t)
        return list(out.values())

    async def publish(self) -> None:
        """Report the desired set."""
        await self.on_targets(self.targets())

    # -- background ----------------------------------------------------------

    async def run(self) -> None:
        """Publish debounced Kubernetes changes; reconnect while the connection is missing."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._reconnect())
            while True:
                await self._dirty.wait()
                await self._settle()
                self._dirty.clear()
                self._first_change = None
                await self._refresh()

    async def _settle(self) -> None:
        """Wait until events pause for ``debounce`` or ``max_delay`` has passed."""
        loop = asyncio.get_running_loop()
        while True:
            first = self._first_change if self._first_change is not None else loop.time()
            deadline = min(self._last_change + self.debounce, first + self.max_delay)
            delay = deadline - loop.time()
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(self.retry)
            if await self._ensure_pool():
                log.info("Kubernetes connection made")
                self._track_informers()
                await self._refresh()

    async def _refresh(self) -> None:
        """Rebuild and publish; a failure is logged and the next change tries again."""
        try:
            self._rebuild()
            await self.publish()
        except Exception:
            log.exception("publishing discovered targets failed")

    async def close(self) -> None:
        """Stop watching: release every informer and close the connection."""
        for unsubscribe in self._unsubscribe.values():
            unsubscribe()
        self._unsubscribe.clear()
        self._informers.clear()
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
            with contextlib.suppress(Exception):
                await pool.client.close()
