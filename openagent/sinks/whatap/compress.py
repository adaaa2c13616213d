"""gzip for OpenMx records blobs, with the fastest deflate library that is installed.

The collector only inflates the stream, so any valid gzip member will do; the
Go agent uses Go's ``compress/gzip`` at level 6. Measured on DCGM records
(``benchmarks/whatap_encode_bench.py``): stdlib zlib costs 0.6-1.4 µs per
record at level 1 and 1.8-2.8 µs at level 6; zlib-ng at level 1 about 0.2 µs
alone and next to nothing measurable inside a whole encode; ISA-L (``isal``)
is as fast alone but slowed the surrounding encode by about 0.25 µs per
sample. So ``auto`` takes zlib-ng, then ISA-L, then zlib. Every backend's
output gets Go's 10-byte header (``1f8b 08 00 00000000 00 ff``: no name,
mtime 0, XFL 0, OS 255), so packs look the same whichever library made them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

#: The gzip header Go writes (no name, mtime 0, XFL 0, OS 255 "unknown").
GO_GZIP_HEADER = bytes.fromhex("1f8b08000000000000ff")
_GZIP_WBITS = 31

Compress = Callable[[bytes], bytes]


def _zlib_ng() -> Any:
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return None
    return zlib_ng


def _isal() -> Any:
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


#: Backends in the order ``auto`` tries them: (name, its module or None, highest level).
BACKENDS: tuple[tuple[str, Callable[[], Any], int], ...] = (
    ("zlib-ng", _zlib_ng, 9),
    ("isal", _isal, 3),
    ("zlib", lambda: zlib, 9),
)


def available_backends() -> list[str]:
    """Names of the backends that import here, best first (``zlib`` always)."""
    return [name for name, load, _ in BACKENDS if load() is not None]


def make_gzip(level: int, backend: str = "auto") -> tuple[str, Compress]:
    """Return (backend name, a function that gzips bytes at ``level``).

    ``level`` is zlib's scale, 0 (stored) to 9; ISA-L has levels 0-3 only (its
    0 is its fastest, not stored), so higher levels are clamped to 3 there.
    ``backend`` is ``auto`` or one of `BACKENDS`; an unknown or missing backend
    is a `ValueError`.
    """
    if not 0 <= level <= 9:
        raise ValueError(f"gzip level must be 0..9, got {level}")
    known = {name: (load, top) for name, load, top in BACKENDS}
    if backend == "auto":
        backend = available_backends()[0]
    if backend not in known:
        raise ValueError(f"unknown gzip backend {backend!r}; known: {', '.join(known)}")
    load, top = known[backend]
    module = load()
    if module is None:
        raise ValueError(f"gzip backend {backend!r} is not installed")
    deflate: Callable[..., bytes] = module.compress
    lvl = min(level, top)
    header = GO_GZIP_HEADER

    def gzip_bytes(data: bytes) -> bytes:
        return header + deflate(data, lvl, _GZIP_WBITS)[10:]

    return backend, gzip_bytes
