"""Turning a response into text: strict UTF-8 decoding and format detection."""

from __future__ import annotations

from openagent.exposition.errors import ParseError

_OPENMETRICS = "application/openmetrics-text"


def decode_body(body: bytes) -> str:
    """Decode ``body`` as strict UTF-8; invalid bytes raise ParseError with their line."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        bad = body[e.start : e.end].hex(" ")
        raise ParseError(line, f"invalid UTF-8 ({e.reason}: {bad})") from None


def is_openmetrics(content_type: str | None) -> bool:
    """True when a Content-Type header names OpenMetrics text (any version)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == _OPENMETRICS
