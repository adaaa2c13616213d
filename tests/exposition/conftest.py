"""Fixtures of the exposition tests: fixture files, a counting builder, a loopback body server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from openagent.exposition import Parsed, Parser
from openagent.model import Labels, Series
from tests.support import DCGM_FIXTURES as DCGM_FIXTURE_DIR

DCGM_FIXTURES = sorted(DCGM_FIXTURE_DIR.glob("*.txt"))

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class CountingBuilder:
    """A builder that makes plain Series and counts its calls; ``drop`` names are dropped."""

    def __init__(self, drop: frozenset[str] = frozenset(), extra: Labels = ()) -> None:
        self.calls = 0
        self.drop = drop
        self.extra = extra

    def __call__(self, name: str, labels: Labels) -> Series | None:
        self.calls += 1
        if name in self.drop:
            return None
        return Series(name, labels + self.extra)


@pytest.fixture
def builder() -> CountingBuilder:
    """A fresh counting builder."""
    return CountingBuilder()


class BodyServer:
    """Serves fixed bodies on 127.0.0.1 from a background thread (so sync code can wait)."""

    def __init__(self, bodies: dict[str, tuple[bytes, str]]) -> None:
        self.bodies = bodies
        self.port = 0
        self.hits: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        entry = self.bodies.get(request.path)
        if entry is None:
            return web.Response(status=404)
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        body, content_type = entry
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as a scrape target."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> BodyServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def body_server_factory() -> Iterator[type[BodyServer]]:
    """The BodyServer class (a context manager), for module-scoped fixtures to use."""
    yield BodyServer


def rows(parsed: Parsed) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) per kept sample, in order."""
    return [(s.name, dict(s.labels), v) for s, v in zip(parsed.series, parsed.values, strict=True)]


def parse_text(text: str, *, openmetrics: bool = False, ts: int = 1000) -> Parsed:
    """Parse with a fresh Parser and a plain builder."""
    return Parser(CountingBuilder()).parse(text, openmetrics=openmetrics, default_ts_ms=ts)
