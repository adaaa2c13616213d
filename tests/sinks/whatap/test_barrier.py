"""TIME_SYNC barriers: answers are counted in order and matched by their echo."""

from __future__ import annotations

import asyncio

import pytest

from openagent.sinks.whatap.barrier import BarrierBroken, Barriers
from openagent.sinks.whatap.connection import SessionError


async def test_a_keepalive_answer_does_not_pass_a_later_barrier() -> None:
    barriers = Barriers()
    barriers.wrote(1000)  # a keep-alive
    barrier = barriers.wrote(1001)
    waiting = asyncio.create_task(barriers.wait(barrier))
    barriers.answer(1000)
    await asyncio.sleep(0)
    assert not waiting.done()
    barriers.answer(1001)
    await asyncio.wait_for(waiting, 5.0)


async def test_an_earlier_barrier_passes_with_the_answer_that_passes_a_later_one() -> None:
    barriers = Barriers()
    first, second = barriers.wrote(5), barriers.wrote(5)
    barriers.answer(5)
    barriers.answer(5)
    await asyncio.wait_for(barriers.wait(first), 5.0)
    await asyncio.wait_for(barriers.wait(second), 5.0)


async def test_an_answer_nobody_asked_for_breaks_the_barriers() -> None:
    barriers = Barriers()
    barriers.answer(7)
    with pytest.raises(BarrierBroken, match="did not send"):
        await barriers.wait(barriers.wrote(9))
    assert barriers.answered == 0


async def test_an_answer_echoing_another_time_breaks_the_barriers() -> None:
    barriers = Barriers()
    barriers.wrote(7)
    later = barriers.wrote(9)
    waiting = asyncio.create_task(barriers.wait(later))
    await asyncio.sleep(0)
    barriers.answer(8)
    with pytest.raises(BarrierBroken, match="echoed 8, not the 7 sent"):
        await waiting
    assert barriers.answered == 0


async def test_a_lost_connection_fails_waiting_and_later_barriers() -> None:
    barriers = Barriers()
    ordinal = barriers.wrote(1)
    waiting = asyncio.create_task(barriers.wait(ordinal))
    await asyncio.sleep(0)
    barriers.fail(SessionError("gone"))
    with pytest.raises(SessionError, match="gone"):
        await waiting
    with pytest.raises(SessionError, match="gone"):
        await barriers.wait(barriers.wrote(2))
