"""Shared pieces of the relabel package: defaults, the rule protocol, the error type."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import re2

DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"
DEFAULT_ACTION = "replace"

_NAMED_TARGET = frozenset({"hashmod", "lowercase", "uppercase", "keepequal", "dropequal"})
_NEEDS_TARGET = _NAMED_TARGET | {"replace"}
ACTIONS = _NEEDS_TARGET | {"keep", "drop", "labelmap", "labeldrop", "labelkeep"}
_MAX_MODULUS = 2**64 - 1

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Prometheus's check of a target_label / labelmap replacement template (RE2 has no backtracking).
_TEMPLATE_OPTIONS = re2.Options()
_TEMPLATE_OPTIONS.log_errors = False
_TEMPLATE_SHAPE = re2.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+", _TEMPLATE_OPTIONS)


class RuleLike(Protocol):
    """One relabel rule as configured; config models satisfy this structurally."""

    @property
    def source_labels(self) -> Sequence[str]: ...
    @property
    def separator(self) -> str: ...
    @property
    def target_label(self) -> str | None: ...
    @property
    def regex(self) -> str: ...
    @property
    def modulus(self) -> int | None: ...
    @property
    def replacement(self) -> str: ...
    @property
    def action(self) -> str: ...


class RelabelError(ValueError):
    """A relabel rule Prometheus would reject; names the rule ``index`` and the ``field``."""

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None):
        self.message = message
        self.field = field
        self.index = index
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "relabel rule" if self.index is None else f"relabel rule {self.index}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"

    def at(self, index: int) -> RelabelError:
        """The same error, attributed to rule number ``index``."""
        return RelabelError(self.message, field=self.field, index=index)


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a valid (legacy charset) Prometheus label name."""
    return _LABEL_NAME.fullmatch(name) is not None
