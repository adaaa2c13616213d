"""Small helpers for tests: polling for a condition, a scriptable loopback exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

#: Data the tests read, copied into the repo (tests/data/README.md names the sources).
DATA = Path(__file__).resolve().parent / "data"
#: Real dcgm-exporter outputs and the exporter's counter CSVs.
DCGM_FIXTURES = DATA / "dcgm"


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; return that."""
    async with asyncio.timeout(within):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)


@dataclass
class Exporter:
    """A loopback exporter whose body, status and delay tests can change between scrapes."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    content_type: str = "text/plain; charset=utf-8"
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    hits: list[float] = field(default_factory=list)

    async def handle(self, _: web.Request) -> web.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.hits.append(asyncio.get_running_loop().time())
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(
                body=self.body, status=self.status, headers={"Content-Type": self.content_type}
            )
        finally:
            self.in_flight -= 1
