"""What the agent will take: config bytes and endpoints, and the scrape interval floor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openagent.config import ConfigError, ConfigLimits, FileSource, LoadedConfig, load_config
from openagent.config.limits import count_endpoints
from openagent.config.loader import parse_config_bytes

SMALL = ConfigLimits(max_bytes=600, max_endpoints=3)


def config_text(endpoints: int, interval: str = "30s", minimum: str | None = None) -> str:
    lines = ["features:", "  openAgent:", "    enabled: true"]
    if minimum is not None:
        lines.append(f"    minimumInterval: {minimum}")
    lines += ["    targets:", "    - targetName: fleet", "      type: StaticEndpoints"]
    lines.append("      endpoints:")
    for i in range(endpoints):
        lines.append(f"      - {{address: '127.0.0.1:{20000 + i}', interval: {interval}}}")
    return "\n".join(lines) + "\n"


def padded(text: str, size: int) -> bytes:
    """``text`` with a trailing comment that makes it exactly ``size`` bytes."""
    data = text.encode()
    return data + b"#" + b"x" * (size - len(data) - 2) + b"\n"


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_a_config_at_the_byte_limit_loads_and_one_byte_more_is_refused() -> None:
    text = config_text(1)
    assert len(parse_config_bytes(padded(text, 600), "c.yaml", SMALL).config.targets) == 1
    with pytest.raises(ConfigError) as exc:
        parse_config_bytes(padded(text, 601), "c.yaml", SMALL)
    assert problems(exc) == [
        "c.yaml: is 601 bytes, more than the limit of 600B (--config-max-bytes); not loaded"
    ]


def test_a_file_over_the_limit_is_refused_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(padded(config_text(1), 1000))
    with pytest.raises(ConfigError) as exc:
        load_config(path, SMALL)
    assert problems(exc) == [
        f"{path}: is 1,000 bytes, more than the limit of 600B (--config-max-bytes); not loaded"
    ]


def test_reading_stops_after_the_limit_even_when_the_size_says_nothing() -> None:
    """/dev/zero reports no size and never ends: only a bounded read returns."""
    with pytest.raises(ConfigError) as exc:
        load_config("/dev/zero", SMALL)
    assert problems(exc) == [
        "/dev/zero: grew while read, to more than the limit of 600B (--config-max-bytes); "
        "not loaded"
    ]


def test_endpoints_over_the_limit_are_refused_before_any_is_checked() -> None:
    assert len(parse_config_bytes(config_text(3).encode(), "c", SMALL).config.targets) == 1
    bad = config_text(4, interval="15x")  # four errors, were the endpoints checked
    with pytest.raises(ConfigError) as exc:
        parse_config_bytes(bad.encode(), "c", SMALL)
    assert problems(exc) == [
        "c: targets: 4 endpoints, more than the limit of 3 (--config-max-endpoints); not loaded"
    ]


def test_endpoints_are_counted_over_every_target_and_a_target_without_a_list_counts_one() -> None:
    targets = [{"endpoints": [{}, {}]}, {"endpoints": []}, {"selector": {}}, "odd", {}]
    assert count_endpoints(targets) == 6
    assert count_endpoints(None) == 0


def test_a_minimum_interval_below_the_floor_warns_and_the_floor_holds() -> None:
    loaded = parse_config_bytes(config_text(1, "1ms", minimum="0s").encode(), "c", SMALL)
    warnings = [str(w) for w in loaded.warnings]
    assert warnings[0].startswith("c: minimumInterval: 0s is below 1s: ")
    assert "no endpoint more often than every 1s (--min-scrape-interval)" in warnings[0]
    assert warnings[1] == (
        "c: targets[0].endpoints[0].interval: 1ms is below minimumInterval 1s; using 1s"
    )
    assert loaded.config.targets[0].endpoints[0].interval == 1.0
    assert loaded.config.minimum_interval == 1.0


def test_without_a_floor_a_short_minimum_interval_is_taken_as_written() -> None:
    limits = ConfigLimits(interval_floor=0.0)
    loaded = parse_config_bytes(config_text(1, "1ms", minimum="0s").encode(), "c", limits)
    assert loaded.warnings == []
    assert loaded.config.targets[0].endpoints[0].interval == 0.001


async def test_the_file_source_reports_a_file_over_the_limit_unread(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(padded(config_text(1), 1000))
    seen: list[LoadedConfig | ConfigError] = []

    async def record(event: LoadedConfig | ConfigError) -> None:
        seen.append(event)

    source = FileSource(path, record, record, interval=3600, limits=SMALL)
    await asyncio.wait_for(source.poll(), 5)
    (error,) = seen
    assert isinstance(error, ConfigError)
    assert "is 1,000 bytes, more than the limit of 600B" in str(error.problems[0])
    path.write_bytes(padded(config_text(1), 600))
    await asyncio.wait_for(source.poll(), 5)
    assert isinstance(seen[-1], LoadedConfig)
