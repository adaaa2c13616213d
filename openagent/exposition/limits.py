"""Prometheus's per-scrape limits, checked by the parser."""

from __future__ import annotations

from dataclasses import dataclass

from openagent.exposition.errors import LimitExceeded
from openagent.model import Series


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode())


@dataclass(frozen=True, slots=True)
class Limits:
    """Prometheus's per-scrape limits; 0 means unlimited.

    The label limits apply to the series the builder returns (after
    relabelling, ``__name__`` included, lengths in UTF-8 bytes), as in Prometheus.
    """

    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0

    @property
    def on_labels(self) -> bool:
        """True when some label limit is set."""
        return bool(
            self.label_limit or self.label_name_length_limit or self.label_value_length_limit
        )

    def check(self, series: Series) -> None:
        """Raise LimitExceeded when ``series`` breaks a label limit."""
        count = len(series.labels) + 1
        if self.label_limit and count > self.label_limit:
            raise LimitExceeded(
                "label_limit",
                f"{series.name} has {count} labels with __name__, limit {self.label_limit}",
            )
        name_max = self.label_name_length_limit
        value_max = self.label_value_length_limit
        for lname, lvalue in (("__name__", series.name), *series.labels):
            if name_max and _utf8_len(lname) > name_max:
                raise LimitExceeded(
                    "label_name_length_limit",
                    f"label name {lname!r} of {series.name} is {_utf8_len(lname)} bytes, "
                    f"limit {name_max}",
                )
            if value_max and _utf8_len(lvalue) > value_max:
                raise LimitExceeded(
                    "label_value_length_limit",
                    f"value of label {lname!r} of {series.name} is {_utf8_len(lvalue)} bytes, "
                    f"limit {value_max}",
                )
