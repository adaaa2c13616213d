"""The read side of a spool: where reading has got to, and what was read ahead.

The consumer reads the oldest records first. The newest records also stay
in memory (a `ReadCache` of ``cache_bytes``, keyed by position) as they are
appended, so a consumer that keeps up reads them from there and never from
the disk; only records the cache had to let go are read back from their
segment, by a `SegmentReader` in a worker thread, up to 1 MiB at a time.

Damaged records are skipped with an ERROR naming the file and byte offset,
and counted (``spool_corrupt``, or
``openagent_delivery_spool_corrupt_bytes_total`` when no header says how many
samples were lost).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import CORRUPT_BYTES
from openagent.delivery.queue import ReadCache
from openagent.delivery.recovery import Segment
from openagent.delivery.segment import Damage, Record, SegmentReader, close_after
from openagent.delivery.spool_position import Position
from openagent.delivery.spool_segments import Segments
from openagent.sinks.base import Batch
from openagent.telemetry import get_logger

log = get_logger("delivery")

READ_AHEAD_BYTES = 1024 * 1024


class SpoolCursor:
    """The next record to hand out of ``segments``: read ahead from disk, or from ``cache``.

    ``segment`` and ``offset`` say how far the segment files were read;
    records read ahead wait in order until they are taken. ``settle`` is
    called when reading moved on (the spool may move its position). What is
    damaged is booked in ``ledger``.
    """

    def __init__(
        self,
        segments: Segments,
        cache: ReadCache,
        *,
        sink: str,
        ledger: Ledger,
        settle: Callable[[], None],
    ) -> None:
        self.segment = 0
        self.offset = 0
        self._segments = segments
        self._cache = cache
        self._sink = sink
        self._ledger = ledger
        self._settle = settle
        self._reader: SegmentReader | None = None
        self._filling = False
        self._generation = 0
        self._ahead: deque[tuple[Batch, Position]] = deque()

    def at(self) -> tuple[int, int]:
        """Start of the next record to hand out."""
        if self._ahead:
            p = self._ahead[0][1]
            return p.segment, p.start
        return self._segments.normalise((self.segment, self.offset))

    def has_unread(self) -> bool:
        """True when a record waits that has not been handed out."""
        if self._ahead:
            return True
        writer = self._segments.writer
        return self.segment < writer.id or self.offset < writer.size

    def oldest_ms(self) -> int | None:
        """``oldest_ms`` of the next record, when it is at hand."""
        if self._ahead:
            return self._ahead[0][0].oldest_ms
        return self._cache.oldest_ms()

    def next_size(self) -> int | None:
        """Payload bytes of the next record if it is at hand (read ahead, or cached)."""
        if self._ahead:
            return len(self._ahead[0][0].payload)
        if not self.has_unread():
            return None
        return self._cache.size_at(self._segments.normalise((self.segment, self.offset)))

    async def next(self) -> tuple[Batch, Position] | None:
        """Take the next record; None when nothing (readable) is left."""
        while True:
            if self._ahead:
                batch, pos = self._ahead.popleft()
                self._cache.take((pos.segment, pos.start))
                return batch, pos
            if not self.has_unread():
                return None
            cached = self._cached_next()
            if cached is not None:
                return cached
            await self._fill()

    def detach(self, segment_id: int) -> None:
        """Point the cursor at the start of ``segment_id``, dropping its read-ahead."""
        if self._reader is not None:
            if self._filling:
                self._generation += 1  # `_fill` closes it when its read returns
            else:
                self._reader.close()
            self._reader = None
        self._ahead.clear()
        self.segment, self.offset = segment_id, 0

    def close(self) -> None:
        """Let the segment file go (a read under way closes it when it returns)."""
        if self._reader is not None and not self._filling:
            self._reader.close()
        self._reader = None

    def _cached_next(self) -> tuple[Batch, Position] | None:
        """The next record from the cache, the reader moved past it; None if not cached."""
        at = self._segments.normalise((self.segment, self.offset))
        if at[0] != self.segment:
            self.detach(at[0])
        got = self._cache.take(at)
        if got is None:
            return None
        batch, end = got
        self.offset = end
        if self._reader is not None and not self._filling:
            self._reader.offset = end
        return batch, Position(at[0], at[1], end)

    async def _fill(self) -> None:
        seg = self._segments[self.segment]
        if self.offset >= seg.size:
            self.detach(self._segments.next_id(seg.id))
            self._settle()
            return
        if self._reader is None:
            self._reader = SegmentReader(seg.path, self.offset)
        reader, generation = self._reader, self._generation
        events = await self._read(reader, seg)
        if generation != self._generation:  # the segment was dropped meanwhile
            reader.close()
            return
        self.offset = reader.offset
        for event in events:
            if isinstance(event, Record):
                self._ahead.append((event.batch, Position(seg.id, event.start, event.end)))
            else:
                self._damaged(seg, event)
        self._settle()

    async def _read(self, reader: SegmentReader, seg: Segment) -> list[Record | Damage]:
        """Read ahead in ``seg`` in a worker thread, up to where the cache has it."""
        limit = seg.size
        cached = self._cache.first()
        if cached is not None and cached[0] == seg.id and cached[1] > self.offset:
            limit = cached[1]  # from there on the cache has it
        self._filling = True
        job = asyncio.ensure_future(asyncio.to_thread(reader.read, limit, READ_AHEAD_BYTES))
        try:
            return await asyncio.shield(job)
        except OSError as exc:
            reader.offset = seg.size
            return [Damage(self.offset, seg.size, seg.samples, f"read failed: {exc}")]
        except asyncio.CancelledError:
            self._reader = None
            job.add_done_callback(lambda done: close_after(done, reader))
            raise
        finally:
            self._filling = False

    def _damaged(self, seg: Segment, damage: Damage) -> None:
        if damage.samples is not None:
            self._ledger.dropped("spool_corrupt", damage.samples)
            seg.records = max(0, seg.records - 1)
            seg.samples = max(0, seg.samples - damage.samples)
        else:
            CORRUPT_BYTES.labels(self._sink).inc(damage.end - damage.start)
        log.error(
            "damaged spool record skipped",
            sink=self._sink,
            file=str(seg.path),
            offset=damage.start,
            bytes=damage.end - damage.start,
            samples=damage.samples,
            reason=damage.reason,
        )
