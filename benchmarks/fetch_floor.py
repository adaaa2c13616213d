"""What one fetch of a dcgm body costs the scraper: our client, plain aiohttp, and a floor.

Run: ``python -m benchmarks.fetch_floor [--nodes N] [--fetches K]``.

A synthetic fleet (:mod:`benchmarks.fleet`, 8 GPUs x 40 families, about 100 KB
per body) runs in a child process on 127.0.0.1; this process fetches its bodies
one after another on one event loop (uvloop) and reports the CPU time of this
process per fetch (user and system, from ``getrusage``), for:

* ``openagent``: `openagent.scrape.http.ScrapeClient.fetch`, as the scrape loop
  calls it (timeout, headers, body limit, decompression check);
* ``aiohttp``: ``session.get`` and ``read()`` with a shared session;
* ``floor``: a minimal HTTP/1.1 keep-alive client on ``asyncio.Protocol`` that
  only understands ``Content-Length`` bodies: what any Python client on this
  event loop must at least spend (system calls, copies, one wake-up per
  chunk). It is a yardstick, not a client to use.

The system time includes the kernel's loopback work for both ends of each
segment the process sends, as it would for any scraper on the same host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

from openagent.config.models import EndpointConfig
from openagent.scrape.http import ScrapeClient


class _FloorProtocol(asyncio.Protocol):
    """Reads one Content-Length response at a time from a kept-alive connection."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.need = -1
        self.done: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            del self.buf[: end + 4]
            self.need = length
        if len(self.buf) >= self.need and self.done is not None:
            body, self.buf = bytes(self.buf[: self.need]), self.buf[self.need :]
            self.need = -1
            self.done.set_result(body)

    async def get(self, host: str, path: str) -> bytes:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return await self.done


async def _floor(urls: list[str], fetches: int) -> float:
    loop = asyncio.get_running_loop()
    conns: dict[str, _FloorProtocol] = {}
    for url in urls:
        host = url.split("/")[2]
        addr, port = host.rsplit(":", 1)
        _, proto = await loop.create_connection(_FloorProtocol, addr, int(port))
        conns[url] = proto
        await proto.get(host, "/metrics")
    return await _timed(fetches, lambda i: conns[urls[i % len(urls)]].get("x", "/metrics"))


async def _aiohttp(urls: list[str], fetches: int) -> float:
    async with aiohttp.ClientSession(auto_decompress=False) as session:

        async def one(i: int) -> bytes:
            async with session.get(urls[i % len(urls)]) as resp:
                return await resp.read()

        for i in range(len(urls)):
            await one(i)
        return await _timed(fetches, one)


async def _openagent(urls: list[str], fetches: int) -> float:
    endpoint = EndpointConfig.model_validate({"address": "127.0.0.1:1"})
    async with ScrapeClient(default_body_limit=1 << 26, user_agent="bench") as client:

        async def one(i: int) -> object:
            return await client.fetch(urls[i % len(urls)], endpoint, timeout=10.0)

        for i in range(len(urls)):
            await one(i)
        return await _timed(fetches, one)


async def _timed(fetches: int, one: Callable[[int], Awaitable[object]]) -> float:
    """CPU seconds (user + system) of this process per call of ``one``."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(fetches):
        await one(i)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / fetches


def _start_fleet(nodes: int, work: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    endpoints = work / "endpoints.json"
    endpoints.unlink(missing_ok=True)
    fleet = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.fleet",
            "--nodes",
            str(nodes),
            "--base-port",
            "0",
            "--endpoints-file",
            str(endpoints),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not endpoints.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    urls = [e["url"] for e in json.loads(endpoints.read_text())["nodes"]]
    return fleet, urls


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fetch_floor", description=__doc__)
    p.add_argument("--nodes", type=int, default=20, help="fleet nodes fetched in turn (20)")
    p.add_argument("--fetches", type=int, default=600, help="fetches per client and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported (3)")
    p.add_argument("--workdir", type=Path, default=Path(".bench/fetch_floor"))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    fleet, urls = _start_fleet(args.nodes, args.workdir)
    try:
        clients = {"openagent": _openagent, "aiohttp": _aiohttp, "floor": _floor}
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, run in clients.items():
                cost = uvloop.run(run(urls, args.fetches))
                best[name] = min(best.get(name, cost), cost)
        print("| client | µs CPU per fetch | x the floor |\n|---|---:|---:|")
        for name, cost in best.items():
            print(f"| {name} | {cost * 1e6:.0f} | {cost / best['floor']:.2f} |")
    finally:
        fleet.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            fleet.wait(timeout=10)


if __name__ == "__main__":
    main()
