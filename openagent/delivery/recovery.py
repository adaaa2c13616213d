"""What a spool directory holds when a process starts: segments, and where to resume.

`recover` runs once per spool, in a worker thread, before anything is
delivered. It reads the consumer position (the checkpoint, or the position
mark when that is newer: the last run did not stop cleanly), deletes the
segments wholly behind it (consumed, but the last run had no time to delete
them), and counts the records and samples left in each remaining segment
from the record headers (payloads are read later, when replayed).

Nothing else is deleted or stepped over quietly. Each problem below gives one
ERROR line naming the file and is counted in `Findings.problems` (the spool
books it in ``openagent_delivery_spool_recovery_errors_total{problem}``):

``checkpoint_unusable``
    ``checkpoint.json`` cannot be read or parsed. The position mark is used
    if it is intact; with neither, everything replays.
``position_mark_damaged``
    ``position`` holds bytes that fail their checksum. The checkpoint is
    used, but the last run may have delivered records after it, so every
    replayed record counts as a possible duplicate.
``position_beyond_end``
    A position that lies past the end of the spool cannot be trusted (see
    `beyond_end`). The older position is tried next (a mark newer than the
    checkpoint, then the checkpoint); if none holds, everything on disk
    replays from the oldest segment. Either way every replayed record counts
    as a possible duplicate (``openagent_delivery_replayed_samples_total``),
    and no segment is deleted because of an untrusted position.
``segment_missing``
    Segment ids are consecutive: each start opens the segment after the
    newest one on disk (or after the checkpoint's, when that one was
    consumed and deleted), and consumed or dropped segments go from the
    front. A gap between the resume point and the newest segment is lost
    data. What a missing file held cannot be known (neither bytes nor
    samples), so the count is one per missing file. After a power loss a
    stale position may also make consumed segments look missing. Without a
    trusted position, segments missing before the oldest one on disk cannot
    be told from consumed ones, and are not reported.
``segment_unreadable``
    A segment that cannot be opened or read (permissions, I/O error). Its
    bytes go to ``openagent_delivery_spool_corrupt_bytes_total``; the file is
    left where it is.
``segment_not_a_file``
    A name of a segment that is a directory, a symbolic link or anything but
    a regular file. It is left where it is; what it should have held is
    unknown.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from openagent.delivery.checkpoint import (
    NAME,
    Checkpoint,
    CheckpointError,
    PositionMark,
    load_checkpoint,
    store_checkpoint,
)
from openagent.delivery.segment import SegmentReader

_SEGMENT = re.compile(r"(\d{16})\.seg")
#: The largest segment id whose successor still has a 16-digit name.
MAX_SEGMENT_ID = 10**16 - 2

#: A log line for the caller to emit: (level, message, fields).
Note = tuple[str, str, dict[str, object]]


def segment_name(segment_id: int) -> str:
    """File name of segment ``segment_id``."""
    return f"{segment_id:016d}.seg"


@dataclass(slots=True)
class Segment:
    """One segment file, and what in it is not yet handed out (nor stepped over as damage)."""

    id: int
    path: Path
    size: int = 0
    records: int = 0
    samples: int = 0


@dataclass(slots=True)
class Findings:
    """What `recover` has to say: log lines, problems by kind, and bytes lost unread."""

    notes: list[Note] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    corrupt_bytes: int = 0

    def error(self, problem: str, message: str, count: int = 1, **fields: object) -> None:
        """Note an ERROR line and count ``count`` of ``problem``."""
        self.notes.append(("error", message, fields))
        self.problems[problem] = self.problems.get(problem, 0) + count


@dataclass(slots=True)
class Recovered:
    """The state a spool resumes from."""

    #: Segments left from earlier runs, oldest first.
    segments: list[Segment]
    #: Where reading resumes: (segment id, byte offset).
    start: tuple[int, int]
    #: The id for this run's first segment.
    next_id: int
    #: The record at ``start`` may have been delivered already (the last run stopped uncleanly).
    maybe_sent: bool
    #: No trustworthy position was found: every record may have been delivered already.
    position_lost: bool
    mark: PositionMark
    findings: Findings


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry with a segment's name."""

    id: int
    path: Path
    size: int
    regular: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A stored consumer position, and the file it came from."""

    at: tuple[int, int]
    maybe_sent: bool
    source: Path


def scan(directory: Path) -> dict[int, Entry]:
    """The entries of ``directory`` named like segments, by id (symbolic links not followed)."""
    entries: dict[int, Entry] = {}
    with os.scandir(directory) as listing:
        for item in listing:
            if m := _SEGMENT.fullmatch(item.name):
                st = item.stat(follow_symlinks=False)
                sid = int(m[1])
                entries[sid] = Entry(sid, Path(item.path), st.st_size, stat.S_ISREG(st.st_mode))
    return entries


def beyond_end(at: tuple[int, int], entries: dict[int, Entry]) -> str | None:
    """What is on disk where ``at`` points, if that is past the end of the spool; else None.

    Past the end means: an offset past the size of its segment, or a segment
    id above every segment on disk. Exactly at the end of its segment is
    fine (everything in it was delivered), and so is a missing segment with
    newer ones present, or with none on disk at all: a clean stop deletes
    the last segment once it is fully delivered, and leaves the checkpoint
    pointing at its end. Older segments are deleted before that checkpoint
    is written, and after a crash the segment a position points at is still
    there, so no run leaves a position above a segment it did not delete.
    """
    seg, offset = at
    if seg > MAX_SEGMENT_ID:
        return f"segment id {seg} is above the largest a spool uses ({MAX_SEGMENT_ID})"
    entry = entries.get(seg)
    if entry is not None:
        if offset > entry.size:
            return f"{entry.path.name} holds {entry.size} bytes"
        return None
    newest = max(entries, default=None)
    if newest is not None and seg > newest:
        return f"{segment_name(seg)} is past the newest segment on disk, {segment_name(newest)}"
    return None


def stored_claims(
    directory: Path, mark: PositionMark, findings: Findings
) -> tuple[list[Claim], bool]:
    """The stored positions, newest first, and whether one was damaged (replays may repeat)."""
    path = directory / NAME
    try:
        cp = load_checkpoint(directory)
    except CheckpointError as exc:
        findings.error(
            "checkpoint_unusable", "spool checkpoint unusable", file=str(path), error=str(exc)
        )
        cp, broken = None, True
    else:
        broken = False
    marked = mark.read()
    damaged = marked is None and mark.path.stat().st_size > 0  # empty: never written
    if damaged:
        findings.error("position_mark_damaged", "spool position mark damaged", file=str(mark.path))
    claims = [] if cp is None else [Claim((cp.segment, cp.offset), cp.maybe_sent, path)]
    if marked is not None and (cp is None or marked > (cp.segment, cp.offset)):
        claims.insert(0, Claim(marked, True, mark.path))  # the last run did not stop cleanly
    return claims, damaged or (broken and not claims)


def trusted_claim(
    claims: list[Claim], entries: dict[int, Entry], findings: Findings
) -> Claim | None:
    """The newest of ``claims`` that lies within the spool; the others are reported."""
    for claim in claims:
        found = beyond_end(claim.at, entries)
        if found is None:
            return claim
        findings.error(
            "position_beyond_end",
            "spool position points past the end of the spool; not trusted",
            file=str(claim.source),
            segment=claim.at[0],
            offset=claim.at[1],
            found=found,
        )
    return None


def first_unconsumed(at: tuple[int, int], entries: dict[int, Entry]) -> int:
    """The id of the first segment the trusted position ``at`` has not wholly delivered."""
    entry = entries.get(at[0])
    consumed = entry is None or (entry.regular and at[1] == entry.size)
    return at[0] + 1 if consumed else at[0]


def delete_consumed(entries: list[Entry], findings: Findings) -> None:
    """Delete segments wholly behind a trusted position (the last run delivered them)."""
    for entry in entries:
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as exc:
            fields: dict[str, object] = {"file": str(entry.path), "error": exc.strerror}
            findings.notes.append(("error", "cannot delete a consumed spool segment", fields))


def report_gaps(first: int, ids: list[int], findings: Findings) -> None:
    """Report the ids from ``first`` up to the last of ``ids`` (sorted) that are not in ``ids``."""
    expected = first
    for sid in ids:
        if sid > expected:
            findings.error(
                "segment_missing",
                "spool segments missing; what they held is unknown",
                count=sid - expected,
                first=segment_name(expected),
                last=segment_name(sid - 1),
                files=sid - expected,
            )
        expected = max(expected, sid + 1)


def take_stock(entry: Entry, offset: int, findings: Findings) -> Segment | None:
    """``entry`` as a segment to replay from ``offset``, its records counted; None if unusable."""
    if not entry.regular:
        findings.error(
            "segment_not_a_file",
            "spool segment is not a regular file; skipped",
            file=str(entry.path),
        )
        return None
    seg = Segment(entry.id, entry.path, entry.size)
    try:
        reader = SegmentReader(entry.path, offset)
        try:
            summary = reader.skim(entry.size)
        finally:
            reader.close()
    except OSError as exc:
        findings.corrupt_bytes += entry.size - offset
        findings.error(
            "segment_unreadable",
            "spool segment unreadable; skipped",
            file=str(entry.path),
            bytes=entry.size - offset,
            error=exc.strerror,
        )
        return None
    seg.records, seg.samples = summary.records, summary.samples
    return seg


def recover(directory: Path) -> Recovered:
    """Take stock of ``directory`` (created if missing). Blocking: run it in a thread."""
    directory.mkdir(parents=True, exist_ok=True)
    mark = PositionMark(directory)
    try:
        return resume(directory, mark)
    except BaseException:
        mark.close()
        raise


def resume(directory: Path, mark: PositionMark) -> Recovered:
    """Where to resume, which segments to replay, and what was found damaged."""
    findings = Findings()
    claims, doubt = stored_claims(directory, mark, findings)
    entries = scan(directory)
    claim = trusted_claim(claims, entries, findings)
    lost = doubt or bool(claims and claim is not claims[0])
    if claim is None:
        if lost and entries:
            findings.notes.append(("error", "no usable spool position, replaying all", {}))
        at, maybe_sent, first = (0, 0), True, min(entries, default=0)
    else:
        at, maybe_sent = claim.at, claim.maybe_sent
        first = first_unconsumed(at, entries)
        delete_consumed([e for sid, e in sorted(entries.items()) if sid < first], findings)
    ids = sorted(sid for sid in entries if sid >= first)
    next_id = max([*ids, at[0]]) + 1
    report_gaps(first, ids, findings)
    stock = (take_stock(entries[sid], at[1] if sid == at[0] else 0, findings) for sid in ids)
    segments = [seg for seg in stock if seg is not None]
    if not segments:
        start, maybe_sent = (next_id, 0), False
    else:
        start = at if segments[0].id == at[0] else (segments[0].id, 0)
    if lost:
        replace_position(directory, mark, start, findings)
    return Recovered(segments, start, next_id, maybe_sent, lost and bool(segments), mark, findings)


def replace_position(
    directory: Path, mark: PositionMark, start: tuple[int, int], findings: Findings
) -> None:
    """Store ``start`` in place of a position that was not trusted.

    Left as it was, a position above the newest segment would become true
    once this run's segments reach its id, and the next start would then
    delete everything before it as delivered.
    """
    try:
        store_checkpoint(directory, Checkpoint(start[0], start[1], True))
        mark.write(*start)
    except OSError as exc:
        fields: dict[str, object] = {"directory": str(directory), "error": exc.strerror}
        findings.notes.append(("error", "cannot replace the untrusted spool position", fields))
