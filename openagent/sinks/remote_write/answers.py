"""What a receiver's answer means: done, retry (after how long), or rejected for good."""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass
from typing import Final

import aiohttp

from openagent.sinks.base import SinkError

#: How much of a receiver's error answer is quoted.
MESSAGE_CHARS: Final = 200


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay seconds or an HTTP date).

    A date in the past gives 0; a missing or unreadable value gives None.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver answered to one POST.

    ``message`` is the start of an error answer's body, ``retry_after`` its
    ``Retry-After`` header, ``location`` the target of a redirect that was
    not followed (as a log may show it).
    """

    status: int
    message: str = ""
    retry_after: str | None = None
    location: str | None = None

    @property
    def ok(self) -> bool:
        """The receiver took the request."""
        return 200 <= self.status < 300

    def error(self, where: str) -> SinkError:
        """The `SinkError` for this answer (call only when not ``ok``)."""
        error = classify(
            self.status, self.message, self.retry_after, where=where, location=self.location
        )
        assert error is not None
        return error


def classify(
    status: int,
    message: str,
    retry_after: str | None = None,
    *,
    where: str = "receiver",
    location: str | None = None,
) -> SinkError | None:
    """The `SinkError` for a receiver's answer, None when it took the batch.

    ``message`` is the start of the answer's body, ``retry_after`` its
    ``Retry-After`` header, ``where`` names the receiver in the error text,
    ``location`` the target of a redirect that was not followed. A redirect
    is permanent: the receiver's address is wrong until the configuration
    changes.
    """
    if 200 <= status < 300:
        return None
    text = f"{where} answered {status}"
    if 300 <= status < 400:
        text += f" redirecting to {location or '(no Location)'}, not followed"
    text += f": {message}" if message else ""
    if status == 429 or status >= 500:
        return SinkError(text, retryable=True, retry_after=parse_retry_after(retry_after))
    return SinkError(text, retryable=False)


async def read_message(resp: aiohttp.ClientResponse) -> str:
    """The start of an error answer, on one line, printable."""
    try:
        data = await resp.content.read(MESSAGE_CHARS * 4)
    except (aiohttp.ClientError, OSError):
        return ""
    text = " ".join(data.decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:MESSAGE_CHARS] + ("…" if len(text) > MESSAGE_CHARS else "")
