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

    It only keeps count; what happens when a batch does not fit (drop the
    oldest) is the caller's decision.
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


#: A spool position as the read cache keys it: (segment id, start offset).
Key = tuple[int, int]


class ReadCache:
    """The newest spooled batches, kept in memory so the sender need not read them back.

    With a spool, every batch is written to it before it counts as queued;
    this cache holds a copy of the newest ones, keyed by where the spool put
    them, oldest first, at most ``max_bytes`` (by `batch_cost`). Letting an
    entry go loses nothing: the spool reads it back from its segment file.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"read cache size must not be negative, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: dict[Key, tuple[Batch, int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: Key, end: int, batch: Batch) -> None:
        """Keep ``batch`` (spooled at ``key``, ending at ``end``); let the oldest go if full."""
        cost = batch_cost(batch)
        if cost > self.max_bytes:
            return
        self._items[key] = (batch, end)
        self.bytes += cost
        while self.bytes > self.max_bytes:
            self._pop_oldest()

    def first(self) -> Key | None:
        """The key of the oldest entry."""
        return next(iter(self._items), None)

    def oldest_ms(self) -> int | None:
        """``oldest_ms`` of the oldest entry."""
        for batch, _ in self._items.values():
            return batch.oldest_ms
        return None

    def size_at(self, key: Key) -> int | None:
        """Payload bytes of the batch at ``key``, if it is kept."""
        got = self._items.get(key)
        return len(got[0].payload) if got is not None else None

    def take(self, key: Key) -> tuple[Batch, int] | None:
        """Remove and return the batch at ``key`` (and its end offset); forget older ones."""
        while (head := self.first()) is not None and head < key:
            self._pop_oldest()
        got = self._items.pop(key, None)
        if got is not None:
            self.bytes -= batch_cost(got[0])
        return got

    def forget_through(self, segment: int) -> None:
        """Forget every entry of segments up to ``segment`` (deleted from the spool)."""
        while (head := self.first()) is not None and head[0] <= segment:
            self._pop_oldest()

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self.bytes = 0

    def _pop_oldest(self) -> None:
        key = next(iter(self._items))
        batch, _ = self._items.pop(key)
        self.bytes -= batch_cost(batch)
