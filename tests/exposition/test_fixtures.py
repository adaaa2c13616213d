"""Real dcgm-exporter outputs (``tests/data/dcgm``) parse completely."""

from __future__ import annotations

from pathlib import Path

import pytest

from openagent.exposition import Parser, decode_body, is_openmetrics
from tests.exposition.conftest import DCGM_FIXTURES, CountingBuilder


def test_fixtures_are_there() -> None:
    assert len(DCGM_FIXTURES) >= 7


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("path", DCGM_FIXTURES, ids=lambda p: p.name)
def test_fixture_parses(path: Path) -> None:
    text = decode_body(path.read_bytes())
    builder = CountingBuilder()
    parser = Parser(builder)
    parsed = parser.parse(text, openmetrics=is_openmetrics(None), default_ts_ms=0)
    lines = sample_lines(text)
    assert parsed.samples == len(parsed.series) == len(lines)
    assert text.splitlines()[0].startswith("# source:")
    for series, value, line in zip(parsed.series, parsed.values, lines, strict=True):
        assert line.startswith(series.name + "{")
        assert float(line.rsplit(" ", 1)[1]) == value
        labels = dict(series.labels)
        assert labels["gpu"].isdigit() and labels["UUID"].startswith("GPU-")
        assert labels["modelName"] in line
    help_lines = [line for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(parsed.metadata) == len(help_lines)
    assert all(m.type in ("gauge", "counter") for m in parsed.metadata.values())
    calls = builder.calls
    again = parser.parse(text, openmetrics=False, default_ts_ms=0)
    assert builder.calls == calls
    assert again.series == parsed.series and again.metadata is parsed.metadata
