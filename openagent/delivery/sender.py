"""One sink's sender: takes batches from its FIFO in order and sends them, retrying.

A plain sink gets one batch at a time (``send``). A `ConfirmingSink` gets a
*group* (``send_confirmed``): every batch queued at that moment, up to its
``confirm_batches`` / ``confirm_bytes``, at least one and never waiting to
fill it, so a slow destination gets bigger groups by itself. Each batch is
booked (sent, or its `Sent.loss`) only once the call returns; until then the
FIFO and spool keep the whole group in flight and the position behind it.

Retryable errors are retried, the whole group again, with `Backoff` for as
long as it takes, while new batches keep queueing behind it. A server's
``Retry-After`` is honoured up to ``retry_after_max``, but never waited out
in one sleep longer than ``backoff_max``: the batch is sent again as a
probe at least that often, and delivery resumes at once when a probe
succeeds. The first ``SinkError.written`` batches of a failed group may have
arrived; when they are finally delivered they are counted in
``openagent_delivery_replayed_samples_total``. A permanent error drops the
batch or group (``reason="rejected"``), an unexpected exception too
(``sink_error``, logged with a traceback).

Once `drain` is called (shutdown), the sender stops waiting out backoff:
it retries every `DRAIN_RETRY_FLOOR` seconds, so the drain grace is spent
sending, and a receiver that is down is still not hammered. Each kind of
trouble is logged at most once per ``log_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from openagent.backoff import Backoff
from openagent.delivery.fifo import BatchFifo
from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import RETRIED_BATCHES, SEND_SECONDS
from openagent.delivery.options import DeliveryOptions
from openagent.sinks.base import Batch, ConfirmingSink, Sent, Sink, SinkError
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")

#: Seconds between attempts while draining: short, so the grace is spent sending,
#: but not a busy loop against a receiver that is down.
DRAIN_RETRY_FLOOR = 0.1


class Sender:
    """Sends the batches of one `BatchFifo` to its sink, in order (see the module docs)."""

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
        self._probe_every = options.backoff_max
        self._throttle = Throttle(options.log_interval)
        self._failing = False
        self._draining = asyncio.Event()
        #: True while the sink sends (a batch or group cut short then may have arrived).
        self.sending = False
        self._group = 0
        self._written = 0

    @property
    def maybe_sent(self) -> int:
        """How many batches of the group in flight, from its start, may have arrived."""
        return self._group if self.sending else self._written

    def drain(self) -> None:
        """From now on retry without backoff waits (shutdown: spend the grace sending)."""
        self._draining.set()

    async def run(self) -> None:
        """Start the sink, then send forever; an unexpected error is logged and sending resumes."""
        await self._start_sink()
        confirming = isinstance(self.sink, ConfirmingSink)
        while True:
            try:
                while True:
                    if confirming:
                        assert isinstance(self.sink, ConfirmingSink)
                        group = await self.fifo.take(
                            max(1, self.sink.confirm_batches), max(0, self.sink.confirm_bytes)
                        )
                        self._group = len(group)
                        written = await self._deliver_group(self.sink, group)
                    else:
                        (batch,) = await self.fifo.take()
                        self._group = 1
                        await self._deliver(batch)
                        written = 0
                    self.fifo.done(written)
                    self._group = self._written = 0
            except Exception:
                self.sending = False
                self._group = self._written = 0
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
                await self._pause(wait)

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
                    self._give_up([batch], "rejected", str(exc))
                    return
                await self._retry(exc)
                continue
            except Exception as exc:
                self.sending = False
                self._give_up([batch], "sink_error", repr(exc), trace=True)
                return
            self.sending = False
            SEND_SECONDS.labels(self.name).observe(loop.time() - started)
            self._book(batch, outcome)
            return

    async def _deliver_group(self, sink: ConfirmingSink, group: Sequence[Batch]) -> int:
        """Send ``group`` until it is confirmed or dropped, book each batch; return how many
        of its first batches were written by a failed attempt (possible duplicates)."""
        loop = asyncio.get_running_loop()
        self._backoff.reset()
        written = 0
        while True:
            started = loop.time()
            self.sending = True
            try:
                outcomes = await sink.send_confirmed(group)
                if len(outcomes) != len(group):
                    raise RuntimeError(f"{len(outcomes)} outcomes for a group of {len(group)}")
            except SinkError as exc:
                self.sending = False
                SEND_SECONDS.labels(self.name).observe(loop.time() - started)
                written = self._written = max(written, min(exc.written, len(group)))
                if not exc.retryable:
                    self._give_up(group, "rejected", str(exc))
                    return 0  # dropped, so nothing is delivered twice
                await self._retry(exc)
                continue
            except Exception as exc:
                self.sending = False
                self._give_up(group, "sink_error", repr(exc), trace=True)
                return 0
            self.sending = False
            SEND_SECONDS.labels(self.name).observe(loop.time() - started)
            for batch, outcome in zip(group, outcomes, strict=True):
                self._book(batch, outcome)
            return written

    async def _retry(self, exc: SinkError) -> None:
        RETRIED_BATCHES.labels(self.name).inc()
        wait = self._backoff.next(exc.retry_after)
        self._failing = True
        if self._throttle.allow("retry"):
            log.warning(
                "sink send failed, will retry",
                sink=self.name,
                error=str(exc),
                retry_in=round(min(wait, self._probe_every), 3),
                suppressed=self._throttle.take_suppressed("retry"),
            )
        await self._pause(min(wait, self._probe_every))

    async def _pause(self, wait: float) -> None:
        """Sleep ``wait`` seconds, or only `DRAIN_RETRY_FLOOR` once draining."""
        if self._draining.is_set():
            await asyncio.sleep(min(wait, DRAIN_RETRY_FLOOR))
            return
        with contextlib.suppress(TimeoutError):  # draining began: retry now
            await asyncio.wait_for(self._draining.wait(), wait)

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

    def _give_up(
        self, batches: Sequence[Batch], reason: str, error: str, *, trace: bool = False
    ) -> None:
        samples = sum(b.samples for b in batches)
        self.ledger.dropped(reason, samples)
        if self._throttle.allow(reason):
            (log.exception if trace else log.error)(
                "sink refused a batch, dropped" if reason == "rejected" else "sink failed, dropped",
                sink=self.name,
                reason=reason,
                error=error,
                batches=len(batches),
                samples=samples,
                suppressed=self._throttle.take_suppressed(reason),
            )
