"""A loopback exporter that negotiates its format from the Accept header, as client_golang's
``promhttp`` does: the delimited protobuf exposition when the client ranks it first among
what the exporter offers, else the text format.

The protobuf body is written with `tests.exposition.protobuf_writer` (the ``prometheus_client``
package writes no protobuf), the text body is given as bytes. Every request's Accept header
is recorded, so a test can say what the agent asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from openagent.exposition import PROTOBUF_CONTENT_TYPE

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PROTOBUF_MEDIA = "application/vnd.google.protobuf"


def prefers_protobuf(accept: str) -> bool:
    """Whether the delimited protobuf exposition has the highest q among the offers that
    name it or text (ties go to the one listed first)."""
    best_q, best = -1.0, ""
    for offer in accept.split(","):
        media, *params = (p.strip() for p in offer.split(";"))
        q = 1.0
        args = {}
        for param in params:
            k, _, v = param.partition("=")
            if k == "q":
                q = float(v)
            else:
                args[k] = v
        if media == _PROTOBUF_MEDIA and args.get("encoding") == "delimited":
            kind = "protobuf"
        elif media in ("text/plain", "*/*"):
            kind = "text"
        else:
            continue
        if q > best_q:
            best_q, best = q, kind
    return best == "protobuf"


@dataclass
class NegotiatingExporter:
    """Serves ``protobuf`` or ``text`` as the Accept header asks; ``protobuf`` None: text only."""

    text: bytes = b""
    protobuf: bytes | None = None
    port: int = 0
    accepts: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        self.accepts.append(accept)
        if self.protobuf is not None and prefers_protobuf(accept):
            return web.Response(body=self.protobuf, headers={"Content-Type": PROTOBUF_CONTENT_TYPE})
        return web.Response(body=self.text, headers={"Content-Type": TEXT_CONTENT_TYPE})


@contextlib.asynccontextmanager
async def serving(exporter: NegotiatingExporter) -> AsyncIterator[NegotiatingExporter]:
    """Run ``exporter`` on 127.0.0.1 (a free port, set on it) for the block."""
    app = web.Application()
    app.router.add_get("/metrics", exporter.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    exporter.port = runner.addresses[0][1]
    try:
        yield exporter
    finally:
        await runner.cleanup()
