"""Hands every scrape result to every sink, without ever blocking a scrape loop.

Each sink encodes results into batches; each sink has its own bounded
in-memory queue of batches and its own consumer task, so a slow sink never
holds back another one or the scrapes. When a queue is full the oldest batch
is dropped and counted (``reason="queue_full"``). A retryable `SinkError` is
retried with capped exponential backoff and jitter; a permanent one drops
that batch and counts it.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Sequence

from openagent.model import ScrapeResult
from openagent.sinks.base import Batch, Sink, SinkError
from openagent.telemetry import SINK_BATCHES, SINK_QUEUE, Throttle, get_logger

log = get_logger("delivery")


class SinkQueue:
    """One sink's queue and consumer."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_batches: int,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.sink = sink
        self.max_batches = max_batches
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._queue: deque[Batch] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._throttle = Throttle(60.0)
        self._flusher: asyncio.Task[None] | None = None
        self.dropped = 0

    def submit(self, result: ScrapeResult) -> None:
        """Encode a result and queue its batches."""
        for batch in self.sink.encode(result):
            self.put(batch)

    def put(self, batch: Batch) -> None:
        """Queue a batch; drop the oldest one when full."""
        if len(self._queue) >= self.max_batches:
            self._queue.popleft()
            self.dropped += 1
            SINK_BATCHES.labels(self.sink.name, "dropped_queue_full").inc()
            if self._throttle.allow("full"):
                log.warning(
                    "sink queue full, dropping oldest batches",
                    sink=self.sink.name,
                    capacity=self.max_batches,
                    dropped_total=self.dropped,
                )
        self._queue.append(batch)
        self._idle.clear()
        self._ready.set()
        SINK_QUEUE.labels(self.sink.name).set(len(self._queue))

    def start(self) -> None:
        """Start the consumer task (and the flush timer when the sink batches)."""
        self._task = asyncio.create_task(self._consume(), name=f"sink {self.sink.name}")
        if self.sink.max_batch_delay > 0:
            self._flusher = asyncio.create_task(self._flush_every(self.sink.max_batch_delay))

    async def _flush_every(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self.flush()

    def flush(self) -> None:
        """Queue whatever the sink holds back."""
        for batch in self.sink.flush():
            self.put(batch)

    async def _consume(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            batch = self._queue[0]
            await self._deliver(batch)
            if self._queue and self._queue[0] is batch:
                self._queue.popleft()
            SINK_QUEUE.labels(self.sink.name).set(len(self._queue))

    async def _deliver(self, batch: Batch) -> None:
        delay = self.backoff_initial
        while True:
            try:
                await self.sink.send(batch)
                SINK_BATCHES.labels(self.sink.name, "sent").inc()
                return
            except SinkError as exc:
                if not exc.retryable:
                    SINK_BATCHES.labels(self.sink.name, "dropped_rejected").inc()
                    if self._throttle.allow("rejected"):
                        log.error("sink rejected a batch", sink=self.sink.name, error=str(exc))
                    return
                SINK_BATCHES.labels(self.sink.name, "retried").inc()
                if self._throttle.allow("retry"):
                    log.warning("sink send failed, retrying", sink=self.sink.name, error=str(exc))
                wait = exc.retry_after if exc.retry_after is not None else delay
                await asyncio.sleep(wait * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.backoff_max)

    async def drain(self, within: float) -> bool:
        """Wait until the queue is empty, at most ``within`` seconds; True if it emptied."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def close(self) -> int:
        """Stop the consumer and close the sink; return the batches left undelivered."""
        for task in (self._flusher, self._task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        left = len(self._queue)
        if left:
            SINK_BATCHES.labels(self.sink.name, "dropped_shutdown").inc(left)
        await self.sink.close()
        return left


class Fanout:
    """Submits each result to every sink's queue."""

    def __init__(self, sinks: Sequence[Sink], *, max_batches: int = 10_000) -> None:
        self.queues = [SinkQueue(s, max_batches=max_batches) for s in sinks]

    def submit(self, result: ScrapeResult) -> None:
        """Queue ``result`` for every sink; never blocks."""
        for q in self.queues:
            q.submit(result)

    async def start(self) -> None:
        """Start the sinks and their consumers."""
        for q in self.queues:
            await q.sink.start()
            q.start()

    async def close(self, grace: float) -> None:
        """Deliver what is queued for up to ``grace`` seconds, then close every sink."""
        for q in self.queues:
            q.flush()
        await asyncio.gather(*(q.drain(grace) for q in self.queues))
        for q in self.queues:
            left = await q.close()
            if left:
                log.error("batches left undelivered at shutdown", sink=q.sink.name, batches=left)
