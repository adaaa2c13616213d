"""The two errors a parse can end with: malformed input and a scrape limit."""

from __future__ import annotations

from typing import Literal

LimitReason = Literal[
    "sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit"
]


class ParseError(ValueError):
    """Malformed exposition text. ``line`` is 1-based; ``reason`` says what is wrong."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason

    def __reduce__(self) -> tuple[type[ParseError], tuple[int, str]]:
        return (ParseError, (self.line, self.reason))


class LimitExceeded(ValueError):
    """A configured scrape limit was exceeded; the whole scrape fails, as in Prometheus.

    ``reason`` names the limit; ``line`` is the 1-based line of the offending
    series, or None for ``sample_limit``.
    """

    def __init__(self, reason: LimitReason, detail: str, line: int | None = None) -> None:
        where = "" if line is None else f" at line {line}"
        super().__init__(f"{reason} exceeded{where}: {detail}")
        self.reason: LimitReason = reason
        self.detail = detail
        self.line = line

    def __reduce__(
        self,
    ) -> tuple[type[LimitExceeded], tuple[LimitReason, str, int | None]]:
        return (LimitExceeded, (self.reason, self.detail, self.line))


class LineError(Exception):
    """Raised by the line tokenizer; the parser adds the line number."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
