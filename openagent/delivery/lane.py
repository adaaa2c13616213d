"""One sink's path: encode → `BatchFifo` (memory queue, spool) → `Sender` → ``sink.send``.

`SinkLane.submit` runs on the scrape path: it books what the sink is handed
in the sink's `Ledger`, encodes (the sink's own losses are booked as
dropped, and an encoder that fails drops the result as ``encode_error``) and
queues the batches; it never waits for the sink. The sender works in its
own task, and a timer flushes what the sink holds back for bigger batches.

At shutdown `drain` gives the sender a grace period in which it sends
without backoff waits; `abort_drain` ends a drain at once (a second
SIGTERM), after which `close` keeps what is left in the spool.
"""

from __future__ import annotations

import asyncio

from openagent.delivery.fifo import BatchFifo
from openagent.delivery.ledger import Ledger
from openagent.delivery.options import DeliveryOptions
from openagent.delivery.sender import Sender
from openagent.model import ScrapeResult
from openagent.sinks.base import Sink
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")


class SinkLane:
    """The ledger, FIFO, sender and flush timer of one sink."""

    def __init__(self, sink: Sink, options: DeliveryOptions) -> None:
        self.sink = sink
        self.name = sink.name
        self.options = options
        self.ledger = Ledger(sink.name, sink.loss_reasons)
        self.fifo = BatchFifo(sink.name, options, self.ledger)
        self.sender = Sender(sink, self.fifo, self.ledger, options)
        self._throttle = Throttle(options.log_interval)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._abort = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Open the FIFO (the spool's batches go first) and start sending."""
        await self.fifo.open()
        self._tasks.append(asyncio.create_task(self.sender.run(), name=f"delivery {self.name}"))
        if self.sink.max_batch_delay > 0:
            self._tasks.append(asyncio.create_task(self._flush_every(self.sink.max_batch_delay)))

    def flush(self) -> None:
        """Queue whatever the sink is holding back."""
        try:
            batches = self.sink.flush()
        except Exception:
            log.exception("sink flush failed", sink=self.name)
            return
        for batch in batches:
            self.fifo.put(batch)

    async def drain(self, within: float) -> bool:
        """Send what is queued, without backoff waits, for up to ``within`` seconds.

        True once everything was delivered; False when the grace ran out or
        `abort_drain` was called first (then `close` keeps the rest).
        """
        if self.fifo.idle.is_set():
            return True
        if self._abort.is_set():
            return False
        self.sender.drain()
        idle = asyncio.ensure_future(self.fifo.idle.wait())
        abort = asyncio.ensure_future(self._abort.wait())
        try:
            await asyncio.wait((idle, abort), timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            abort.cancel()
        return self.fifo.idle.is_set()

    @property
    def drain_aborted(self) -> bool:
        """True once `abort_drain` was called."""
        return self._abort.is_set()

    def abort_drain(self) -> None:
        """End a `drain` in progress (and any later one) at once; safe to call any time."""
        self._abort.set()

    async def close(self) -> None:
        """Stop sending; keep what is left in the spool (or book it dropped); close the sink."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.fifo.close(maybe_sent=self.sender.maybe_sent)
        try:
            await self.sink.close()
        except Exception:
            log.exception("closing the sink failed", sink=self.name)

    async def _flush_every(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self.flush()

    # -- the scrape side -------------------------------------------------------

    def submit(self, result: ScrapeResult) -> None:
        """Book, encode and queue ``result`` for this sink; never blocks."""
        sink, ledger = self.sink, self.ledger
        handed = len(result.series) + (len(result.stale) if sink.stale_markers else 0)
        if getattr(sink, "native_histograms", False):  # a histogram is one sample
            handed += len(result.histograms)
            if sink.stale_markers:
                handed += len(result.stale_histograms)
        ledger.handed(handed)
        try:
            encoded = sink.encode(result)
        except Exception as exc:
            ledger.dropped("encode_error", handed)
            if self._throttle.allow("encode"):
                log.error(
                    "sink could not encode a scrape result",
                    sink=self.name,
                    job=result.job,
                    instance=result.instance,
                    error=repr(exc),
                    suppressed=self._throttle.take_suppressed("encode"),
                )
            return
        for loss in encoded.losses:
            ledger.dropped(loss.reason, loss.samples)
        for batch in encoded.batches:
            self.fifo.put(batch)
