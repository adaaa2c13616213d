"""One sink's sender: takes batches from its FIFO in order and sends them, retrying.

Retryable errors are retried with `Backoff` (honouring a ``Retry-After``)
for as long as it takes, while new batches keep queueing, then spooling,
behind the one in flight. A permanent error drops the batch
(``reason="rejected"``), an unexpected exception too (``sink_error``, logged
with a traceback). What the sink delivered, and what it reports lost, is
booked in the ledger; each kind of trouble is logged at most once per
``log_interval``.
"""

from __future__ import annotations

import asyncio

from openagent.backoff import Backoff
from openagent.delivery.fifo import BatchFifo
from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import RETRIED_BATCHES, SEND_SECONDS
from openagent.delivery.options import DeliveryOptions
from openagent.sinks.base import Batch, Sent, Sink, SinkError
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")


class Sender:
    """Sends the batches of one `BatchFifo` to its sink, one at a time, in order."""

    def __init__(
        self, sink: Sink, fifo: BatchFifo, ledger: Ledger, options: DeliveryOptions
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.fifo = fifo
        self.ledger = ledger
        self._backoff = Backoff(
            options.backoff_initial, options.backoff_max, retry_after_max=options.retry_after_max
        )
        self._throttle = Throttle(options.log_interval)
        self._failing = False
        #: True while ``sink.send`` runs (a batch cut short then may have arrived).
        self.sending = False

    async def run(self) -> None:
        """Start the sink, then send forever; an unexpected error is logged and sending resumes."""
        await self._start_sink()
        while True:
            try:
                while True:
                    batch = await self.fifo.take()
                    await self._deliver(batch)
                    self.fifo.done()
            except Exception:
                self.sending = False
                log.exception("delivery consumer failed, resuming in 1 s", sink=self.name)
                await asyncio.sleep(1.0)

    async def _start_sink(self) -> None:
        self._backoff.reset()
        while True:
            try:
                await self.sink.start()
                return
            except (SinkError, OSError) as exc:
                wait = self._backoff.next()
                if self._throttle.allow("start"):
                    log.error("sink failed to start", sink=self.name, error=str(exc), retry_in=wait)
                await asyncio.sleep(wait)

    async def _deliver(self, batch: Batch) -> None:
        """Send ``batch`` until it is delivered or dropped, and book the outcome."""
        loop = asyncio.get_running_loop()
        self._backoff.reset()
        while True:
            started = loop.time()
            self.sending = True
            try:
                outcome = await self.sink.send(batch)
            except SinkError as exc:
                self.sending = False
                SEND_SECONDS.labels(self.name).observe(loop.time() - started)
                if not exc.retryable:
                    self._give_up(batch, "rejected", str(exc))
                    return
                await self._retry(exc)
                continue
            except Exception as exc:
                self.sending = False
                self._give_up(batch, "sink_error", repr(exc), trace=True)
                return
            self.sending = False
            SEND_SECONDS.labels(self.name).observe(loop.time() - started)
            self._book(batch, outcome)
            return

    async def _retry(self, exc: SinkError) -> None:
        RETRIED_BATCHES.labels(self.name).inc()
        wait = self._backoff.next(exc.retry_after)
        self._failing = True
        if self._throttle.allow("retry"):
            log.warning(
                "sink send failed, will retry",
                sink=self.name,
                error=str(exc),
                retry_in=round(wait, 3),
                suppressed=self._throttle.take_suppressed("retry"),
            )
        await asyncio.sleep(wait)

    def _book(self, batch: Batch, outcome: Sent) -> None:
        loss = outcome.loss
        if loss is None:
            self.ledger.sent(batch.samples)
        else:  # a sink cannot lose more than the batch held
            lost = min(loss.samples, batch.samples)
            if lost < batch.samples:
                self.ledger.sent(batch.samples - lost)
            self.ledger.dropped(loss.reason, lost)
        if self._failing:
            self._failing = False
            if self._throttle.allow("recovered"):
                log.info("sink accepts batches again", sink=self.name)

    def _give_up(self, batch: Batch, reason: str, error: str, *, trace: bool = False) -> None:
        self.ledger.dropped(reason, batch.samples)
        if self._throttle.allow(reason):
            (log.exception if trace else log.error)(
                "sink refused a batch, dropped" if reason == "rejected" else "sink failed, dropped",
                sink=self.name,
                reason=reason,
                error=error,
                samples=batch.samples,
                suppressed=self._throttle.take_suppressed(reason),
            )
