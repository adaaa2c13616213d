"""Reading one spool segment file: records in order, damage stepped over.

A segment is a file of back-to-back records (see `openagent.delivery.record`).
`SegmentReader` is synchronous and meant to run in a worker thread: it reads
with ``os.pread`` and never moves a shared file position, so the event loop
may append to the same file meanwhile (a reader never reads past the
``limit`` it is given, which is where the writer had finished).

Damage comes in three shapes, each reported as a `Damage` event with the
byte range it covers, and reading resumes after it:

* a bad header (wrong magic, header checksum, or a length over
  `openagent.delivery.record.MAX_PAYLOAD`): the reader scans forward for the
  next valid header; the samples in between are unknown;
* a record that runs past the end of the file: if no valid header follows, a
  torn write (the last run stopped in the middle of an append) and the rest
  of the file is skipped, its samples known from the header; if one does
  follow, the length is a lie (each start begins a new segment, so only the
  last record of a file can be torn): the bytes up to that header are
  skipped and their samples are unknown;
* a payload whose checksum does not match: that record is skipped; its
  samples are known.

A length is believed only once the file is known to hold that many bytes
(``limit``), so a damaged or forged header never makes the reader allocate or
read more than the file holds.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from openagent.delivery.record import HEADER_SIZE, Header, body_ok, decode_header, find_header
from openagent.sinks.base import Batch

_SCAN_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """A good record: ``batch`` sits at ``start:end`` of its segment file."""

    start: int
    end: int
    batch: Batch


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes ``start:end`` of a segment file that hold no usable record."""

    start: int
    end: int
    samples: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Summary:
    """What a segment holds from some offset on: records (good or damaged) and samples."""

    records: int
    samples: int


class SegmentReader:
    """Reads records from one segment file, from ``offset`` on."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        """Release the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read(self, limit: int, budget: int) -> list[Record | Damage]:
        """Records and damage from the current offset up to byte ``limit``.

        Stops early once ``budget`` bytes were covered (always after at least
        one event), so one call reads a bounded amount.
        """
        events: list[Record | Damage] = []
        used = 0
        while self.offset < limit and used < budget:
            start = self.offset
            header, end, reason = self._step(limit)
            if reason is None:
                assert header is not None
                body = os.pread(self._fd, header.length, start + HEADER_SIZE)
                if body_ok(header, body):
                    events.append(Record(start, end, Batch(body, header.samples, header.oldest_ms)))
                else:
                    events.append(Damage(start, end, header.samples, "payload checksum mismatch"))
            else:
                samples = header.samples if header is not None else None
                events.append(Damage(start, end, samples, reason))
            self.offset = end
            used += end - start
        return events

    def skim(self, limit: int) -> Summary:
        """Count the records and samples up to ``limit`` from headers alone (payloads unread)."""
        records = samples = 0
        while self.offset < limit:
            header, end, _ = self._step(limit)
            if header is not None:
                records += 1
                samples += header.samples
            self.offset = end
        return Summary(records, samples)

    def _step(self, limit: int) -> tuple[Header | None, int, str | None]:
        """The header at the offset, where the next read starts, and what is wrong if anything."""
        pos = self.offset
        header = decode_header(os.pread(self._fd, HEADER_SIZE, pos))
        if header is None:
            if limit - pos < HEADER_SIZE:
                return (
                    None,
                    limit,
                    f"{limit - pos} bytes at the end of the file, too short for a record",
                )
            return None, self._resync(pos + 1, limit), "bad record header"
        end = pos + header.size
        if end > limit:
            after = self._resync(pos + 1, limit)
            if after < limit:
                reason = (
                    f"record header claims {header.size} bytes, past the end of the file "
                    f"at byte {limit}, yet a valid record follows at byte {after}"
                )
                return None, after, reason
            reason = f"record of {header.size} bytes runs past the end of the file at byte {limit}"
            return header, limit, reason
        return header, end, None

    def _resync(self, start: int, limit: int) -> int:
        """Offset of the next valid header at or after ``start``, else ``limit``."""
        pos = start
        while pos < limit:
            chunk = os.pread(self._fd, min(_SCAN_CHUNK, limit - pos), pos)
            if not chunk:
                break
            found = find_header(chunk, 0)
            if found >= 0:
                return pos + found
            if pos + len(chunk) >= limit:
                break
            pos += max(1, len(chunk) - (HEADER_SIZE - 1))
        return limit


def close_after(done: asyncio.Future[list[Record | Damage]], reader: SegmentReader) -> None:
    """Close ``reader`` once an abandoned read of it finished (its outcome no longer matters)."""
    if not done.cancelled():
        done.exception()
    reader.close()
