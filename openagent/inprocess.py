"""Scraping and delivery in one process: the scrape manager feeding `Delivery`.

The agent runs one in its own process with ``--workers 1`` (the default);
with more, each worker process runs one (`openagent.worker`), its spool in
``worker-<i>`` of ``--spool-dir``. Both the agent and the worker pool
(`openagent.workers.WorkerPool`) offer what the agent needs of its scrapers:
`start`, `apply`, `rows`, `metrics`, `ready` and `stop`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Collection

from openagent import wiring
from openagent.delivery import Delivery
from openagent.httpauth import HTTPAuth
from openagent.kube import Cluster
from openagent.kube.attribution import WorkloadResolver
from openagent.model import Target, TargetState
from openagent.scrape import ScrapeManager
from openagent.server import TargetRow, own_metrics
from openagent.settings import Settings
from openagent.telemetry import get_logger

log = get_logger("agent")

#: Net container allocations between two young-generation collections (CPython's default
#: is 700). At 300 targets the default ran a collection every 10 s at about 12 ms each,
#: 4 % of the agent's CPU, for almost nothing: the series live as long as their target and
#: hold no cycles. At 20,000 none ran in a minute of steady scraping. ``gc.freeze()``
#: after start-up (57k objects) made no measurable difference and is not used.
GC_YOUNG_THRESHOLD = 20_000


class InProcess:
    """The scrape manager and the delivery it feeds, in this process."""

    def __init__(
        self,
        manager: ScrapeManager,
        delivery: Delivery,
        attribution: WorkloadResolver | None = None,
    ) -> None:
        self.manager = manager
        self.delivery = delivery
        self.attribution = attribution

    @classmethod
    def build(
        cls,
        settings: Settings,
        auth: HTTPAuth,
        worker: int | None = None,
        cluster: Cluster | None = None,
    ) -> InProcess:
        """The rooms ``settings`` describe; ``worker`` is the number of a worker process;
        ``cluster`` is read for GPU workload attribution, when it is on."""
        delivery = Delivery(
            wiring.build_sinks(settings, auth), wiring.delivery_options(settings, worker)
        )
        resolver = None if cluster is None else wiring.attribution(settings, cluster)
        manager = ScrapeManager(
            delivery.submit, wiring.scrape_options(settings), auth=auth, attributor=resolver
        )
        return cls(manager, delivery, resolver)

    async def start(self) -> None:
        """Tune the collector for long-lived series, open the spools and start sending."""
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        await self.delivery.start()

    async def apply(self, targets: list[Target], handed_over: Collection[str] = ()) -> None:
        """Scrape exactly ``targets``; those of ``handed_over`` are scraped elsewhere now."""
        await self.manager.apply(targets, handed_over)

    def states(self) -> list[tuple[Target, TargetState]]:
        """Every target scraped here, with its state."""
        return self.manager.states()

    async def rows(self) -> list[TargetRow]:
        """Every target with its state, scraped by this process."""
        return [(t, s, None) for t, s in self.manager.states()]

    async def metrics(self) -> bytes:
        """This process's metrics."""
        return await own_metrics()

    def ready(self) -> tuple[bool, str]:
        """Always ready: nothing here waits to start."""
        return True, "ready"

    async def stop(self, grace: float, end_drain: asyncio.Event | None = None) -> None:
        """Stop scraping; deliver for up to ``grace`` seconds, or until ``end_drain`` is set;
        spool the rest; close the sinks."""
        await self.manager.stop()
        if self.attribution is not None:
            await self.attribution.close()
        ending = None
        if end_drain is not None:
            ending = asyncio.ensure_future(self._abort_drain_on(end_drain))
        try:
            await self.delivery.close(grace)
        finally:
            if ending is not None:
                ending.cancel()
                await asyncio.gather(ending, return_exceptions=True)

    async def _abort_drain_on(self, end_drain: asyncio.Event) -> None:
        """End the delivery's drain once ``end_drain`` is set (a second SIGTERM): only the
        sending is cut short, never the closing, so what is left is kept."""
        await end_drain.wait()
        log.warning("drain ended early on request; keeping what is still queued")
        self.delivery.abort_drain()
