"""The `Sink` protocol: where scrape results go, in two steps, and what became of each sample.

A sink first *encodes* scrape results into `Batch` objects, synchronously, on
the scrape path (it may hold samples back to build bigger batches, up to
``max_batch_delay`` seconds, and hands them out on ``flush``). The delivery
layer then owns those batches: it queues them (on the on-disk spool when
there is one, the newest also in memory), and calls ``send`` for each one, in order,
retrying on retryable errors. A batch's payload is opaque bytes to
everything but its sink, so a spooled batch replays without re-encoding.

Nothing is lost silently. A sample handed to a sink (every series of a
result, its stale markers when the sink carries them, and each of its native
histograms, one sample each, when the sink has a true ``native_histograms``
attribute, with their stale markers when it also carries those) ends up in a
batch, or in a `Loss` that ``encode`` reports (a value or a series the
destination cannot take); a batch ``send`` was given ends up delivered or in
the `Loss` that ``send`` returns (the destination refused part of it for
good). The delivery layer books both in its one loss ledger.

A sink whose destination can confirm arrival (`ConfirmingSink`: the Whatap
collector answers a TIME_SYNC after every frame sent before it) is handed
*groups* of batches instead: it writes them all, then waits for the
confirmation, and only then are they counted as sent. A group that was not
confirmed is sent again, whole, and the batches of it that had been written
are counted as possible duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from openagent.model import ScrapeResult


class SinkError(Exception):
    """A sink could not deliver a batch.

    ``retryable`` tells the delivery layer whether the same batch may succeed
    later (connection lost, timeout, 5xx, 429) or never will (a 4xx rejection).
    ``retry_after`` is a server's hint in seconds, when it gave one.
    ``written`` (confirming sinks only) says how many batches of the group,
    from its start, were written before the failure: they may have arrived,
    so sending them again may make duplicates.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        written: int = 0,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.written = written


@dataclass(frozen=True, slots=True)
class Batch:
    """An encoded unit of delivery.

    ``samples`` counts the samples (stale markers included) it carries, for
    accounting; ``oldest_ms`` is the timestamp of its oldest sample.
    """

    payload: bytes
    samples: int
    oldest_ms: int


@dataclass(frozen=True, slots=True)
class Loss:
    """``samples`` that will never reach the destination, and why (a metrics label)."""

    reason: str
    samples: int


@dataclass(frozen=True, slots=True)
class Encoded:
    """What ``encode`` made of a result: batches, and the samples it could not encode."""

    batches: list[Batch]
    losses: tuple[Loss, ...] = ()


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of a batch given to ``send``: delivered whole (``loss`` None) or not."""

    loss: Loss | None = None


#: ``send``'s answer when the destination took the whole batch.
DELIVERED = Sent()


@runtime_checkable
class Sink(Protocol):
    """A destination for scrape results."""

    name: str
    #: Longest time (seconds) ``encode`` may hold samples back before ``flush`` must run.
    max_batch_delay: float
    #: Whether stale markers are handed to this sink (False: its format has no staleness).
    stale_markers: bool
    #: The reasons this sink may give in a `Loss`, besides the delivery layer's own.
    loss_reasons: tuple[str, ...]

    def use_series_slot(self, slot: str | None) -> None:
        """Cache per-series encodings in this `Series` attribute (None: cache nothing).

        The delivery layer hands each sink its own slot before the first
        ``encode``; two sinks never share one.
        """

    def encode(self, result: ScrapeResult) -> Encoded:
        """Encode one result; may return no batch yet (samples held for a bigger one)."""
        ...

    def flush(self) -> list[Batch]:
        """Return whatever ``encode`` is holding back."""
        ...

    async def start(self) -> None:
        """Open connections; called once before the first send."""

    async def send(self, batch: Batch) -> Sent:
        """Deliver one batch and say what became of it; raise SinkError to have it retried
        (``retryable``) or dropped as rejected."""
        ...

    async def close(self) -> None:
        """Release resources; called once after the last send."""


@runtime_checkable
class ConfirmingSink(Sink, Protocol):
    """A sink whose destination confirms arrival; the delivery layer sends it groups.

    ``confirm_batches`` and ``confirm_bytes`` bound one group (the data at
    risk while a confirmation is awaited).
    """

    confirm_batches: int
    confirm_bytes: int

    async def send_confirmed(self, batches: Sequence[Batch]) -> list[Sent]:
        """Write every batch in order, then wait until the destination confirms them all.

        Returns one `Sent` per batch. Raises SinkError when the group was not
        confirmed (``retryable``: it is sent again, whole; ``written`` tells how
        many of its batches may have arrived anyway).
        """
        ...
