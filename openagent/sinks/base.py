"""The `Sink` protocol: where scrape results go, in two steps.

A sink first *encodes* scrape results into `Batch` objects, synchronously, on
the scrape path (it may hold samples back to build bigger batches, up to
``max_batch_delay`` seconds, and hands them out on ``flush``). The delivery
layer then owns those batches: it queues them in memory, spills them to the
on-disk spool when needed, and calls ``send`` for each one, in order,
retrying on retryable errors. A batch's payload is opaque bytes to
everything but its sink, so a spooled batch replays without re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from openagent.model import ScrapeResult


class SinkError(Exception):
    """A sink could not deliver a batch.

    ``retryable`` tells the delivery layer whether the same batch may succeed
    later (connection lost, timeout, 5xx, 429) or never will (a 4xx rejection).
    ``retry_after`` is a server's hint in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Batch:
    """An encoded unit of delivery.

    ``samples`` counts the samples (stale markers included) it carries, for
    accounting; ``oldest_ms`` is the timestamp of its oldest sample.
    """

    payload: bytes
    samples: int
    oldest_ms: int


@runtime_checkable
class Sink(Protocol):
    """A destination for scrape results."""

    name: str
    #: Longest time (seconds) ``encode`` may hold samples back before ``flush`` must run.
    max_batch_delay: float

    def encode(self, result: ScrapeResult) -> list[Batch]:
        """Encode one result; may return nothing yet (held for a bigger batch)."""
        ...

    def flush(self) -> list[Batch]:
        """Return whatever ``encode`` is holding back."""
        ...

    async def start(self) -> None:
        """Open connections; called once before the first send."""

    async def send(self, batch: Batch) -> None:
        """Deliver one batch; return only once the destination took it, else raise SinkError."""

    async def close(self) -> None:
        """Release resources; called once after the last send."""
