"""Fixtures for the configuration tests: parse YAML snippets, list problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from openagent.config import ConfigError, LoadedConfig, parse_config
from tests.kube.support import client, kube, start_informer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config"
SOURCE = "scrape_config.yaml"

Parse = Callable[[str], LoadedConfig]
Errors = Callable[[str], list[str]]


def _doc(text: str) -> str:
    """Wrap a snippet that starts with ``targets:`` (or other section keys) in the section."""
    body = textwrap.dedent(text).strip("\n")
    if body.startswith(("features:", "#")):
        return body + "\n"
    indented = textwrap.indent(body, "    ")
    return f"features:\n  openAgent:\n    enabled: true\n{indented}\n"


@pytest.fixture
def parse() -> Parse:
    """Parse a snippet of ``features.openAgent`` (or a whole document)."""

    def run(text: str) -> LoadedConfig:
        return parse_config(_doc(text), SOURCE)

    return run


@pytest.fixture
def errors() -> Errors:
    """The errors of a snippet that must fail, as strings."""

    def run(text: str) -> list[str]:
        with pytest.raises(ConfigError) as info:
            parse_config(_doc(text), SOURCE)
        assert all(p.severity == "error" for p in info.value.problems)
        return [str(p) for p in info.value.problems]

    return run


@pytest.fixture
def warnings() -> Errors:
    """The warnings of a snippet that must load, as strings."""

    def run(text: str) -> list[str]:
        loaded = parse_config(_doc(text), SOURCE)
        assert all(p.severity == "warning" for p in loaded.warnings)
        return [str(p) for p in loaded.warnings]

    return run


#: The fake API server fixtures, for the ConfigMap source tests.
__all__ = ["client", "kube", "start_informer"]
