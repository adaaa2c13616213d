"""Durations and byte sizes as written in configuration files and environment variables."""

from __future__ import annotations

import math
import re

_DURATION_UNITS: dict[str, float] = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|y|w|d|h|m|s)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")


def parse_duration(value: object) -> float:
    """Return a duration in seconds.

    Accepts Prometheus and Go duration strings (``1h30m``, ``15s``, ``500ms``,
    ``1.5s``, units ``y w d h m s ms us ns``), a bare number string meaning
    seconds (``"30"``, as the Go agent reads it) and YAML numbers (seconds).
    Raises ``ValueError("'15x' is not a duration")`` for anything else,
    including negative values and booleans.
    """
    if isinstance(value, bool):
        raise ValueError(f"{'true' if value else 'false'} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '15s', got {type(value).__name__}")
    text = value.strip()
    if _BARE_NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"{value!r} is not a duration")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds compactly in Prometheus style: ``90`` → ``1m30s``, ``0.5`` → ``500ms``."""
    if seconds <= 0:
        return "0s"
    ms_total = round(seconds * 1000)
    if ms_total == 0:
        return f"{seconds:g}s"
    whole, ms = divmod(ms_total, 1000)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, whole = divmod(whole, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


def parse_size(value: object) -> int:
    """Return a size in bytes.

    Accepts non-negative integers (bytes) and strings with an optional unit:
    ``1024``, ``512B``, ``16KiB``/``16MiB``/``1GiB``/``1TiB`` (powers of 1024) and
    ``16kB``/``16MB``/``1GB``/``1TB`` (powers of 1000); units are case-insensitive.
    Raises ``ValueError`` naming the value otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '64MiB', got {str(value).lower()}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as '64MiB', got {type(value).__name__}")
    match = _SIZE.fullmatch(value.strip().lower())
    if match is None or (match.group(2) and match.group(2) not in _SIZE_UNITS):
        raise ValueError(
            f"{value!r} is not a size: use bytes or a number with B, KiB, MiB, GiB, TiB, "
            "kB, MB, GB or TB"
        )
    number = float(match.group(1))
    return int(number * _SIZE_UNITS[match.group(2) or "b"])


def format_size(n: int) -> str:
    """Render bytes compactly with binary units when exact: ``67108864`` → ``64MiB``."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"
