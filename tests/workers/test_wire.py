"""The link between the agent and a worker: calls, answers, errors, and a vanished peer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from openagent.workers.wire import Link, LinkClosed, RemoteError


async def end(sock: socket.socket, calls: list[tuple[str, Any]]) -> Link:
    async def handle(what: str, arg: Any) -> object:
        calls.append((what, arg))
        if what == "fail":
            raise ValueError("no such thing")
        if what == "slow":
            await asyncio.sleep(arg)
        return ("echo", arg)

    reader, writer = await asyncio.open_unix_connection(sock=sock)
    return Link(reader, writer, handle)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Link, Link, list[tuple[str, Any]]]]:
    a, b = socket.socketpair()
    calls: list[tuple[str, Any]] = []
    left, right = await end(a, []), await end(b, calls)
    tasks = [asyncio.create_task(left.run()), asyncio.create_task(right.run())]
    yield left, right, calls
    await left.aclose()
    await right.aclose()
    await asyncio.gather(*tasks)


async def test_a_call_gets_its_answer(pair: tuple[Link, Link, list[tuple[str, Any]]]) -> None:
    left, _, calls = pair
    assert await left.call("hello", {"x": 1}) == ("echo", {"x": 1})
    assert calls == [("hello", {"x": 1})]


async def test_a_failed_call_raises_its_message_here(
    pair: tuple[Link, Link, list[tuple[str, Any]]],
) -> None:
    left, _, _ = pair
    with pytest.raises(RemoteError, match="no such thing"):
        await left.call("fail")


async def test_a_slow_call_does_not_hold_up_others(
    pair: tuple[Link, Link, list[tuple[str, Any]]],
) -> None:
    left, _, _ = pair
    slow = asyncio.create_task(left.call("slow", 0.5))
    assert await left.call("quick") == ("echo", None)
    assert not slow.done()
    assert await slow == ("echo", 0.5)


async def test_tell_wants_no_answer(pair: tuple[Link, Link, list[tuple[str, Any]]]) -> None:
    left, _, calls = pair
    await left.tell("note", [1, 2])
    await left.tell("fail")  # a failure is logged there, never answered
    assert await left.call("after") == ("echo", None)
    assert calls == [("note", [1, 2]), ("fail", None), ("after", None)]


async def test_pending_calls_fail_when_the_other_end_goes(
    pair: tuple[Link, Link, list[tuple[str, Any]]],
) -> None:
    left, right, _ = pair
    waiting = asyncio.create_task(left.call("slow", 30))
    await asyncio.sleep(0.05)
    await right.aclose()
    with pytest.raises(LinkClosed):
        await waiting
    await asyncio.wait_for(left.closed.wait(), 5)
    with pytest.raises(LinkClosed):
        await left.call("anything")
