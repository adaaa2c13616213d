"""One sink's FIFO of batches: a bounded memory queue in front of the on-disk spool.

The logical queue of a sink is *spool first, then memory*: the spool holds
the oldest batches, the memory queue the newest. A batch is put into memory
while it fits; when it does not, the oldest batches in memory move to the end
of the spool until it does (or the batch itself goes there). `take` always
takes from the spool while the spool has anything, else from memory, so
batches leave in the order they came, whichever way they went.

The batch handed out by `take` (in flight) is no longer in memory. If a spill
happens while it is out, it is written to the spool first (marked as already
handed out), so that if its send never finishes it still sits ahead of
everything newer. At close, what is left in memory goes to the end of the
spool in order.

Without a spool, a full memory queue drops its oldest batch
(``reason="queue_full"``), and what is left at close is dropped
(``reason="shutdown"``). Each kind of trouble is logged at most once per
``log_interval``.

A process killed without warning (SIGKILL, OOM) loses what was in memory, up
to ``memory_queue_bytes`` per sink, uncounted; with ``memory_queue_bytes=0``
every batch is written to the spool as it is queued, and nothing is lost
that way.
"""

from __future__ import annotations

import asyncio
import time

from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import OLDEST_AGE, QUEUE_BATCHES, QUEUE_BYTES
from openagent.delivery.options import DeliveryOptions
from openagent.delivery.queue import MemoryQueue
from openagent.delivery.spool import Position, Spool
from openagent.sinks.base import Batch
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")


class _Inflight:
    """The batch handed out, and where the spool keeps it (None: only in memory)."""

    __slots__ = ("batch", "pos", "unspillable")

    def __init__(self, batch: Batch, pos: Position | None) -> None:
        self.batch = batch
        self.pos = pos
        self.unspillable = False


class BatchFifo:
    """The memory queue and spool of one sink (see the module docs)."""

    def __init__(self, name: str, options: DeliveryOptions, ledger: Ledger) -> None:
        self.name = name
        self.ledger = ledger
        self.memory = MemoryQueue(options.memory_queue_bytes)
        self.spool: Spool | None = None
        if options.spool_dir is not None:
            self.spool = Spool(
                options.spool_dir / name,
                sink=name,
                max_bytes=options.spool_max_bytes,
                fsync=options.spool_fsync,
                fsync_interval=options.spool_fsync_interval,
                segment_bytes=options.spool_segment_bytes,
                ledger=ledger,
            )
        self._throttle = Throttle(options.log_interval)
        self._inflight: _Inflight | None = None
        self._wake = asyncio.Event()
        #: Set while nothing is queued and nothing is in flight.
        self.idle = asyncio.Event()
        self._state = "new"

    @property
    def in_flight(self) -> Batch | None:
        """The batch handed out by `take` and not yet `done`."""
        return self._inflight.batch if self._inflight is not None else None

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Open the spool (its batches come out first); a spool that fails leaves memory only."""
        if self.spool is not None:
            try:
                await self.spool.open()
            except OSError as exc:
                log.error(
                    "cannot open the spool; this sink has its memory queue only",
                    sink=self.name,
                    directory=str(self.spool.directory),
                    error=str(exc),
                )
                self.spool = None
        QUEUE_BATCHES.labels(self.name).set_function(lambda: len(self.memory))
        QUEUE_BYTES.labels(self.name).set_function(lambda: self.memory.bytes)
        OLDEST_AGE.labels(self.name).set_function(self.oldest_age)
        self._state = "open"

    async def close(self, *, interrupted: bool) -> None:
        """Keep what is left (in flight, then memory) in the spool, or drop it; close the spool.

        ``interrupted``: the batch in flight was being sent, so it may have arrived.
        """
        if self._state == "closed":
            return
        self._state = "closed"
        fl, self._inflight = self._inflight, None
        left = ([fl.batch] if fl is not None and fl.pos is None else []) + self.memory.take_all()
        if self.spool is not None:
            await self._keep(self.spool, fl, left, interrupted)
        elif left:
            samples = sum(b.samples for b in left)
            self.ledger.dropped("shutdown", samples)
            log.error(
                "batches left undelivered at shutdown (no spool configured)",
                sink=self.name,
                batches=len(left),
                samples=samples,
            )
        for gauge in (QUEUE_BATCHES, QUEUE_BYTES, OLDEST_AGE):
            gauge.labels(self.name).set_function(lambda: 0)

    async def _keep(
        self, spool: Spool, fl: _Inflight | None, left: list[Batch], interrupted: bool
    ) -> None:
        maybe_sent = False
        if fl is not None and fl.pos is not None:
            if spool.holds(fl.pos):
                maybe_sent = interrupted
            else:  # its segment was dropped for space while it was being sent
                self.ledger.dropped("spool_full", fl.batch.samples)
        for i, batch in enumerate(left):
            pos = spool.append(batch)
            if i == 0 and fl is not None and fl.pos is None:
                maybe_sent = interrupted and pos is not None
        if left:
            log.info(
                "queued batches kept in the spool for the next start",
                sink=self.name,
                batches=len(left),
                samples=sum(b.samples for b in left),
            )
        await spool.close(maybe_sent=maybe_sent)

    # -- the producer side -----------------------------------------------------

    def put(self, batch: Batch) -> None:
        """Queue one batch: into memory if it fits, else via the spool (or drop the oldest)."""
        if self._state != "open":
            self._refuse_late(batch)
            return
        memory = self.memory
        if not memory.fits(batch):
            if self.spool is None:
                while len(memory) and not memory.fits(batch):
                    self._drop_queued(memory.pop())
                if not memory.fits(batch):
                    self._drop_queued(batch)
                    return
            else:
                while len(memory) and not memory.fits(batch):
                    self._spill(memory.pop())
                if not memory.fits(batch):
                    self._spill(batch)
                    self._queued()
                    return
        memory.push(batch)
        self._queued()

    def _queued(self) -> None:
        self.idle.clear()
        self._wake.set()

    def _spill(self, batch: Batch) -> None:
        spool = self.spool
        assert spool is not None
        fl = self._inflight
        if fl is not None and fl.pos is None and not fl.unspillable:
            if spool.has_unread():
                fl.unspillable = True
            else:
                fl.pos = spool.append(fl.batch, handed_out=True)
                fl.unspillable = fl.pos is None
        if self._throttle.allow("spill"):
            log.warning(
                "memory queue full, spilling to the spool",
                sink=self.name,
                memory_queue_bytes=self.memory.max_bytes,
                spool_bytes=spool.bytes,
            )
        spool.append(batch)

    def _drop_queued(self, batch: Batch) -> None:
        self.ledger.dropped("queue_full", batch.samples)
        if self._throttle.allow("queue_full"):
            log.warning(
                "memory queue full and no spool, dropping the oldest batches",
                sink=self.name,
                memory_queue_bytes=self.memory.max_bytes,
                suppressed=self._throttle.take_suppressed("queue_full"),
            )

    def _refuse_late(self, batch: Batch) -> None:
        if self._state == "new":
            raise RuntimeError(f"delivery for sink {self.name!r} is not started")
        self.ledger.dropped("shutdown", batch.samples)
        if self._throttle.allow("late"):
            log.error("batch queued after delivery stopped, dropped", sink=self.name)

    def oldest_age(self) -> float:
        """Seconds since the oldest sample of the head batch (in flight, else first in memory)."""
        fl = self._inflight
        head = fl.batch if fl is not None else self.memory.head()
        if head is None:
            return 0.0
        return max(0.0, time.time() - head.oldest_ms / 1000)

    # -- the consumer side -----------------------------------------------------

    async def take(self) -> Batch:
        """Wait for the next batch in line and hand it out (the one in flight until `done`)."""
        if self._inflight is not None:
            return self._inflight.batch
        while True:
            spool = self.spool
            if spool is not None and spool.has_unread():
                got = await spool.read()
                if got is not None:
                    self._inflight = _Inflight(*got)
                    return got[0]
            elif len(self.memory):
                batch = self.memory.pop()
                self._inflight = _Inflight(batch, None)
                return batch
            else:
                self.idle.set()
                self._wake.clear()
                await self._wake.wait()

    def done(self) -> None:
        """The batch in flight was delivered or dropped: let the spool move past it."""
        fl, self._inflight = self._inflight, None
        if fl is not None and fl.pos is not None and self.spool is not None:
            self.spool.ack(fl.pos)
