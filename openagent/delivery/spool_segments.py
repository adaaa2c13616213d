"""A spool's segment files: which exist, and the newest, which records are appended to.

Segment ids are consecutive and name the files (``0000000000000001.seg``,
see `openagent.delivery.recovery.segment_name`). Each process start opens a
new segment after the newest on disk, so a torn tail left by a crash stays
where it was. A record is written with one ``writev`` into the page cache; a
write that fails or comes up short is cut off again, so the file ends where
the last whole record does. Sealed segments are handed to the `Syncer`,
which syncs and closes them in the background.
"""

from __future__ import annotations

import os
from pathlib import Path

from openagent.delivery.fsync import Syncer
from openagent.delivery.recovery import Segment, segment_name
from openagent.sinks.base import Batch


class Segments(dict[int, Segment]):
    """A spool's segment files by id, oldest first; ``writer`` is the newest, appended to.

    Call `begin` before the first `write`.
    """

    def __init__(self, directory: Path, syncer: Syncer) -> None:
        super().__init__()
        self.directory = directory
        self.writer = Segment(0, directory)
        self._fd = -1
        self._syncer = syncer

    def next_id(self, segment_id: int) -> int:
        """The id of the segment after ``segment_id`` (the writer's if none is between)."""
        return next((s for s in self if s > segment_id), self.writer.id)

    def normalise(self, at: tuple[int, int]) -> tuple[int, int]:
        """``at``, or the start of the next segment when ``at`` is the end of a sealed one."""
        seg = self.get(at[0])
        if seg is not None and seg is not self.writer and at[1] >= seg.size:
            return self.next_id(seg.id), 0
        return at

    def begin(self, segment_id: int) -> None:
        """Create segment ``segment_id`` and make it the writer."""
        path = self.directory / segment_name(segment_id)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o644)
        self.writer = Segment(segment_id, path)
        self[segment_id] = self.writer

    def rotate(self) -> None:
        """Seal the writer's segment and start the next one."""
        old_fd = self._fd
        self.begin(self.writer.id + 1)
        self._syncer.retire(old_fd)

    def write(self, header: bytes, batch: Batch) -> OSError | None:
        """Append one record, ``header`` then ``batch``'s payload, to the writer.

        On failure the segment is cut back to where it ended, and the error returned.
        """
        w = self.writer
        need = len(header) + len(batch.payload)
        try:
            written = os.writev(self._fd, (header, batch.payload))
            if written != need:
                raise OSError(f"short write: {written} of {need} bytes")
        except OSError as exc:
            try:
                os.ftruncate(self._fd, w.size)
            except OSError:
                pass
            return exc
        w.size += need
        w.records += 1
        w.samples += batch.samples
        self._syncer.wrote(self._fd, need)
        return None

    def retire(self) -> None:
        """Take no more writes: the `Syncer` syncs and closes the writer's file."""
        self._syncer.retire(self._fd)
