"""Fixtures for the Whatap codec tests: a loopback TCP peer that sends fixed bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

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
