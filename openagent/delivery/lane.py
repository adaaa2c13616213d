"""One sink's path: memory queue → spool → consumer → ``sink.send``.

The logical queue of a sink is *spool first, then memory*: the spool holds
the oldest batches, the memory queue the newest. A batch is put into memory
while it fits; when it does not, the oldest batches in memory move to the end
of the spool until it does (or the batch itself goes there). The consumer
always takes from the spool while the spool has anything, else from memory,
so batches leave in the order they came, whichever way they went.

The batch being sent is no longer in memory. If a spill happens while it is
out, it is written to the spool first (marked as already handed out), so that
if its send never finishes it still sits ahead of everything newer. At
shutdown, what is left in memory goes to the end of the spool in order.

Without a spool, a full memory queue drops its oldest batch
(``reason="queue_full"``). Retryable errors are retried with `Backoff` for as
long as it takes (new batches keep queueing, then spooling, meanwhile); a
permanent one drops the batch (``reason="rejected"``). Each kind of trouble
is logged at most once per ``log_interval``.

A process killed without warning (SIGKILL, OOM) loses what was in memory, up
to ``memory_queue_bytes`` per sink, uncounted; with ``memory_queue_bytes=0``
every batch is written to the spool as it is queued, and nothing is lost
that way.
"""

from __future__ import annotations

import asyncio
import time

from openagent.delivery.metrics import (
    OLDEST_AGE,
    QUEUE_BATCHES,
    QUEUE_BYTES,
    RETRIED_BATCHES,
    SEND_SECONDS,
    SENT_BATCHES,
    SENT_SAMPLES,
    dropped,
)
from openagent.delivery.options import DeliveryOptions
from openagent.delivery.queue import MemoryQueue
from openagent.delivery.retry import Backoff
from openagent.delivery.spool import Position, Spool
from openagent.model import ScrapeResult
from openagent.sinks.base import Batch, Sink, SinkError
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")


class _Inflight:
    """The batch being sent, and where the spool keeps it (None: only in memory)."""

    __slots__ = ("batch", "pos", "unspillable")

    def __init__(self, batch: Batch, pos: Position | None) -> None:
        self.batch = batch
        self.pos = pos
        self.unspillable = False


class SinkLane:
    """The memory queue, spool and consumer task of one sink."""

    def __init__(self, sink: Sink, options: DeliveryOptions) -> None:
        self.sink = sink
        self.name = sink.name
        self.options = options
        self.memory = MemoryQueue(options.memory_queue_bytes)
        self.spool: Spool | None = None
        if options.spool_dir is not None:
            self.spool = Spool(
                options.spool_dir / sink.name,
                sink=sink.name,
                max_bytes=options.spool_max_bytes,
                fsync=options.spool_fsync,
                fsync_interval=options.spool_fsync_interval,
                segment_bytes=options.spool_segment_bytes,
            )
        self._backoff = Backoff(
            options.backoff_initial, options.backoff_max, retry_after_max=options.retry_after_max
        )
        self._throttle = Throttle(options.log_interval)
        self._inflight: _Inflight | None = None
        self._sending = False
        self._failing = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._state = "new"

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool (replaying it comes first) and start the consumer."""
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
        self._state = "running"
        self._tasks.append(asyncio.create_task(self._run(), name=f"delivery {self.name}"))
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
            self.put(batch)

    async def drain(self, within: float) -> bool:
        """Wait up to ``within`` seconds for everything queued to be delivered."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop sending; keep what is left in the spool (or count it dropped); close the sink."""
        if self._state == "closed":
            return
        self._state = "closed"
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        fl, self._inflight = self._inflight, None
        interrupted = self._sending and fl is not None
        left = ([fl.batch] if fl is not None and fl.pos is None else []) + self.memory.take_all()
        spool = self.spool
        if spool is not None:
            maybe_sent = False
            if fl is not None and fl.pos is not None:
                if spool.holds(fl.pos):
                    maybe_sent = interrupted
                else:  # its segment was dropped for space while it was being sent
                    dropped(self.name, "spool_full", fl.batch.samples)
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
        elif left:
            samples = sum(b.samples for b in left)
            dropped(self.name, "shutdown", samples)
            log.error(
                "batches left undelivered at shutdown (no spool configured)",
                sink=self.name,
                batches=len(left),
                samples=samples,
            )
        try:
            await self.sink.close()
        except Exception:
            log.exception("closing the sink failed", sink=self.name)
        for gauge in (QUEUE_BATCHES, QUEUE_BYTES, OLDEST_AGE):
            gauge.labels(self.name).set_function(lambda: 0)

    # -- the scrape side -------------------------------------------------------

    def submit(self, result: ScrapeResult) -> None:
        """Encode ``result`` for this sink and queue the batches; never blocks."""
        try:
            batches = self.sink.encode(result)
        except Exception as exc:
            samples = len(result.series) + len(result.stale)
            dropped(self.name, "encode_error", samples)
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
        for batch in batches:
            self.put(batch)

    def put(self, batch: Batch) -> None:
        """Queue one batch: into memory if it fits, else via the spool (or drop the oldest)."""
        if self._state != "running":
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
                    self._wake.set()
                    self._idle.clear()
                    return
        memory.push(batch)
        self._idle.clear()
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
        dropped(self.name, "queue_full", batch.samples)
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
        dropped(self.name, "shutdown", batch.samples)
        if self._throttle.allow("late"):
            log.error("batch queued after delivery stopped, dropped", sink=self.name)

    def oldest_age(self) -> float:
        """Seconds since the oldest sample of the head batch (being sent, else first in memory)."""
        fl = self._inflight
        head = fl.batch if fl is not None else self.memory.head()
        if head is None:
            return 0.0
        return max(0.0, time.time() - head.oldest_ms / 1000)

    # -- the consumer ------------------------------------------------------------

    async def _flush_every(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self.flush()

    async def _run(self) -> None:
        """The consumer; an unexpected error is logged and the consumer goes on."""
        await self._start_sink()
        while True:
            try:
                while True:
                    if self._inflight is None:
                        await self._take()
                    await self._deliver()
            except Exception:
                self._sending = False
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

    async def _take(self) -> None:
        """Make the next batch in line the in-flight one."""
        while True:
            spool = self.spool
            if spool is not None and spool.has_unread():
                got = await spool.read()
                if got is not None:
                    self._inflight = _Inflight(*got)
                    return
            elif len(self.memory):
                self._inflight = _Inflight(self.memory.pop(), None)
                return
            else:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()

    async def _deliver(self) -> None:
        fl = self._inflight
        assert fl is not None
        loop = asyncio.get_running_loop()
        self._backoff.reset()
        while True:
            started = loop.time()
            self._sending = True
            try:
                await self.sink.send(fl.batch)
            except SinkError as exc:
                self._sending = False
                SEND_SECONDS.labels(self.name).observe(loop.time() - started)
                if not exc.retryable:
                    self._give_up(fl, "rejected", str(exc))
                    return
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
                continue
            except Exception as exc:
                self._sending = False
                self._give_up(fl, "sink_error", repr(exc), trace=True)
                return
            self._sending = False
            SEND_SECONDS.labels(self.name).observe(loop.time() - started)
            SENT_SAMPLES.labels(self.name).inc(fl.batch.samples)
            SENT_BATCHES.labels(self.name).inc()
            if self._failing:
                self._failing = False
                if self._throttle.allow("recovered"):
                    log.info("sink accepts batches again", sink=self.name)
            self._finish(fl)
            return

    def _give_up(self, fl: _Inflight, reason: str, error: str, *, trace: bool = False) -> None:
        dropped(self.name, reason, fl.batch.samples)
        if self._throttle.allow(reason):
            (log.exception if trace else log.error)(
                "sink refused a batch, dropped" if reason == "rejected" else "sink failed, dropped",
                sink=self.name,
                reason=reason,
                error=error,
                samples=fl.batch.samples,
                suppressed=self._throttle.take_suppressed(reason),
            )
        self._finish(fl)

    def _finish(self, fl: _Inflight) -> None:
        if fl.pos is not None and self.spool is not None:
            self.spool.ack(fl.pos)
        self._inflight = None
