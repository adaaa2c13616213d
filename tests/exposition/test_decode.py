"""Content-Type detection."""

from __future__ import annotations

import pytest

from openagent.exposition import is_openmetrics


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", True),
        ("application/openmetrics-text", True),
        ("Application/OpenMetrics-Text;version=0.0.1", True),
        ("text/plain; version=0.0.4; charset=utf-8", False),
        ("text/plain", False),
        ("", False),
        (None, False),
        ("application/json", False),
        ("application/openmetrics-textual", False),
    ],
)
def test_is_openmetrics(content_type: str | None, expected: bool) -> None:
    assert is_openmetrics(content_type) is expected
