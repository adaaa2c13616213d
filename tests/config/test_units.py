"""Durations and sizes as written in the configuration and the environment."""

from __future__ import annotations

import pytest

from openagent.config import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("1y", 31536000.0),
        ("250us", 0.00025),
        ("30", 30.0),
        (" 10s ", 10.0),
        (45, 45.0),
        (2.5, 2.5),
        ("0s", 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("15x", "'15x' is not a duration"),
        ("", "'' is not a duration"),
        ("s", "'s' is not a duration"),
        ("1h 30m", "'1h 30m' is not a duration"),
        ("-5s", "'-5s' is not a duration"),
        ("15s5", "'15s5' is not a duration"),
        (-1, "-1 is not a duration"),
        (True, "true is not a duration"),
        ([1], "expected a duration such as '15s', got list"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15, "15s"), (90, "1m30s"), (0.5, "500ms"), (3600, "1h"), (5400.25, "1h30m250ms"), (0, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("512B", 512),
        ("16KiB", 16 * 1024),
        ("64MiB", 64 * 1024**2),
        ("64mib", 64 * 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("16kB", 16_000),
        ("10MB", 10_000_000),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("2 GB", 2_000_000_000),
        (0, 0),
    ],
)
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "16M",
            "'16M' is not a size: use bytes or a number with B, KiB, MiB, GiB, TiB, kB, MB, GB "
            "or TB",
        ),
        (
            "lots",
            "'lots' is not a size: use bytes or a number with B, KiB, MiB, GiB, TiB, kB, MB, GB "
            "or TB",
        ),
        (-1, "a size cannot be negative, got -1"),
        (True, "expected a size such as '64MiB', got true"),
        (1.5, "expected a size such as '64MiB', got float"),
    ],
)
def test_bad_sizes(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(value)
    assert str(info.value) == message


def test_format_size() -> None:
    assert format_size(64 * 1024**2) == "64MiB"
    assert format_size(1024**3) == "1GiB"
    assert format_size(1000) == "1000B"
