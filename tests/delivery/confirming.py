"""A fake confirming sink: a destination that takes groups of batches and confirms them or not.

What it models: each batch of a group is *written* (appended to
``written``, in order, duplicates kept), then the group is confirmed, or
the confirmation fails after ``k`` of its batches were written, or never
comes (the sink's own confirmation timeout, ``timeout`` seconds, raises a
retryable error with every batch written), or the destination refuses the
group. What it does not model: a network or a wire format (a write cannot
be torn), the Whatap TIME_SYNC frame, or a confirmation that arrives late.
The HTTP variant writes each batch to a loopback `Receiver` instead, so a
killed process leaves its writes behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from openagent.model import ScrapeResult
from openagent.sinks.base import DELIVERED, Batch, Encoded, Loss, Sent, SinkError
from tests.delivery.support import PlainSink, payload, seq_of


@dataclass(frozen=True)
class Fail:
    """The confirmation fails once ``written`` batches of the group were written."""

    written: int
    retryable: bool = True


#: The group is written whole and the confirmation never comes.
NEVER = "never"
#: The group is confirmed, but the destination reports its last batch's samples lost.
LOSSY = "lossy"


class ConfirmingFake(PlainSink):
    """Writes groups to ``written`` and confirms them as ``script`` says (then always)."""

    loss_reasons = ("too_old",)

    def __init__(
        self, name: str, *, confirm_batches: int = 8, confirm_bytes: int = 1 << 20
    ) -> None:
        self.name = name
        self.confirm_batches = confirm_batches
        self.confirm_bytes = confirm_bytes
        self.timeout = 0.05
        self.script: list[Fail | str] = []
        self.written: list[int] = []
        self.groups: list[list[int]] = []
        #: While cleared, a group waits here before it is written (a slow destination).
        self.open = asyncio.Event()
        self.open.set()
        #: Set each time a group is handed to `send_confirmed`.
        self.called = asyncio.Event()

    def encode(self, res: ScrapeResult) -> Encoded:
        seq = int(res.target_id)
        return Encoded([Batch(payload(seq, 100), len(res.series), res.timestamp_ms)])

    async def send(self, batch: Batch) -> Sent:
        raise AssertionError("a confirming sink is sent groups")

    async def send_confirmed(self, batches: Sequence[Batch]) -> list[Sent]:
        seqs = [seq_of(b.payload) for b in batches]
        self.groups.append(seqs)
        self.called.set()
        await self.open.wait()
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Fail):
            self.written.extend(seqs[: step.written])
            raise SinkError("no confirmation", retryable=step.retryable, written=step.written)
        self.written.extend(seqs)
        if step == NEVER:
            with_no_answer = asyncio.Event()
            try:
                await asyncio.wait_for(with_no_answer.wait(), self.timeout)
            except TimeoutError:
                raise SinkError(
                    "confirmation timed out", retryable=True, written=len(batches)
                ) from None
        if step == LOSSY:
            last = batches[-1]
            return [DELIVERED] * (len(batches) - 1) + [Sent(Loss("too_old", last.samples))]
        return [DELIVERED] * len(batches)


class ConfirmingHttpSink(PlainSink):
    """Posts each batch of a group to a `Receiver`, then confirms, or (``hang``) never does."""

    def __init__(self, name: str, url: str, *, confirm_batches: int, hang: bool) -> None:
        self.name = name
        self.url = url
        self.confirm_batches = confirm_batches
        self.confirm_bytes = 1 << 20
        self.hang = hang
        self._session: aiohttp.ClientSession | None = None

    def encode(self, res: ScrapeResult) -> Encoded:
        seq = int(res.target_id)
        return Encoded([Batch(payload(seq, 100), len(res.series), res.timestamp_ms)])

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def send(self, batch: Batch) -> Sent:
        raise AssertionError("a confirming sink is sent groups")

    async def send_confirmed(self, batches: Sequence[Batch]) -> list[Sent]:
        assert self._session is not None
        for batch in batches:
            async with self._session.post(self.url, data=batch.payload) as r:
                await r.read()
        if self.hang:
            print("group out", len(batches), flush=True)
            await asyncio.Event().wait()
        return [DELIVERED] * len(batches)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
