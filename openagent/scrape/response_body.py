"""Reading a response body under a hard size limit, decompressing gzip incrementally.

The limit applies to the body the parser will see, i.e. after decompression,
so a small gzip bomb is stopped as soon as its output passes the limit. The
compressed stream is bounded too: by the limit plus deflate's worst-case
overhead on incompressible data (a stored block costs 5 bytes per 64 KiB),
since a compressed body larger than that cannot decompress to within the limit.
"""

from __future__ import annotations

import zlib

import aiohttp

from openagent.scrape.errors import ScrapeFailure

_GZIP_WBITS = 16 + zlib.MAX_WBITS


def compressed_limit(limit: int) -> int:
    """The most compressed bytes a gzip body within ``limit`` can take."""
    return limit + limit // 64 + 4096


class _Gunzip:
    """Incremental gzip decoder that refuses to produce more than ``limit`` bytes.

    Several concatenated gzip members (RFC 1952 §2.2) decode as one body.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._produced = 0
        self._fed = False
        self._d = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, data: bytes, out: list[bytes]) -> None:
        self._fed = True
        try:
            while data:
                if self._d.eof:
                    self._d = zlib.decompressobj(_GZIP_WBITS)
                # At most one byte past the limit: enough to know it was passed.
                chunk = self._d.decompress(data, self._limit - self._produced + 1)
                self._produced += len(chunk)
                if self._produced > self._limit:
                    raise ScrapeFailure(
                        "body_too_large", f"decompressed body exceeds {self._limit} bytes"
                    )
                if chunk:
                    out.append(chunk)
                data = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
        except zlib.error as exc:
            raise ScrapeFailure("decompress", f"invalid gzip data: {exc}") from None

    def finish(self) -> None:
        if self._fed and not self._d.eof:
            raise ScrapeFailure("decompress", "gzip stream ends before its end marker")


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, int]:
    """Return (body, bytes received) of ``resp``, decoded per its Content-Encoding.

    Raises `ScrapeFailure` with reason ``body_too_large`` (before reading when
    Content-Length already says so, else as soon as the limit is passed) or
    ``decompress``. The caller closes the response on failure.
    """
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    gunzip: _Gunzip | None
    if encoding in ("", "identity"):
        gunzip, raw_limit, what = None, limit, "body"
    elif encoding in ("gzip", "x-gzip"):
        gunzip, raw_limit, what = _Gunzip(limit), compressed_limit(limit), "gzip body"
    else:
        raise ScrapeFailure(
            "decompress", f"unsupported Content-Encoding {encoding!r} (only gzip is accepted)"
        )
    length = resp.content_length
    if length is not None and length > raw_limit:
        raise ScrapeFailure(
            "body_too_large", f"Content-Length {length} exceeds the {what} limit of {raw_limit}"
        )
    chunks: list[bytes] = []
    received = 0
    content = resp.content
    while chunk := await content.readany():
        received += len(chunk)
        if received > raw_limit:
            raise ScrapeFailure("body_too_large", f"{what} exceeds {raw_limit} bytes")
        if gunzip is None:
            chunks.append(chunk)
        else:
            gunzip.feed(chunk, chunks)
    if gunzip is not None:
        gunzip.finish()
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body, received
