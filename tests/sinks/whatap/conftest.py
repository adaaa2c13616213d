"""Fixtures for the Whatap tests: a loopback TCP peer that sends fixed bytes, the
collector emulator, and the sinks a test made (closed after it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from benchmarks.whatap_collector import Collector
from openagent.sinks.whatap.sink import WhatapSink

ConnectTo = Callable[[bytes], Awaitable[asyncio.StreamReader]]


@pytest.fixture
async def stream_of() -> AsyncIterator[ConnectTo]:
    """``await stream_of(data)``: a StreamReader of a real 127.0.0.1 connection whose peer
    writes ``data`` and closes."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def connect(data: bytes) -> asyncio.StreamReader:
        async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(data)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        return reader

    yield connect
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector(drain_timeout=3.0) as c:
        yield c


@pytest.fixture
async def sinks() -> AsyncIterator[list[WhatapSink]]:
    made: list[WhatapSink] = []
    yield made
    for s in made:
        await s.close()
