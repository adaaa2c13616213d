"""The configuration file as a `ConfigSource`: polled for changes, ConfigMap mounts included.

A ConfigMap volume updates by writing a new timestamped directory and
swapping the ``..data`` symlink to it; the file itself is a symlink into
``..data``. So the watcher stats the file through its symlinks (inode, size,
mtime, ctime of the final target, plus the resolved path) and, only when
that changed, reads the bytes and hands them to the shared
`openagent.config.source.ContentReporter`, which reports new content once.
Every ``verify_every`` polls it reads even if the stat looks the same, for
filesystems with coarse timestamps; `FileSource.reload` (SIGHUP) reads at
once. A poll and a reload never run at the same time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from openagent.config.limits import DEFAULT_LIMITS, ConfigLimits, TooBig, read_limited
from openagent.config.source import ContentReporter, OnChange, OnError
from openagent.httpauth.files import file_stamp

Signature = tuple[int, int, int, int, int, str]


def _signature(path: Path) -> Signature | None:
    """Identity of the file's current content as the filesystem shows it; None if missing."""
    try:
        return (*file_stamp(str(path)), os.path.realpath(path))
    except FileNotFoundError:
        return None


class FileSource:
    """Polls a configuration file and reports each new version (a `ConfigSource`).

    ``on_change`` gets every new valid version; ``on_error`` gets a
    ConfigError for every new invalid version (keep the last good
    configuration), for a file that cannot be read, and for a file that has
    been missing for ``missing_polls`` polls in a row (a shorter absence,
    such as the middle of a ConfigMap swap, is not an error).

    ``known_digest`` is the digest of the configuration the caller already
    loaded; without it the first poll reports the file as it is. A file
    bigger than ``limits.max_bytes`` is an error and is not read.
    """

    def __init__(
        self,
        path: str | Path,
        on_change: OnChange,
        on_error: OnError,
        interval: float = 1.0,
        *,
        known_digest: str | None = None,
        missing_polls: int = 3,
        verify_every: int = 30,
        limits: ConfigLimits = DEFAULT_LIMITS,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.path = Path(path)
        self.interval = interval
        self.missing_polls = max(1, missing_polls)
        self.verify_every = max(1, verify_every)
        self.limits = limits
        self._reporter = ContentReporter(str(self.path), on_change, on_error, known_digest, limits)
        self._signature: Signature | None = None
        self._missing = 0
        self._unread_polls = 0
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The file's path."""
        return str(self.path)

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.poll()
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        """Check the file once and report what changed."""
        async with self._lock:
            await self._check(force=False)

    async def reload(self) -> bool:
        """Read the file now, whatever its stamp says; report it if it is new (True)."""
        async with self._lock:
            return await self._check(force=True)

    async def _check(self, *, force: bool) -> bool:
        signature = _signature(self.path)
        if signature is None:
            return await self._gone(at_once=force)
        self._missing = 0
        self._unread_polls += 1
        if not force and signature == self._signature and self._unread_polls < self.verify_every:
            return False
        self._unread_polls = 0
        self._signature = signature
        try:
            data = await asyncio.to_thread(read_limited, self.path, self.limits)
        except TooBig as exc:
            return await self._reporter.problem(str(exc))
        except FileNotFoundError:
            return await self._gone(at_once=force)
        except OSError as exc:
            return await self._reporter.problem(f"cannot be read: {exc.strerror or exc}")
        return await self._reporter.content(data)

    async def _gone(self, *, at_once: bool = False) -> bool:
        """The file is missing: a problem after ``missing_polls`` polls, or ``at_once``."""
        self._signature = None
        self._missing += 1
        if at_once:
            return await self._reporter.problem("file not found")
        if self._missing == self.missing_polls:
            message = f"file not found (missing for {self._missing} checks in a row)"
            return await self._reporter.problem(message)
        return False
