"""Small files that may change under a running agent (tokens, passwords, certificates).

A file is identified by its stat stamp (device, inode, size, mtime, ctime), so
both an in-place rewrite and the symlink swap kubelet uses for mounted Secrets
are noticed on the next read, without re-reading an unchanged file. This is
the one file watcher of the agent: scrape and remote-write credentials, TLS
material, the Kubernetes service-account token and the configuration file all
go by `file_stamp`.
"""

from __future__ import annotations

import os
import time
from typing import Final

#: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of a file, symlinks followed.
FileStamp = tuple[int, int, int, int, int]

#: Credential files larger than this are refused (they are a few hundred bytes).
MAX_CREDENTIAL_FILE: Final = 1 << 20


def file_stamp(path: str) -> FileStamp:
    """Return the stat stamp of ``path``; raises `OSError`."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def describe_os_error(exc: OSError) -> str:
    """The OS's reason without the path (the caller names the file itself)."""
    return exc.strerror or type(exc).__name__


class WatchedFiles:
    """Reads small files, re-reading one only when its stamp changes.

    A cached value is also re-read after ``max_age`` seconds, which bounds the
    staleness when a rewrite keeps every stamp field (same size, same clock tick).
    The cache holds at most ``max_entries`` files; the oldest entry goes first.
    """

    def __init__(self, *, max_age: float = 60.0, max_entries: int = 1024) -> None:
        self._max_age = max_age
        self._max_entries = max_entries
        self._cache: dict[str, tuple[FileStamp, float, bytes]] = {}

    def read(self, path: str, *, force: bool = False) -> bytes:
        """Return the content of ``path`` (read again when ``force``); raises `OSError` or
        `ValueError` (too large)."""
        stamp = file_stamp(path)
        now = time.monotonic()
        cached = self._cache.get(path)
        fresh = cached is not None and cached[0] == stamp and now - cached[1] < self._max_age
        if fresh and not force:
            assert cached is not None
            return cached[2]
        if stamp[2] > MAX_CREDENTIAL_FILE:
            raise ValueError(f"file is larger than {MAX_CREDENTIAL_FILE} bytes")
        with open(path, "rb") as f:
            data = f.read(MAX_CREDENTIAL_FILE + 1)
        if len(data) > MAX_CREDENTIAL_FILE:
            raise ValueError(f"file is larger than {MAX_CREDENTIAL_FILE} bytes")
        self._cache.pop(path, None)
        if len(self._cache) >= self._max_entries:
            del self._cache[next(iter(self._cache))]
        self._cache[path] = (stamp, now, data)
        return data
