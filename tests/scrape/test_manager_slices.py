"""A reconcile runs in slices: other tasks run between them, and it ends where one pass would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from openagent.config import parse_config
from openagent.discovery.static import static_targets
from openagent.exposition import Limits
from openagent.model import ScrapeResult, Target
from openagent.scrape import ScrapeManager, ScrapeOptions
from tests.support import Exporter

SLICE = 10
FLEET = 50
OPTIONS = ScrapeOptions(limits=Limits(sample_limit=1000), user_agent="openagent-test")


def fleet(port: int, size: int, timeout: str = "1s", first: int = 0) -> list[Target]:
    """``size`` targets of the exporter at ``port``, told apart by a ``pod`` label."""
    endpoints = "".join(
        f"      - address: 127.0.0.1:{port}\n        interval: 60s\n        timeout: {timeout}\n"
        f"        relabelConfigs: [{{targetLabel: pod, replacement: p{i}}}]\n"
        for i in range(first, first + size)
    )
    text = (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: dcgm\n      type: StaticEndpoints\n      endpoints:\n" + endpoints
    )
    targets, dropped = static_targets(parse_config(text).config)
    assert not dropped and len({t.id for t in targets}) == size
    return targets


class Watcher:
    """A task that records ``probe()`` at every turn of the event loop it gets."""

    def __init__(self, probe: Callable[[], int]) -> None:
        self.probe = probe
        self.seen: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.seen.append(self.probe())
            await asyncio.sleep(0)

    def __enter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture
async def sliced() -> AsyncIterator[tuple[ScrapeManager, list[ScrapeResult]]]:
    emitted: list[ScrapeResult] = []
    m = ScrapeManager(emitted.append, OPTIONS, apply_slice=SLICE)
    yield m, emitted
    await m.stop()


async def test_other_tasks_run_between_the_slices_of_starts_and_of_stops(
    exporter: Exporter, sliced: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, _ = sliced
    with Watcher(lambda: len(m.loops)) as watcher:
        await m.apply(fleet(exporter.port, FLEET))
    assert {10, 20, 30, 40} <= set(watcher.seen)  # a turn after every slice of starts
    assert len(m.loops) == FLEET
    with Watcher(lambda: len(m.loops)) as watcher:
        await m.apply([])
    assert {40, 30, 20, 10} <= set(watcher.seen)  # and of stops
    assert not m.loops


async def test_other_tasks_run_between_the_slices_of_restarts(
    exporter: Exporter, sliced: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, _ = sliced
    await m.apply(fleet(exporter.port, FLEET))
    changed = fleet(exporter.port, FLEET, timeout="2s")

    def restarted() -> int:
        return sum(1 for loop in m.loops.values() if loop.target.endpoint.timeout == 2.0)

    with Watcher(restarted) as watcher:
        await m.apply(changed)
    assert {10, 20, 30, 40} <= set(watcher.seen)
    assert restarted() == FLEET


async def test_a_second_reconcile_waits_for_the_first_to_finish(
    exporter: Exporter, sliced: tuple[ScrapeManager, list[ScrapeResult]]
) -> None:
    m, _ = sliced
    with Watcher(lambda: len(m.loops)) as watcher:
        first = asyncio.create_task(m.apply(fleet(exporter.port, FLEET)))
        while not m.loops:  # the first reconcile is under way
            await asyncio.sleep(0)
        await m.apply([])
        await first
    assert FLEET in watcher.seen  # the first reconcile ran to the end before the second began
    peak = watcher.seen.index(FLEET)
    growing, shrinking = watcher.seen[: peak + 1], watcher.seen[peak:]
    assert growing == sorted(growing) and shrinking == sorted(shrinking, reverse=True)
    assert not m.loops


async def reconcile_all(
    port: int, apply_slice: int
) -> tuple[dict[str, Target], list[str], list[str], bool]:
    """Start 30 targets, then: 10 go (5 handed over), 10 change, 10 stay, 10 are new.

    Returns the running targets, the ids of the final results, of the loops that
    kept their cache across the restart, and whether the kept loops are the same.
    """
    emitted: list[ScrapeResult] = []
    m = ScrapeManager(emitted.append, OPTIONS, apply_slice=apply_slice)
    try:
        start = fleet(port, 30)
        await m.apply(start)
        kept = {t.id: m.loops[t.id] for t in start[20:]}
        caches = {t.id: m.loops[t.id].cache for t in start[10:20]}
        handed_over = {t.id for t in start[:5]}
        later = [*fleet(port, 10, timeout="2s", first=10), *start[20:], *fleet(port, 10, first=30)]
        await m.apply(later, handed_over)
        running = {tid: loop.target for tid, loop in m.loops.items()}
        finals = sorted(r.target_id for r in emitted if r.final)
        carried = sorted(tid for tid, cache in caches.items() if m.loops[tid].cache is cache)
        same = all(m.loops[tid] is loop for tid, loop in kept.items())
        return running, finals, carried, same
    finally:
        await m.stop()


async def test_a_sliced_reconcile_ends_where_one_in_a_single_pass_does(exporter: Exporter) -> None:
    sliced = await reconcile_all(exporter.port, apply_slice=3)
    single = await reconcile_all(exporter.port, apply_slice=1000)
    assert sliced == single
    running, finals, carried, same = sliced
    assert len(running) == 30 and len(finals) == 5 and len(carried) == 10 and same


def test_a_slice_holds_at_least_one_loop() -> None:
    with pytest.raises(ValueError, match="apply_slice"):
        ScrapeManager(lambda _: None, OPTIONS, apply_slice=0)
