"""When spool data reaches the disk: the fsync policy, run off the event loop.

Appending a record is a plain ``write`` into the page cache, done inline: it
survives a crash of the process (the kernel still has it), not a power loss or
a kernel crash. ``fsync`` makes it survive those too, at the cost of waiting
for the disk, so it always runs in a worker thread, as do closing sealed
segments and deleting consumed ones. The policy (``--spool-fsync``):

``always``
    Every append wakes the worker, which fsyncs everything written so far
    (one fsync covers all appends made before it started: group commit).
    On power loss at most the appends of the fsync in progress are lost:
    milliseconds of data. Costs one disk flush per wake-up; on slow disks
    this caps the spool's write rate and keeps the disk busy.
``interval`` (default)
    The worker fsyncs once per ``interval`` seconds (1 s by default), or
    sooner once ``every_bytes`` (8 MiB) were written since the last fsync.
    On power loss up to about a second of spooled data is lost; the disk
    sees large, infrequent flushes.
``never``
    No fsync at all (sealed segments are just closed); the kernel writes
    dirty pages back on its own schedule (about 30 s on Linux). Fastest;
    on power loss everything not yet written back is lost.

Rounds also rewrite the checkpoint file when the consumer moved (after the
data fsync of the same round, so under ``always`` and ``interval`` it never
points past data that is not on disk), and sync directory changes (new and
deleted segments). Under ``never`` they run on the same timer without any
fsync. A stale checkpoint after power loss only makes data be sent again.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Literal

from openagent.delivery.checkpoint import Checkpoint, store_checkpoint, sync_directory
from openagent.telemetry import Throttle, get_logger

FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "interval", "never")

log = get_logger("delivery")


class Syncer:
    """Background worker for one spool directory: fsync, close and delete files."""

    def __init__(
        self,
        directory: Path,
        policy: FsyncPolicy,
        *,
        interval: float = 1.0,
        every_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {', '.join(FSYNC_POLICIES)}")
        self.directory = directory
        self.policy = policy
        self.interval = interval
        self.every_bytes = every_bytes
        self.rounds = 0
        self._dirty: set[int] = set()
        self._retired: list[int] = []
        self._unlink: list[Path] = []
        self._dir_dirty = False
        self._checkpoint: Checkpoint | None = None
        self._pending = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._throttle = Throttle(60.0)

    @property
    def syncs(self) -> bool:
        """True unless the policy is ``never``."""
        return self.policy != "never"

    def start(self) -> None:
        """Start the worker loop."""
        self._task = asyncio.create_task(self._run(), name=f"spool fsync {self.directory.name}")

    def wrote(self, fd: int, nbytes: int) -> None:
        """``nbytes`` were appended to ``fd``."""
        if not self.syncs:
            return
        self._dirty.add(fd)
        self._pending += nbytes
        if self.policy == "always" or self._pending >= self.every_bytes:
            self._wake.set()

    def retire(self, fd: int) -> None:
        """``fd`` (a sealed segment) takes no more writes: sync it per the policy, then close it."""
        self._dirty.discard(fd)
        self._retired.append(fd)
        self._dir_dirty = True
        self._wake.set()

    def remove(self, path: Path) -> None:
        """Delete ``path`` (a consumed or dropped segment) in the background."""
        self._unlink.append(path)
        self._dir_dirty = True
        self._wake.set()

    def checkpoint(self, cp: Checkpoint) -> None:
        """The consumer moved to ``cp``: write it with the next round (at once under ``always``)."""
        self._checkpoint = cp
        if self.policy == "always":
            self._wake.set()

    async def close(self) -> None:
        """Finish: a last round syncs, closes and deletes whatever is pending."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        else:
            await self._round()

    async def _run(self) -> None:
        while not self._closing:
            if self.policy != "always":
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                except TimeoutError:
                    pass
            else:
                await self._wake.wait()
            self._wake.clear()
            await self._round()
        await self._round()

    async def _round(self) -> None:
        dirty, self._dirty = self._dirty, set()
        retired, self._retired = self._retired, []
        unlink, self._unlink = self._unlink, []
        dir_dirty, self._dir_dirty = self._dir_dirty, False
        checkpoint, self._checkpoint = self._checkpoint, None
        self._pending = 0
        if not (dirty or retired or unlink or dir_dirty or checkpoint):
            return
        errors = await asyncio.to_thread(
            self._work, sorted(dirty), retired, unlink, dir_dirty, checkpoint
        )
        self.rounds += 1
        for error in errors:
            if self._throttle.allow(error):
                log.error("spool disk operation failed", directory=str(self.directory), error=error)

    def _work(
        self,
        dirty: list[int],
        retired: list[int],
        unlink: list[Path],
        dir_dirty: bool,
        cp: Checkpoint | None,
    ) -> list[str]:
        """Runs in a worker thread; returns what failed."""
        errors: list[str] = []
        for fd in dirty:
            try:
                os.fsync(fd)
            except OSError as exc:
                errors.append(f"fsync: {exc.strerror}")
        for fd in retired:
            try:
                if self.syncs:
                    os.fsync(fd)
            except OSError as exc:
                errors.append(f"fsync of a sealed segment: {exc.strerror}")
            finally:
                os.close(fd)
        for path in unlink:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                errors.append(f"deleting {path}: {exc.strerror}")
        if cp is not None:
            try:
                store_checkpoint(self.directory, cp, fsync=self.syncs)
            except OSError as exc:
                errors.append(f"writing the checkpoint: {exc.strerror}")
        if self.syncs and dir_dirty:
            try:
                sync_directory(self.directory)
            except OSError as exc:
                errors.append(f"fsync of {self.directory}: {exc.strerror}")
        return errors
