"""What the agent and a worker process say to each other: pickled frames over a socket pair.

A frame is a 4-byte big-endian length and a pickle. The two ends are the
same program from the same installation, started by the agent itself, and
the socket pair has no other end, so pickle carries `Target` values (frozen
dataclasses holding pydantic models) and `TargetState` as they are. A static
target with an endpoint config of its own pickles into about 310 bytes in
15 µs and loads in 23 µs (measured over 10,000); targets of one monitor share
their endpoint config, which a frame then holds once. So the agent sends a
worker only what changed in its share (`openagent.workers.process`), never
the whole share again.

Each frame is a `Call` (with ``seq`` 0 when no answer is wanted) or the
`Answer` to one. A `Link` owns one end: it sends calls, runs the other
side's calls through a handler (each in its own task, so a slow one never
holds up an answer the handler itself waits for), and fails every pending
call when the other end goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import pickle
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from openagent.telemetry import get_logger

log = get_logger("workers")

_HEADER = struct.Struct("!I")
#: Largest frame accepted; a bigger length means the stream is out of step.
MAX_FRAME = 1 << 30

#: Runs one call of the other side: ``(what, argument)`` → the answer's value.
Handler = Callable[[str, Any], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Call:
    """A request to the other side; ``seq`` 0 wants no answer."""

    seq: int
    what: str
    arg: object = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to the call numbered ``seq``: a value, or the text of the error it raised."""

    seq: int
    value: object = None
    error: str | None = None


class RemoteError(Exception):
    """The other side could not answer a call; the message is its error."""


class LinkClosed(ConnectionError):
    """The other end of the link is gone."""


async def read_frame(reader: asyncio.StreamReader) -> object:
    """The next message; `asyncio.IncompleteReadError` at the end of the stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is larger than {MAX_FRAME}")
    return pickle.loads(await reader.readexactly(size))


def write_frame(writer: asyncio.StreamWriter, message: object) -> None:
    """Queue ``message`` on ``writer`` (call ``drain`` to wait for room)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.writelines((_HEADER.pack(len(data)), data))


class Link:
    """One end of the socket pair between the agent and a worker (see the module docs)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.handler = handler
        self.closed = asyncio.Event()
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Read and dispatch frames until the other end closes; then fail pending calls."""
        try:
            while True:
                self._dispatch(await read_frame(self.reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("unreadable message from the other process; closing the link")
        finally:
            self._close()

    async def tell(self, what: str, arg: object = None) -> None:
        """Send a call that wants no answer."""
        self._send(Call(0, what, arg))
        await self.writer.drain()

    async def call(self, what: str, arg: object = None) -> object:
        """Send a call and return its answer's value; `RemoteError` when it failed there,
        `LinkClosed` when the other end went away (bound the wait with `asyncio.timeout`)."""
        seq = next(self._seq)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[seq] = future
        try:
            self._send(Call(seq, what, arg))
            await self.writer.drain()
            return await future
        finally:
            self._pending.pop(seq, None)

    async def aclose(self) -> None:
        """Close this end (the other end reads the end of the stream)."""
        self._close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    # -- inside ----------------------------------------------------------------

    def _send(self, message: Call | Answer) -> None:
        if self.closed.is_set():
            raise LinkClosed("the other process is gone")
        write_frame(self.writer, message)

    def _dispatch(self, message: object) -> None:
        if isinstance(message, Answer):
            future = self._pending.get(message.seq)
            if future is not None and not future.done():
                if message.error is None:
                    future.set_result(message.value)
                else:
                    future.set_exception(RemoteError(message.error))
        elif isinstance(message, Call):
            task = asyncio.create_task(self._answer(message), name=f"link call {message.what}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")

    async def _answer(self, call: Call) -> None:
        try:
            value, error = await self.handler(call.what, call.arg), None
        except Exception as exc:
            if call.seq == 0:
                log.exception("handling a message failed", what=call.what)
            value, error = None, str(exc) or type(exc).__name__
        if not call.seq or self.closed.is_set():
            return
        try:
            self._send(Answer(call.seq, value, error))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self._send(Answer(call.seq, None, f"the answer cannot be sent: {exc}"))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def _close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.writer.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LinkClosed("the other process is gone"))
