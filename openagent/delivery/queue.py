"""A sink's in-memory queue of batches, bounded by bytes."""

from __future__ import annotations

from collections import deque

from openagent.sinks.base import Batch

#: What a queued batch costs besides its payload (the Batch object, the bytes header, the slot).
BATCH_OVERHEAD = 128


def batch_cost(batch: Batch) -> int:
    """Bytes a batch is charged in a memory queue."""
    return len(batch.payload) + BATCH_OVERHEAD


class MemoryQueue:
    """FIFO of batches holding at most ``max_bytes`` (by `batch_cost`).

    It only keeps count; what happens when a batch does not fit (spill to the
    spool, or drop the oldest) is the caller's decision.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"memory queue size must not be negative, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: deque[Batch] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def fits(self, batch: Batch) -> bool:
        """True if ``batch`` can be added without passing the limit."""
        return self.bytes + batch_cost(batch) <= self.max_bytes

    def push(self, batch: Batch) -> None:
        """Add ``batch`` at the tail (the caller checked `fits`)."""
        self._items.append(batch)
        self.bytes += batch_cost(batch)

    def pop(self) -> Batch:
        """Remove and return the oldest batch."""
        batch = self._items.popleft()
        self.bytes -= batch_cost(batch)
        return batch

    def head(self) -> Batch | None:
        """The oldest batch, left in place."""
        return self._items[0] if self._items else None

    def take_all(self) -> list[Batch]:
        """Empty the queue, returning its batches oldest first."""
        items = list(self._items)
        self._items.clear()
        self.bytes = 0
        return items
