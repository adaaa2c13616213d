"""Reconciles the desired set of targets with the running scrape loops.

A target that stays (same id, same settings) keeps running undisturbed. A
target whose settings changed is restarted with its `TargetCache` (parser
table, series and the last scrape's series), so no stale markers are sent for it. A
target that went away is stopped and its series are marked stale. Removed
loops are stopped before replacements start, so an exporter is never scraped
by two loops of the same agent at once. With sharding, only the targets
whose id hashes to this shard are scraped. Discovery hands each target id
once; the manager relies on that. A reconcile stops and starts loops a slice
at a time (`APPLY_SLICE`), so the agent keeps answering while thousands change.

`scrape_once` is the room's one-shot entry point (``openagent scrape``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

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

#: Loops stopped or started between two turns of the event loop by `ScrapeManager.apply`.
#: Measured with `benchmarks/reload_bench.py` (10,000 static endpoints, all moved on SIGHUP;
#: 2 cores): in one go the reconcile held ``/healthz`` for 0.76-1.81 s (nine reloads). A
#: slice of 100 costs 4-6 ms of the loop (about 50 us a start or a stop, collector aside),
#: so the worst answer fell to 66-391 ms (nine), what is left being the garbage collector's
#: full pass over the new loops (256-338 ms); the reload took as long as before (2.5-3.5 s).
APPLY_SLICE = 100

T = TypeVar("T")


def _slices(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive runs of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        apply_slice: int = APPLY_SLICE,
    ) -> None:
        """``attributor``, when given, adds workload and node labels to the series
        (see `openagent.scrape.attribution`); ``apply_slice`` loops are stopped or
        started between two turns of the event loop."""
        if apply_slice < 1:
            raise ValueError(f"apply_slice must be at least 1, got {apply_slice}")
        self.emit = emit
        self.attributor = attributor
        self.options = options or ScrapeOptions()
        self.client = self.options.client(auth)
        self.loops: dict[str, ScrapeLoop] = {}
        self._lock = asyncio.Lock()
        self._jobs: set[str] = set()
        self.apply_slice = apply_slice

    async def apply(self, targets: Iterable[Target], handed_over: Collection[str] = ()) -> None:
        """Make the running loops match ``targets``.

        A loop whose id is in ``handed_over`` (another agent or worker scrapes
        it now) stops without stale markers; the other loops that go do send them.
        Loops are stopped and started ``apply_slice`` at a time, with a turn of the
        event loop between slices (see `APPLY_SLICE`); the lock keeps another
        reconcile out until this one is done, but `states` may see it half done.
        """
        async with self._lock:
            desired = {t.id: t for t in targets}
            gone = [tid for tid in self.loops if tid not in desired]
            for ids in _slices(gone, self.apply_slice):
                await self._stop_slice([self.loops.pop(tid) for tid in ids], handed_over)
                await asyncio.sleep(0)
            changed = [
                tid
                for tid, loop in self.loops.items()
                if tid in desired and loop.target != desired[tid]
            ]
            for ids in _slices(changed, self.apply_slice):
                await self._restart_slice([desired[tid] for tid in ids])
                await asyncio.sleep(0)
            started = [tid for tid in desired if tid not in self.loops]
            for ids in _slices(started, self.apply_slice):
                for tid in ids:
                    self._start(desired[tid])
                await asyncio.sleep(0)
            self._update_gauges()
            if gone or started or changed:
                log.info(
                    "targets reconciled",
                    started=len(started),
                    stopped=len(gone),
                    handed_over=sum(1 for tid in gone if tid in handed_over),
                    restarted=len(changed),
                    active=len(self.loops),
                )

    @staticmethod
    async def _stop_slice(loops: list[ScrapeLoop], handed_over: Collection[str]) -> None:
        """Stop ``loops``, those not in ``handed_over`` with stale markers.

        They are freed as this returns, a slice at a time: released together at the
        end of a reconcile, 10,000 stopped loops took 36 ms to free in one go.
        """
        await asyncio.gather(
            *(loop.stop(stale_markers=loop.target.id not in handed_over) for loop in loops)
        )

    async def _restart_slice(self, targets: list[Target]) -> None:
        """Stop the loops of ``targets`` and start each again with its new settings and
        its old cache; a loop is stopped before its replacement starts."""
        old = [self.loops[t.id] for t in targets]
        await asyncio.gather(*(loop.stop(stale_markers=False) for loop in old))
        for target, loop in zip(targets, old, strict=True):
            self._start(target, cache=loop.cache)

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
        """Stop every loop without stale markers (the agent is shutting down), a slice at a
        time; close the client."""
        async with self._lock:
            loops, self.loops = list(self.loops.values()), {}
            for chunk in _slices(loops, self.apply_slice):
                await asyncio.gather(*(loop.stop(stale_markers=False) for loop in chunk))
                await asyncio.sleep(0)
            self._update_gauges()
        await self.client.close()

    def states(self) -> list[tuple[Target, TargetState]]:
        """Every running target with its state, ordered by job and URL."""
        items = [(loop.target, loop.state) for loop in self.loops.values()]
        return sorted(items, key=lambda item: (item[0].job, item[0].url))
