"""A sink's on-disk spool: an append-only FIFO of batches in segment files.

Layout of a spool directory (one per sink)::

    0000000000000001.seg  0000000000000002.seg  ...  checkpoint.json  position

Records (see `openagent.delivery.record`) are appended to the newest segment
(`openagent.delivery.spool_segments` keeps the files); a segment is sealed
once the next record would take it past ``segment_bytes``, and a new one
begins. Each process start begins a new segment, so a torn tail left by a
crash stays where it was and is stepped over when read. The consumer reads
the oldest records first (see `openagent.delivery.spool_reader`, which also
says how the newest stay in memory and how damage is skipped); once it is
past a whole segment the file is deleted. Its position is kept in
``checkpoint.json`` and the ``position`` mark (see
`openagent.delivery.checkpoint`), so a restart resumes where delivery
stopped; `openagent.delivery.spool_position` says how records handed out but
not yet acknowledged hold it back, and what a restart sends twice.

``max_bytes`` caps the segment files on disk. An append that would pass it
first deletes the oldest segments, whole, and counts their unsent samples as
dropped (``reason="spool_full"``).

Appends and position marks run inline (a ``write`` into the page cache);
reads run in a worker thread, up to 1 MiB at a time; fsync, closing and
deleting files and rewriting the checkpoint go to the `Syncer`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from openagent.delivery.checkpoint import Checkpoint, PositionMark, store_checkpoint
from openagent.delivery.fsync import FsyncPolicy, Syncer
from openagent.delivery.ledger import Ledger
from openagent.delivery.metrics import (
    CORRUPT_BYTES,
    SPOOL_BYTES,
    SPOOL_RECOVERY_ERRORS,
    SPOOL_SAMPLES,
    SPOOL_SEGMENTS,
)
from openagent.delivery.queue import ReadCache
from openagent.delivery.record import HEADER_SIZE, encode_header
from openagent.delivery.recovery import Findings, Segment, recover
from openagent.delivery.spool_position import HandedOut, Position
from openagent.delivery.spool_reader import SpoolCursor
from openagent.delivery.spool_segments import Segments
from openagent.sinks.base import Batch
from openagent.telemetry import Throttle, get_logger

log = get_logger("delivery")

__all__ = ["DEFAULT_SEGMENT_BYTES", "Position", "Spool"]

DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024


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
        self._segments = Segments(directory, self._syncer)
        self._bytes = 0
        self.cache = ReadCache(cache_bytes)
        self._reading = SpoolCursor(
            self._segments, self.cache, sink=sink, ledger=self.ledger, settle=self._settle
        )
        self._handed = HandedOut(sink)
        self._cursor_at: tuple[int, int] = (0, 0)
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
        return self._reading.oldest_ms()

    def has_unread(self) -> bool:
        """True when a record waits that `read` has not handed out."""
        return self._reading.has_unread()

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
        if self._handed.suspects_first and self._mark is not None:
            # a group may have been out: all of it may be sent
            self._handed.suspect_through(self._mark.read_handed())
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
        self._segments.begin(found.next_id)
        self._reading.segment, self._reading.offset = found.start
        if found.position_lost:
            self._handed.suspect_below(found.next_id)
        elif found.segments and found.maybe_sent:
            self._handed.suspect(self._segments.normalise(found.start))
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
        self._reading.close()
        self._segments.retire()
        writer = self._segments.writer
        if cursor >= (writer.id, writer.size):  # nothing left in it to send
            del self._segments[writer.id]
            self._syncer.remove(writer.path)
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
            self._make_room(need)
            header = encode_header(batch.payload, batch.samples, batch.oldest_ms)
        except (OSError, ValueError) as exc:
            self._refuse(batch, count_refused, "spool_error", str(exc))
            return None
        w = self._segments.writer
        start = w.size
        error = self._segments.write(header, batch)
        if error is not None:
            self._refuse(batch, count_refused, "spool_error", f"writing {w.path}: {error}")
            return None
        self._bytes += need
        if self.cache.max_bytes:
            self.cache.put((w.id, start), start + need, batch)
        return Position(w.id, start, start + need)

    def _make_room(self, need: int) -> None:
        """Seal the writer if ``need`` bytes would overfill it; drop the oldest segments
        while they would pass ``max_bytes``."""
        if self._segments.writer.size and self._segments.writer.size + need > self.segment_bytes:
            self._segments.rotate()
        while self._bytes + need > self.max_bytes:
            oldest = next(iter(self._segments.values()))
            if oldest is self._segments.writer:
                self._segments.rotate()
            else:
                self._drop(oldest)

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
        if segment_id == self._reading.segment:
            self._reading.detach(self._segments.next_id(segment_id))
        self._syncer.remove(seg.path)

    # -- reading and the consumer position --------------------------------------

    async def read(self) -> tuple[Batch, Position] | None:
        """Hand out the oldest unread batch; None when nothing (readable) is left.

        The consumer sends it and then calls `ack`; until then it counts as
        not delivered (a restart sends it again). Several may be out at once;
        they are acknowledged in the order they were handed out.
        """
        got = await self._reading.next()
        if got is None:
            return None
        batch, pos = got
        seg = self._segments[pos.segment]
        seg.records -= 1
        seg.samples -= batch.samples
        self._handed.add(pos, batch.samples)
        return batch, pos

    def next_size(self) -> int | None:
        """Payload bytes of the next unread record if it is at hand (read ahead, or cached)."""
        return self._reading.next_size()

    def note_handed(self) -> None:
        """Record in the position mark how far records are handed out (before sending a group).

        A restart after a crash then counts all of them as possible duplicates.
        """
        if self._mark is not None and self._handed:
            self._write_mark(self._mark, self._cursor(), self._handed_end())

    def ack(self, pos: Position, *, maybe_sent: bool = False) -> None:
        """The oldest batch handed out, at ``pos``, was delivered (or dropped): move on.

        ``maybe_sent``: it had been written before, so this delivery may be a
        duplicate (counted as replayed, once).
        """
        if self._handed.ack(pos, maybe_sent=maybe_sent):
            self._settle()

    def _cursor(self) -> tuple[int, int]:
        """Start of the first record not yet delivered."""
        held = self._handed.first_held(self._segments)
        return held if held is not None else self._reading.at()

    def _handed_end(self) -> tuple[int, int]:
        """End of the last record handed out (the cursor when none is out)."""
        end = self._handed.end()
        return end if end is not None else self._cursor()

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
            self._write_mark(self._mark, cursor, self._handed.end())

    def _write_mark(
        self, mark: PositionMark, cursor: tuple[int, int], handed: tuple[int, int] | None
    ) -> None:
        try:
            mark.write(*cursor, handed)
        except OSError as exc:
            if self._throttle.allow("position"):
                log.error("cannot write the spool position", sink=self.sink, error=str(exc))
