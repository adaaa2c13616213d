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

#: Most UTF-8 bytes of a target's error text wherever it is shown (``/targets``, its JSON,
#: the log). Texts quoted from a target were unbounded: a 100 KB label name came back
#: whole in the parse error, so in every log line and `/targets` row, and garbage from a
#: target was reported at 15 KB a scrape. The reason and where it failed fit in a few
#: hundred bytes; the rest only repeats what the target sent.
ERROR_TEXT_LIMIT = 400


def shown(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``text`` fit to show: characters that are not printable escaped (``\\x07``), and cut
    to at most ``limit`` UTF-8 bytes, ending in an ellipsis and the length of the whole."""
    if len(text) <= limit // 4 and text.isprintable():
        return text  # short enough in any encoding: the common case costs two checks
    head = text[:limit]  # escaping and encoding never see more than the part shown
    if not head.isprintable():
        head = "".join(c if c.isprintable() else repr(c)[1:-1] for c in head)
    data = head.encode()
    if len(text) <= limit and len(data) <= limit:
        return head
    tail = f"… [{len(text)} characters]"
    room = limit - len(tail.encode())
    return data[:room].decode("utf-8", "ignore") + tail


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
