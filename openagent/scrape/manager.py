"""Reconciles the desired set of targets with the running scrape loops.

A target that stays (same id, same settings) keeps running undisturbed. A
target whose settings changed is restarted with its series registry and
previous-scrape set carried over, so no stale markers are sent for it. A
target that went away is stopped and its series are marked stale. With
sharding, only the targets whose id hashes to this shard are scraped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable

from openagent.exposition import Limits
from openagent.model import Target, TargetState
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import Carry, Emit, ScrapeLoop
from openagent.telemetry import TARGETS, get_logger

log = get_logger("scrape.manager")


def in_shard(target_id: str, index: int, count: int) -> bool:
    """True when ``target_id`` belongs to shard ``index`` of ``count``."""
    if count <= 1:
        return True
    digest = hashlib.blake2b(target_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count == index


class ScrapeManager:
    """Owns one `ScrapeLoop` per target."""

    def __init__(
        self,
        client: ScrapeClient,
        emit: Emit,
        *,
        default_limits: Limits,
        seed: str = "",
        shard_index: int = 0,
        shard_count: int = 1,
    ) -> None:
        self.client = client
        self.emit = emit
        self.default_limits = default_limits
        self.seed = seed
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.loops: dict[str, ScrapeLoop] = {}
        self._lock = asyncio.Lock()
        self._jobs: set[str] = set()

    async def apply(self, targets: Iterable[Target]) -> None:
        """Make the running loops match ``targets``."""
        async with self._lock:
            desired: dict[str, Target] = {}
            for t in targets:
                if in_shard(t.id, self.shard_index, self.shard_count):
                    desired.setdefault(t.id, t)
            stops = []
            for tid in self.loops.keys() - desired.keys():
                loop = self.loops.pop(tid)
                stops.append(loop.stop(stale_markers=True))
            started = changed = 0
            for tid, target in desired.items():
                current = self.loops.get(tid)
                if current is None:
                    self._start(target)
                    started += 1
                elif current.target != target:
                    await current.stop(stale_markers=False)
                    self._start(target, carry=current.carry)
                    changed += 1
            if stops:
                await asyncio.gather(*stops)
            self._update_gauges()
            if stops or started or changed:
                log.info(
                    "targets reconciled",
                    started=started,
                    stopped=len(stops),
                    restarted=changed,
                    active=len(self.loops),
                )

    def _start(self, target: Target, carry: Carry | None = None) -> None:
        loop = ScrapeLoop(
            target,
            self.client,
            self.emit,
            default_limits=self.default_limits,
            seed=self.seed,
            carry=carry,
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
        """Stop every loop without stale markers (the agent is shutting down)."""
        async with self._lock:
            loops, self.loops = list(self.loops.values()), {}
            await asyncio.gather(*(loop.stop(stale_markers=False) for loop in loops))
            self._update_gauges()

    def states(self) -> list[tuple[Target, TargetState]]:
        """Every running target with its state, ordered by job and URL."""
        items = [(loop.target, loop.state) for loop in self.loops.values()]
        return sorted(items, key=lambda item: (item[0].job, item[0].url))
