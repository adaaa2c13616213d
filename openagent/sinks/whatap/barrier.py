"""TIME_SYNC frames as delivery barriers: count them out, count their answers in.

The protocol has no acknowledgement, but the collector answers every agent
TIME_SYNC, in order, on the same connection, after reading the frames written
before it (PROTOCOL §6.5; unverified for the real server, §10 Q1). So the
answer to the n-th TIME_SYNC written on a connection says that every frame
written before that TIME_SYNC was read. `Barriers` numbers the TIME_SYNC
frames of one connection as they are handed to the socket (keep-alives and the
ones due before a pack included) and the answers as they are read: a barrier
is its ordinal, passed once ``answered`` reaches it. A keep-alive's answer
therefore never passes a later barrier: answers are counted, not recognised.

Each answer also echoes the agent time its TIME_SYNC carried; `Barriers`
checks the echo against the time it wrote. An answer nobody asked for, or
one that echoes another time, means the count cannot be trusted on this
connection: the barriers are then `broken` and waiting on them fails with
`BarrierBroken` (the sink falls back to unconfirmed delivery there).
"""

from __future__ import annotations

import asyncio
from collections import deque


class BarrierBroken(Exception):
    """The answers of this connection cannot be matched to its TIME_SYNC frames."""


class Barriers:
    """The TIME_SYNC frames written on one connection and the answers read, in order."""

    def __init__(self) -> None:
        self.sent = 0
        self.answered = 0
        self.broken = ""
        self._times: deque[int] = deque()
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._failure: BaseException | None = None

    def wrote(self, agent_time: int) -> int:
        """Count a TIME_SYNC carrying ``agent_time`` handed to the socket; its ordinal."""
        self.sent += 1
        self._times.append(agent_time)
        return self.sent

    def answer(self, echoed: int) -> None:
        """Count an answer echoing ``echoed``; pass every barrier it reaches."""
        if self.broken:
            return
        if not self._times:
            self._break("the collector answered a TIME_SYNC the agent did not send")
            return
        expected = self._times.popleft()
        if echoed != expected:
            self._break(f"a TIME_SYNC answer echoed {echoed}, not the {expected} sent")
            return
        self.answered += 1
        while self._waiters and self._waiters[0][0] <= self.answered:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)

    async def wait(self, ordinal: int) -> None:
        """Return once the answer to TIME_SYNC ``ordinal`` arrived; raise `BarrierBroken`,
        or the connection's failure (see `fail`), when it never will."""
        if self.answered >= ordinal:
            return
        if self.broken:
            raise BarrierBroken(self.broken)
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((ordinal, future))
        await future

    def fail(self, exc: BaseException) -> None:
        """The connection is gone: every waiter, now and later, gets ``exc``."""
        if self._failure is None:
            self._failure = exc
        self._raise_all(exc)

    def _break(self, reason: str) -> None:
        self.broken = reason
        self._raise_all(BarrierBroken(reason))

    def _raise_all(self, exc: BaseException) -> None:
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_exception(exc)
