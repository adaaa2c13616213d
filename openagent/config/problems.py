"""Problems found in a configuration file, and how their locations are written.

A location is the YAML path of the offending value. Paths under
``features.openAgent`` are written relative to it (``targets[2].endpoints[0].interval``);
anything else is written in full from the document root (``global.scrape_interval``,
``features.openAgent`` itself). Mapping keys that are not plain identifiers are
quoted in brackets: ``selector.matchLabels["app.kubernetes.io/name"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

#: One step of a YAML path: a mapping key or a list index.
PathPart = str | int
YamlPath = tuple[PathPart, ...]

#: Where ``features.openAgent`` sits; paths below it are written relative to it.
SECTION: YamlPath = ("features", "openAgent")

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(parts: YamlPath) -> str:
    """Write a YAML path following the module's convention."""
    if len(parts) > len(SECTION) and parts[: len(SECTION)] == SECTION:
        parts = parts[len(SECTION) :]
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out)


def describe(value: object) -> str:
    """Render a YAML value for a message: scalars as written, collections by kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Problem:
    """One error or warning: the file, the YAML path, what is wrong."""

    file: str
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        if self.path:
            return f"{self.file}: {self.path}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used.

    ``problems`` holds every error found (not just the first); ``warnings``
    holds the warnings found on the way, which do not by themselves make a
    configuration unusable.
    """

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__(self._summary())

    def _summary(self) -> str:
        n = len(self.problems)
        head = f"{n} error{'s' if n != 1 else ''} in the configuration"
        return "\n  ".join([head + ":", *(str(p) for p in self.problems)])


@dataclass(slots=True)
class Collector:
    """Problems gathered while checking one file."""

    file: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, path: YamlPath | str, message: str) -> None:
        """Record an error at ``path``."""
        where = path if isinstance(path, str) else format_path(path)
        self.errors.append(Problem(self.file, where, message, "error"))

    def warn(self, path: YamlPath | str, message: str) -> None:
        """Record a warning at ``path``."""
        where = path if isinstance(path, str) else format_path(path)
        self.warnings.append(Problem(self.file, where, message, "warning"))
