"""The one exception a failed fetch raises, with a reason fit for a metrics label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Every value `ScrapeFailure.reason` can take.
REASONS: Final = frozenset(
    {
        "timeout",
        "connect",
        "tls",
        "http_status",
        "body_too_large",
        "decompress",
        "auth",
        "invalid_url",
        "protocol",
    }
)

_REDACTED = "<redacted>"


class ScrapeFailure(Exception):
    """A fetch that produced no body.

    ``reason`` is one of `REASONS`; ``detail`` is text for an operator. Neither
    ever holds a credential: texts that come from the target (an error body)
    are scrubbed of the credentials sent with the request.
    """

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown scrape failure reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"ScrapeFailure(reason={self.reason!r}, detail={self.detail!r})"

    def __reduce__(self) -> tuple[type[ScrapeFailure], tuple[str, str]]:
        return (ScrapeFailure, (self.reason, self.detail))

    def scrubbed(self, secrets: Iterable[str]) -> ScrapeFailure:
        """Return this failure with every occurrence of the given secrets replaced."""
        detail = self.detail
        for secret in secrets:
            if secret:
                detail = detail.replace(secret, _REDACTED)
        if detail == self.detail:
            return self
        return ScrapeFailure(self.reason, detail)
