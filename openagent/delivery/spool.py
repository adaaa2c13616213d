"""A sink's on-disk spool: an append-only FIFO of batches in segment files.

Layout of a spool directory (one per sink)::

    0000000000000001.seg  0000000000000002.seg  ...  checkpoint.json  position

Records (see `openagent.delivery.record`) are appended to the newest segment;
a segment is sealed once the next record would take it past
``segment_bytes``, and a new one begins. Each process start begins a new
segment, so a torn tail left by a crash stays where it was and is stepped
over when read. The consumer reads the oldest records first; once it is past
a whole segment the file is deleted. Its position is kept in
``checkpoint.json`` and the ``position`` mark (see
`openagent.delivery.checkpoint`), so a restart resumes where delivery
stopped.

Several records may be handed out at once (a confirming sink's group);
they are acknowledged in order, and the position never moves past one that
is still out. Delivery is at least once: what was handed out when the
process died (or whose send the shutdown cut short) is sent again after the
restart and counted in ``openagent_delivery_replayed_samples_total`` (the
position mark says how far it went). A process crash resends at most that
one record or group; a power loss may resend up to about one fsync interval
of records, uncounted, and under ``interval`` or ``never`` lose spooled data
that was not yet on disk.

The newest records also stay in memory (a `ReadCache` of
``cache_bytes``, keyed by position) as they are appended, so a consumer
that keeps up reads them from there and never from the disk; only records
the cache had to let go are read back from their segment.

``max_bytes`` caps the segment files on disk. An append that would pass it
first deletes the oldest segments, whole, and counts their unsent samples as
dropped (``reason="spool_full"``). Damaged records are skipped with an ERROR
naming the file and byte offset, and counted (``spool_corrupt``, or
``openagent_delivery_spool_corrupt_bytes_total`` when no header says how many
samples were lost).

Appends and position marks run inline (a ``write`` into the page cache);
reads run in a worker thread, up to 1 MiB at a time; fsync, closing and
deleting files and rewriting the checkpoint go to the `Syncer`.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from openagent.delivery.checkpoint import Checkpoint, PositionMark, store_checkpoint
from openagent.delivery.fsync import FsyncPolicy, Syncer
from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import (
    CORRUPT_BYTES,
    REPLAYED_SAMPLES,
    SPOOL_BYTES,
    SPOOL_RECOVERY_ERRORS,
    SPOOL_SAMPLES,
    SPOOL_SEGMENTS,
)
from openagent.delivery.queue import ReadCache
from openagent.delivery.record import HEADER_SIZE, encode_header
from openagent.delivery.recovery import Findings, Segment, recover, segment_name
from openagent.delivery.segment import Damage, Record, SegmentReader, close_after
from openagent.sinks.base import Batch
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")

DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
READ_AHEAD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record lies: its segment and byte range."""

    segment: int
    start: int
    end: int


class Spool:
    """One sink's spool directory. Call `open` before anything else.

    What the last run left is booked as recovered, and what is dropped (for
    space, or as damage) as dropped, in ``ledger`` (the sink's own, or a new
    one for ``sink``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        sink: str,
        max_bytes: int,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
        segment_bytes: int | None = None,
        ledger: Ledger | None = None,
        cache_bytes: int = 0,
    ) -> None:
        self.directory = directory
        self.sink = sink
        self.ledger = ledger if ledger is not None else Ledger(sink)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(
            DEFAULT_SEGMENT_BYTES, max(64 * 1024, max_bytes // 8)
        )
        self._syncer = Syncer(directory, fsync, interval=fsync_interval)
        self._mark: PositionMark | None = None
        self._segments: dict[int, Segment] = {}
        self._writer = Segment(0, directory)
        self._wfd = -1
        self._bytes = 0
        self._rseg = 0
        self._roff = 0
        self._reader: SegmentReader | None = None
        self._filling = False
        self._generation = 0
        self._ahead: deque[tuple[Batch, Position]] = deque()
        self.cache = ReadCache(cache_bytes)
        #: Records handed out and not yet acknowledged, oldest first, with their samples.
        self._handed: deque[tuple[Position, int]] = deque()
        self._cursor_at: tuple[int, int] = (0, 0)
        self._dup_at: tuple[int, int] | None = None
        self._dup_until: tuple[int, int] | None = None
        self._dup_below = 0
        self._throttle = Throttle(60.0)

    # -- state -----------------------------------------------------------------

    @property
    def bytes(self) -> int:
        """Bytes of segment files on disk."""
        return self._bytes

    @property
    def segments(self) -> int:
        """Number of segment files."""
        return len(self._segments)

    @property
    def unread_samples(self) -> int:
        """Samples not yet handed out."""
        return sum(s.samples for s in self._segments.values())

    @property
    def sync_rounds(self) -> int:
        """How many rounds of background disk work (fsync, close, delete) ran."""
        return self._syncer.rounds

    @property
    def handed_out(self) -> int:
        """Records handed out by `read` and not yet acknowledged."""
        return len(self._handed)

    def oldest_ms(self) -> int | None:
        """``oldest_ms`` of the first record not yet delivered, when it is at hand."""
        if self._ahead:
            return self._ahead[0][0].oldest_ms
        return self.cache.oldest_ms()

    def has_unread(self) -> bool:
        """True when a record waits that `read` has not handed out."""
        if self._ahead:
            return True
        return self._rseg < self._writer.id or self._roff < self._writer.size

    def holds(self, pos: Position) -> bool:
        """True while the record at ``pos`` is still on disk (not dropped for space)."""
        return pos.segment in self._segments

    # -- open and close --------------------------------------------------------

    async def open(self) -> None:
        """Take over the directory: find what the last run left, start a new segment."""
        findings = await asyncio.to_thread(self._load)
        for level, message, fields in findings.notes:
            getattr(log, level)(message, sink=self.sink, **fields)
        for problem, count in findings.problems.items():
            SPOOL_RECOVERY_ERRORS.labels(self.sink, problem).inc(count)
        if findings.corrupt_bytes:
            CORRUPT_BYTES.labels(self.sink).inc(findings.corrupt_bytes)
        if self._dup_at is not None and self._mark is not None:
            handed = self._mark.read_handed()  # a group may have been out: all of it may be sent
            if handed is not None and handed > self._dup_at:
                self._dup_until = handed
        self.ledger.recovered(self.unread_samples)
        self._syncer.start()
        SPOOL_BYTES.labels(self.sink).set_function(lambda: self._bytes)
        SPOOL_SEGMENTS.labels(self.sink).set_function(lambda: len(self._segments))
        SPOOL_SAMPLES.labels(self.sink).set_function(lambda: self.unread_samples)

    def _load(self) -> Findings:
        """Runs in a worker thread at start."""
        found = recover(self.directory)
        self._mark = found.mark
        for seg in found.segments:
            self._segments[seg.id] = seg
            self._bytes += seg.size
        self._open_writer(found.next_id)
        self._rseg, self._roff = found.start
        if found.position_lost:
            self._dup_below = found.next_id
        elif found.segments and found.maybe_sent:
            self._dup_at = self._normalise(found.start)
        self._cursor_at = self._cursor()
        if found.segments:
            fields: dict[str, object] = {
                "directory": str(self.directory),
                "segments": len(found.segments),
                "bytes": self._bytes,
                "samples": self.unread_samples,
            }
            found.findings.notes.append(("info", "spool found, replaying it first", fields))
        return found.findings

    async def close(self, *, maybe_sent: bool = False, sent_until: Position | None = None) -> None:
        """Make everything durable and release the files.

        ``maybe_sent`` says the first unsent record may already have been
        delivered (its send was interrupted), and ``sent_until`` the end of
        the last handed-out record that may have been (all of them if None);
        the next start counts them.
        """
        cursor = self._cursor_at = self._cursor()
        handed: tuple[int, int] | None = None
        if maybe_sent:
            handed = (
                self._handed_end() if sent_until is None else (sent_until.segment, sent_until.end)
            )
        self.cache.clear()
        if self._reader is not None and not self._filling:
            self._reader.close()
        self._reader = None
        self._syncer.retire(self._wfd)
        if cursor >= (self._writer.id, self._writer.size):  # nothing left in it to send
            del self._segments[self._writer.id]
            self._syncer.remove(self._writer.path)
        await self._syncer.close()
        cp = Checkpoint(cursor[0], cursor[1], maybe_sent)
        try:
            await asyncio.to_thread(self._final_position, cp, handed)
        except OSError as exc:
            log.error("cannot write the spool checkpoint", sink=self.sink, error=str(exc))
        for gauge in (SPOOL_BYTES, SPOOL_SEGMENTS, SPOOL_SAMPLES):
            gauge.labels(self.sink).set_function(lambda: 0)

    def _final_position(self, cp: Checkpoint, handed: tuple[int, int] | None) -> None:
        """Runs in a worker thread at close."""
        store_checkpoint(self.directory, cp, fsync=self._syncer.syncs)
        if self._mark is not None:
            self._mark.write(cp.segment, cp.offset, handed)
            self._mark.close()
            self._mark = None

    # -- writing ---------------------------------------------------------------

    def append(self, batch: Batch, *, count_refused: bool = True) -> Position | None:
        """Append ``batch`` (and keep a copy in the cache); its position, or None if it
        could not be kept (then it is counted as dropped, unless not ``count_refused``:
        the caller keeps it elsewhere)."""
        need = HEADER_SIZE + len(batch.payload)
        if need > self.max_bytes:
            self._refuse(batch, count_refused, "spool_full", "batch is larger than the spool")
            return None
        try:
            if self._writer.size and self._writer.size + need > self.segment_bytes:
                self._rotate()
            while self._bytes + need > self.max_bytes:
                oldest = next(iter(self._segments.values()))
                if oldest is self._writer:
                    self._rotate()
                else:
                    self._drop(oldest)
            header = encode_header(batch.payload, batch.samples, batch.oldest_ms)
        except (OSError, ValueError) as exc:
            self._refuse(batch, count_refused, "spool_error", str(exc))
            return None
        w = self._writer
        start = w.size
        try:
            written = os.writev(self._wfd, (header, batch.payload))
            if written != need:
                raise OSError(f"short write: {written} of {need} bytes")
        except OSError as exc:
            try:
                os.ftruncate(self._wfd, start)
            except OSError:
                pass
            self._refuse(batch, count_refused, "spool_error", f"writing {w.path}: {exc}")
            return None
        w.size += need
        self._bytes += need
        w.records += 1
        w.samples += batch.samples
        self._syncer.wrote(self._wfd, need)
        if self.cache.max_bytes:
            self.cache.put((w.id, start), start + need, batch)
        return Position(w.id, start, start + need)

    def _refuse(self, batch: Batch, count: bool, reason: str, why: str) -> None:
        if count:
            self.ledger.dropped(reason, batch.samples)
        if self._throttle.allow(reason):
            log.error(
                "spool cannot keep a batch"
                if count
                else "spool cannot keep a batch, kept in memory",
                sink=self.sink,
                reason=reason,
                error=why,
                samples=batch.samples,
                suppressed=self._throttle.take_suppressed(reason),
            )

    def _open_writer(self, segment_id: int) -> None:
        path = self.directory / segment_name(segment_id)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._wfd = os.open(path, flags, 0o644)
        self._writer = Segment(segment_id, path)
        self._segments[segment_id] = self._writer

    def _rotate(self) -> None:
        """Seal the writer's segment and start the next one."""
        old_fd = self._wfd
        self._open_writer(self._writer.id + 1)
        self._syncer.retire(old_fd)

    def _drop(self, seg: Segment) -> None:
        """Delete the oldest segment to make room; its unsent samples are lost."""
        self.ledger.dropped("spool_full", seg.samples)
        if self._throttle.allow("spool_full"):
            log.warning(
                "spool full, dropping its oldest segment",
                sink=self.sink,
                file=str(seg.path),
                samples=seg.samples,
                max_bytes=self.max_bytes,
                suppressed=self._throttle.take_suppressed("spool_full"),
            )
        self._remove(seg.id)
        self._settle()

    def _remove(self, segment_id: int) -> None:
        seg = self._segments.pop(segment_id)
        self.cache.forget_through(segment_id)
        self._bytes -= seg.size
        if segment_id == self._rseg:
            self._detach_reader(self._next_id(segment_id))
        self._syncer.remove(seg.path)

    def _next_id(self, segment_id: int) -> int:
        return next((s for s in self._segments if s > segment_id), self._writer.id)

    # -- reading ---------------------------------------------------------------

    async def read(self) -> tuple[Batch, Position] | None:
        """Hand out the oldest unread batch; None when nothing (readable) is left.

        The consumer sends it and then calls `ack`; until then it counts as
        not delivered (a restart sends it again). Several may be out at once;
        they are acknowledged in the order they were handed out.
        """
        while True:
            if self._ahead:
                batch, pos = self._ahead.popleft()
                self.cache.take((pos.segment, pos.start))
                break
            if not self.has_unread():
                return None
            cached = self._cached_next()
            if cached is not None:
                batch, pos = cached
                break
            await self._fill()
        seg = self._segments[pos.segment]
        seg.records -= 1
        seg.samples -= batch.samples
        self._handed.append((pos, batch.samples))
        return batch, pos

    def _cached_next(self) -> tuple[Batch, Position] | None:
        """The next unread record from the cache, the reader moved past it; None if not cached."""
        at = self._normalise((self._rseg, self._roff))
        if at[0] != self._rseg:
            self._detach_reader(at[0])
        got = self.cache.take(at)
        if got is None:
            return None
        batch, end = got
        self._roff = end
        if self._reader is not None and not self._filling:
            self._reader.offset = end
        return batch, Position(at[0], at[1], end)

    def next_size(self) -> int | None:
        """Payload bytes of the next unread record if it is at hand (read ahead, or cached)."""
        if self._ahead:
            return len(self._ahead[0][0].payload)
        if not self.has_unread():
            return None
        return self.cache.size_at(self._normalise((self._rseg, self._roff)))

    def note_handed(self) -> None:
        """Record in the position mark how far records are handed out (before sending a group).

        A restart after a crash then counts all of them as possible duplicates.
        """
        if self._mark is not None and self._handed:
            try:
                self._mark.write(*self._cursor(), self._handed_end())
            except OSError as exc:
                if self._throttle.allow("position"):
                    log.error("cannot write the spool position", sink=self.sink, error=str(exc))

    def ack(self, pos: Position, *, maybe_sent: bool = False) -> None:
        """The oldest batch handed out, at ``pos``, was delivered (or dropped): move on.

        ``maybe_sent``: it had been written before, so this delivery may be a
        duplicate (counted as replayed, once).
        """
        if not self._handed or self._handed[0][0] != pos:
            return
        _, samples = self._handed.popleft()
        at = (pos.segment, pos.start)
        if (
            maybe_sent
            or at == self._dup_at
            or (self._dup_until is not None and at < self._dup_until)
            or pos.segment < self._dup_below
        ):
            REPLAYED_SAMPLES.labels(self.sink).inc(samples)
        self._dup_at = None
        if self._dup_until is not None and at >= self._dup_until:
            self._dup_until = None
        self._settle()

    async def _fill(self) -> None:
        seg = self._segments[self._rseg]
        if self._roff >= seg.size:
            self._detach_reader(self._next_id(seg.id))
            self._settle()
            return
        if self._reader is None:
            self._reader = SegmentReader(seg.path, self._roff)
        reader, generation = self._reader, self._generation
        limit = seg.size
        cached = self.cache.first()
        if cached is not None and cached[0] == seg.id and cached[1] > self._roff:
            limit = cached[1]  # from there on the cache has it
        self._filling = True
        job = asyncio.ensure_future(asyncio.to_thread(reader.read, limit, READ_AHEAD_BYTES))
        try:
            events = await asyncio.shield(job)
        except OSError as exc:
            events = [Damage(self._roff, seg.size, seg.samples, f"read failed: {exc}")]
            reader.offset = seg.size
        except asyncio.CancelledError:
            self._reader = None
            job.add_done_callback(lambda done: close_after(done, reader))
            raise
        finally:
            self._filling = False
        if generation != self._generation:  # the segment was dropped meanwhile
            reader.close()
            return
        self._roff = reader.offset
        for event in events:
            if isinstance(event, Record):
                self._ahead.append((event.batch, Position(seg.id, event.start, event.end)))
            else:
                self._damaged(seg, event)
        self._settle()

    def _damaged(self, seg: Segment, damage: Damage) -> None:
        if damage.samples is not None:
            self.ledger.dropped("spool_corrupt", damage.samples)
            seg.records = max(0, seg.records - 1)
            seg.samples = max(0, seg.samples - damage.samples)
        else:
            CORRUPT_BYTES.labels(self.sink).inc(damage.end - damage.start)
        log.error(
            "damaged spool record skipped",
            sink=self.sink,
            file=str(seg.path),
            offset=damage.start,
            bytes=damage.end - damage.start,
            samples=damage.samples,
            reason=damage.reason,
        )

    def _detach_reader(self, segment_id: int) -> None:
        """Point the reader at the start of ``segment_id``, dropping its read-ahead."""
        if self._reader is not None:
            if self._filling:
                self._generation += 1  # `_fill` closes it when its read returns
            else:
                self._reader.close()
            self._reader = None
        self._ahead.clear()
        self._rseg, self._roff = segment_id, 0

    # -- the consumer position ---------------------------------------------------

    def _normalise(self, at: tuple[int, int]) -> tuple[int, int]:
        seg = self._segments.get(at[0])
        if seg is not None and seg is not self._writer and at[1] >= seg.size:
            return self._next_id(seg.id), 0
        return at

    def _cursor(self) -> tuple[int, int]:
        """Start of the first record not yet delivered."""
        for h, _ in self._handed:
            if h.segment in self._segments:
                return h.segment, h.start
        if self._ahead:
            p = self._ahead[0][1]
            return p.segment, p.start
        return self._normalise((self._rseg, self._roff))

    def _handed_end(self) -> tuple[int, int]:
        """End of the last record handed out (the cursor when none is out)."""
        if self._handed:
            last = self._handed[-1][0]
            return last.segment, last.end
        return self._cursor()

    def _settle(self) -> None:
        """Move the checkpoint to the cursor; delete the segments wholly behind it."""
        cursor = self._cursor()
        if cursor == self._cursor_at:
            return
        self._cursor_at = cursor
        for sid in [s for s in self._segments if s < cursor[0]]:
            self._remove(sid)
        self._syncer.checkpoint(Checkpoint(cursor[0], cursor[1], True))
        if self._mark is not None:
            try:
                self._mark.write(*cursor, self._handed_end() if self._handed else None)
            except OSError as exc:
                if self._throttle.allow("position"):
                    log.error("cannot write the spool position", sink=self.sink, error=str(exc))
