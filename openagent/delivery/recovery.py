"""What a spool directory holds when a process starts: segments, and where to resume.

`recover` runs once per spool, in a worker thread, before anything is
delivered. It reads the consumer position (the checkpoint, or the position
mark when that is newer: the last run did not stop cleanly), deletes the
segments wholly behind it (consumed, but the last run had no time to delete
them), and counts the records and samples left in each remaining segment
from the record headers (payloads are read later, when replayed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from openagent.delivery.checkpoint import CheckpointError, PositionMark, load_checkpoint
from openagent.delivery.segment import SegmentReader

_SEGMENT = re.compile(r"(\d{16})\.seg")

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
    #: No usable position was found: every record may have been delivered already.
    position_lost: bool
    mark: PositionMark
    notes: list[Note] = field(default_factory=list)


def _position(directory: Path, mark: PositionMark, notes: list[Note]) -> tuple[
    tuple[int, int] | None, bool, bool
]:  # fmt: skip
    """Where the last run stopped: (position, maybe sent, position lost)."""
    try:
        cp = load_checkpoint(directory)
    except CheckpointError as exc:
        notes.append(("error", "spool checkpoint unusable", {"error": str(exc)}))
        cp, broken = None, True
    else:
        broken = False
    marked = mark.read()
    if cp is not None and (marked is None or marked <= (cp.segment, cp.offset)):
        return (cp.segment, cp.offset), cp.maybe_sent, False
    if marked is not None:  # newer than the checkpoint: the last run did not stop cleanly
        return marked, True, False
    if broken:
        notes.append(("error", "no usable spool position, replaying all", {}))
    return None, True, broken


def recover(directory: Path) -> Recovered:
    """Take stock of ``directory`` (created if missing). Blocking: run it in a thread."""
    directory.mkdir(parents=True, exist_ok=True)
    notes: list[Note] = []
    mark = PositionMark(directory)
    start, maybe_sent, lost = _position(directory, mark, notes)
    ids = sorted(int(m[1]) for n in os.listdir(directory) if (m := _SEGMENT.fullmatch(n)))
    if start is not None:
        for sid in ids:
            if sid < start[0]:
                (directory / segment_name(sid)).unlink(missing_ok=True)
        ids = [sid for sid in ids if sid >= start[0]]
    next_id = max([*ids, start[0] if start else 0]) + 1
    if not ids:
        return Recovered([], (next_id, 0), next_id, False, False, mark, notes)
    if start is None or start[0] != ids[0]:
        start = (ids[0], 0)
    segments = []
    for sid in ids:
        path = directory / segment_name(sid)
        seg = Segment(sid, path, path.stat().st_size)
        offset = start[1] if sid == start[0] else 0
        if offset > seg.size:
            fields: dict[str, object] = {"file": str(path), "offset": offset, "size": seg.size}
            notes.append(("warning", "spool position is past the end of its segment", fields))
            offset = seg.size
            start = (sid, offset)
        reader = SegmentReader(path, offset)
        try:
            summary = reader.skim(seg.size)
        finally:
            reader.close()
        seg.records, seg.samples = summary.records, summary.samples
        segments.append(seg)
    return Recovered(segments, start, next_id, maybe_sent, lost, mark, notes)
