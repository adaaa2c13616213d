"""Small helpers for tests: polling for a condition, a scriptable loopback exporter, a real
``openagent run`` process, and the samples a jsonl sink wrote."""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
#: One sample: metric name, its labels (sorted), timestamp in ms.
SampleKey = tuple[str, tuple[tuple[str, str], ...], int]
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


async def spawn_openagent(
    *args: str, log: Path, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``python -m openagent run ARGS`` from the repository, its stderr appended to ``log``.

    It sees none of this process's ``OPENAGENT_*`` and ``WHATAP_*`` variables, only
    ``env`` on top of the rest.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAGENT_", "WHATAP_"))}
    with open(log, "ab") as out:  # noqa: ASYNC230 - a local file, opened once
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "openagent", "run", *args,
            cwd=REPO, env=inherited | dict(env or {}),
            stdout=asyncio.subprocess.DEVNULL, stderr=out,
        )  # fmt: skip


def jsonl_samples(path: Path) -> set[SampleKey]:
    """The samples (not stale markers, not NaN) in a jsonl sink's file, complete lines only."""
    out: set[SampleKey] = set()
    for line in path.read_bytes().split(b"\n")[:-1]:
        doc = orjson.loads(line)
        value = doc.get("value")
        if doc.get("stale") or not isinstance(value, int | float) or math.isnan(value):
            continue
        out.add((doc["name"], tuple(sorted(doc["labels"].items())), doc["timestamp_ms"]))
    return out
