"""Reconciles the desired set of targets with the running scrape loops.

A target that stays (same id, same settings) keeps running undisturbed. A
target whose settings changed is restarted with its `TargetCache` (parser
table, series and the last scrape's series), so no stale markers are sent for it. A
target that went away is stopped and its series are marked stale. Removed
loops are stopped before replacements start, so an exporter is never scraped
by two loops of the same agent at once. With sharding, only the targets
whose id hashes to this shard are scraped. Discovery hands each target id
once; the manager relies on that.

`scrape_once` is the room's one-shot entry point (``openagent scrape``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from openagent import __version__
from openagent.exposition import Limits
from openagent.httpauth import HTTPAuth
from openagent.model import ScrapeResult, Target, TargetState
from openagent.scrape.attribution import Attributor
from openagent.scrape.bounds import TimestampBounds
from openagent.scrape.cache import TargetCache
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import Emit, ScrapeLoop
from openagent.telemetry import TARGETS, get_logger

log = get_logger("scrape.manager")

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScrapeOptions:
    """What every scrape of this agent shares.

    ``limits`` apply where an endpoint sets none of its own; a body larger
    than ``body_size_limit`` fails the scrape. ``seed`` spreads the targets'
    offsets differently per agent.
    """

    limits: Limits = field(default_factory=lambda: Limits(sample_limit=200_000))
    body_size_limit: int = 64 * MiB
    user_agent: str = f"openagent/{__version__}"
    seed: str = ""
    #: Scrapes due within one tick of this grid (seconds) start in one wake-up; see
    #: `openagent.scrape.schedule.wake_time`.
    wakeup_quantum: float = 0.25
    #: Ask targets for the delimited protobuf exposition first (native histograms come
    #: only that way); off, as in the Go agent.
    enable_protobuf: bool = False
    #: How far from the agent's clock an exposed timestamp may lie before its sample is
    #: dropped (see `openagent.scrape.bounds`).
    timestamp_bounds: TimestampBounds = field(default_factory=TimestampBounds)

    def client(self, auth: HTTPAuth | None = None) -> ScrapeClient:
        """A scrape client with these options."""
        return ScrapeClient(
            default_body_limit=self.body_size_limit,
            user_agent=self.user_agent,
            auth=auth,
            enable_protobuf=self.enable_protobuf,
        )


async def scrape_once(
    target: Target, options: ScrapeOptions, *, auth: HTTPAuth | None = None
) -> ScrapeResult:
    """Scrape ``target`` once exactly as the running agent would."""
    async with options.client(auth) as client:
        loop = ScrapeLoop(
            target,
            client,
            lambda _: None,
            limits=options.limits,
            bounds=options.timestamp_bounds,
        )
        return await loop.scrape_once()


class ScrapeManager:
    """Owns one `ScrapeLoop` per target, and the scrape client they share."""

    def __init__(
        self,
        emit: Emit,
        options: ScrapeOptions | None = None,
        *,
        auth: HTTPAuth | None = None,
        attributor: Attributor | None = None,
    ) -> None:
        """``attributor``, when given, adds workload and node labels to the series
        (see `openagent.scrape.attribution`)."""
        self.emit = emit
        self.attributor = attributor
        self.options = options or ScrapeOptions()
        self.client = self.options.client(auth)
        self.loops: dict[str, ScrapeLoop] = {}
        self._lock = asyncio.Lock()
        self._jobs: set[str] = set()

    async def apply(self, targets: Iterable[Target], handed_over: Collection[str] = ()) -> None:
        """Make the running loops match ``targets``.

        A loop whose id is in ``handed_over`` (another agent or worker scrapes
        it now) stops without stale markers; the other loops that go do send them.
        """
        async with self._lock:
            desired = {t.id: t for t in targets}
            gone = [self.loops.pop(tid) for tid in self.loops.keys() - desired.keys()]
            await asyncio.gather(
                *(loop.stop(stale_markers=loop.target.id not in handed_over) for loop in gone)
            )
            changed = [
                loop
                for tid, loop in self.loops.items()
                if tid in desired and loop.target != desired[tid]
            ]
            for loop in changed:
                await loop.stop(stale_markers=False)
                self._start(desired[loop.target.id], cache=loop.cache)
            started = [t for tid, t in desired.items() if tid not in self.loops]
            for target in started:
                self._start(target)
            self._update_gauges()
            if gone or started or changed:
                log.info(
                    "targets reconciled",
                    started=len(started),
                    stopped=len(gone),
                    handed_over=sum(1 for loop in gone if loop.target.id in handed_over),
                    restarted=len(changed),
                    active=len(self.loops),
                )

    def _start(self, target: Target, cache: TargetCache | None = None) -> None:
        loop = ScrapeLoop(
            target,
            self.client,
            self.emit,
            limits=self.options.limits,
            seed=self.options.seed,
            cache=cache,
            quantum=self.options.wakeup_quantum,
            attributor=self.attributor,
            bounds=self.options.timestamp_bounds,
        )
        self.loops[target.id] = loop
        loop.start()

    def _update_gauges(self) -> None:
        counts = Counter(loop.target.job for loop in self.loops.values())
        for job in self._jobs - counts.keys():
            TARGETS.remove(job)
        for job, n in counts.items():
            TARGETS.labels(job).set(n)
        self._jobs = set(counts)

    async def stop(self) -> None:
        """Stop every loop without stale markers (the agent is shutting down); close the client."""
        async with self._lock:
            loops, self.loops = list(self.loops.values()), {}
            await asyncio.gather(*(loop.stop(stale_markers=False) for loop in loops))
            self._update_gauges()
        await self.client.close()

    def states(self) -> list[tuple[Target, TargetState]]:
        """Every running target with its state, ordered by job and URL."""
        items = [(loop.target, loop.state) for loop in self.loops.values()]
        return sorted(items, key=lambda item: (item[0].job, item[0].url))
