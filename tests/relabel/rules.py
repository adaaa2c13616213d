"""A plain relabel rule for tests, shaped like the configuration models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One relabel rule with Prometheus's defaults."""

    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    target_label: str | None = None
    regex: str = "(.*)"
    modulus: int | None = None
    replacement: str = "$1"
    action: str = "replace"

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Rule:
        """Build a rule from YAML-style fields (``source_labels`` as a list)."""
        values = dict(fields)
        if isinstance(values.get("source_labels"), list):
            values["source_labels"] = tuple(values["source_labels"])
        return cls(**values)

    def as_yaml(self) -> dict[str, Any]:
        """The fields that differ from the defaults, as a Prometheus YAML mapping."""
        out: dict[str, Any] = {}
        default = Rule()
        for name in ("source_labels", "separator", "target_label", "regex", "modulus"):
            value = getattr(self, name)
            if value != getattr(default, name):
                out[name] = list(value) if name == "source_labels" else value
        if self.replacement != default.replacement:
            out["replacement"] = self.replacement
        if self.action != default.action:
            out["action"] = self.action
        return out
