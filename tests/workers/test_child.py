"""The worker's end of the link: its share from update frames, and which removals were
handed to another agent (stopped without stale markers) rather than gone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection
from typing import Any

from openagent.model import Target, TargetState
from openagent.workers import AgentLink
from openagent.workers.process import update_of
from openagent.workers.wire import Link
from tests.scrape.test_loop import make_target
from tests.support import eventually

A, B, C = (make_target(port) for port in (20000, 20001, 20002))


class Scrapers:
    """Records every apply: the target ids and the handed-over ids."""

    def __init__(self) -> None:
        self.applied: list[tuple[set[str], set[str]]] = []

    async def start(self) -> None:
        pass

    async def apply(self, targets: list[Target], handed_over: Collection[str] = ()) -> None:
        self.applied.append(({t.id for t in targets}, set(handed_over)))

    def states(self) -> list[tuple[Target, TargetState]]:
        return []

    async def stop(self, grace: float, end_drain: asyncio.Event | None = None) -> None:
        pass


async def unused(what: str, arg: Any) -> object:
    raise AssertionError(what)


def test_an_update_names_the_removed_ids_that_were_handed_over() -> None:
    sent = {t.id: t for t in (A, B, C)}
    assert update_of(sent, {A.id: A}, {B.id}) == ([], [B.id, C.id], [B.id])
    assert update_of(sent, dict(sent), {B.id}) is None
    assert update_of({}, {A.id: A}, ()) == ([A], [], [])


async def test_the_worker_stops_handed_over_targets_without_stale_markers() -> None:
    a, b = socket.socketpair()
    agent = Link(*await asyncio.open_unix_connection(sock=a), unused)
    reading = asyncio.create_task(agent.run())
    worker = AgentLink(*await asyncio.open_unix_connection(sock=b), families=list)
    scrapers = Scrapers()
    serving = asyncio.create_task(worker.serve(scrapers, default_grace=0.0))

    await agent.tell("update", ([A, B, C], [], []))
    await eventually(lambda: scrapers.applied)
    assert scrapers.applied[-1] == ({A.id, B.id, C.id}, set())
    await agent.tell("update", ([], [B.id, C.id], [B.id]))
    await eventually(lambda: scrapers.applied[-1][0] == {A.id})
    assert scrapers.applied[-1] == ({A.id}, {B.id})  # C went away: it gets its stale markers

    # Handed over, back, and then gone for good in one burst: the last word counts.
    await agent.tell("update", ([], [A.id], [A.id]))
    await agent.tell("update", ([A], [], []))
    await agent.tell("update", ([], [A.id], []))
    await eventually(lambda: scrapers.applied[-1] == (set(), set()))

    await agent.tell("stop", 0.0)
    assert await asyncio.wait_for(serving, 10) == 0
    await agent.aclose()
    await reading
