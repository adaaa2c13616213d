"""Watching the configuration file for changes, Kubernetes ConfigMap mounts included.

A ConfigMap volume updates by writing a new timestamped directory and
swapping the ``..data`` symlink to it; the file itself is a symlink into
``..data``. So the watcher stats the file through its symlinks (inode, size,
mtime, ctime of the final target, plus the resolved path) and, only when
that changed, reads the bytes and compares their sha256 with the last
content it reported. A digest seen before calls nothing. Every
``verify_every`` polls it reads and hashes even if the stat looks the same,
for filesystems with coarse timestamps.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from openagent.config.loader import LoadedConfig, parse_config_bytes
from openagent.config.problems import ConfigError, Problem

_log = structlog.get_logger(__name__)

Signature = tuple[int, int, int, int, int, str]


def _signature(path: Path) -> Signature | None:
    """Identity of the file's current content as the filesystem shows it; None if missing."""
    try:
        st = os.stat(path)
        resolved = os.path.realpath(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, resolved)


def _read(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


class ConfigWatcher:
    """Polls a configuration file and reports each new version.

    ``on_change`` gets every new valid version; ``on_error`` gets a
    ConfigError for every new invalid version (keep the last good
    configuration), for a file that cannot be read, and for a file that has
    been missing for ``missing_polls`` polls in a row (a shorter absence,
    such as the middle of a ConfigMap swap, is not an error). After an error,
    the next valid version is reported even when it equals the last good
    one, so the caller can clear its error state.

    ``known_digest`` is the digest of the configuration the caller already
    loaded; without it the first poll reports the file as it is.
    """

    def __init__(
        self,
        path: str | Path,
        on_change: Callable[[LoadedConfig], Awaitable[None]],
        on_error: Callable[[ConfigError], Awaitable[None]],
        interval: float = 1.0,
        *,
        known_digest: str | None = None,
        missing_polls: int = 3,
        verify_every: int = 30,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.path = Path(path)
        self.interval = interval
        self.missing_polls = max(1, missing_polls)
        self.verify_every = max(1, verify_every)
        self._on_change = on_change
        self._on_error = on_error
        self._seen = known_digest
        self._signature: Signature | None = None
        self._missing = 0
        self._unread_polls = 0
        self._unreadable: Signature | None = None

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.poll()
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        """Check the file once and report what changed."""
        signature = _signature(self.path)
        if signature is None:
            await self._gone()
            return
        self._missing = 0
        self._unread_polls += 1
        if signature == self._signature and self._unread_polls < self.verify_every:
            return
        self._unread_polls = 0
        try:
            data, digest = await asyncio.to_thread(_read, self.path)
        except FileNotFoundError:
            await self._gone()
            return
        except OSError as exc:
            self._signature = signature
            if signature != self._unreadable:
                self._unreadable = signature
                self._seen = None
                message = f"cannot be read: {exc.strerror or exc}"
                await self._report_error(ConfigError([Problem(str(self.path), "", message)]))
            return
        self._signature = signature
        self._unreadable = None
        if digest == self._seen:
            return
        self._seen = digest
        try:
            loaded = await asyncio.to_thread(parse_config_bytes, data, str(self.path))
        except ConfigError as exc:
            await self._report_error(exc)
            return
        try:
            await self._on_change(loaded)
        except Exception:
            _log.exception("config_change_handler_failed", path=str(self.path))

    async def _gone(self) -> None:
        self._signature = None
        self._missing += 1
        if self._missing == self.missing_polls:
            self._seen = None
            message = f"file not found (missing for {self._missing} checks in a row)"
            await self._report_error(ConfigError([Problem(str(self.path), "", message)]))

    async def _report_error(self, error: ConfigError) -> None:
        try:
            await self._on_error(error)
        except Exception:
            _log.exception("config_error_handler_failed", path=str(self.path))
