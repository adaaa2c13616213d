"""Loopback servers and small endpoint settings for the HTTP client tests.

`Endpoint` and friends are plain dataclasses that satisfy the client's
protocols. `http_server` starts a real aiohttp server on 127.0.0.1 (with TLS
when given a context) and records what each request looked like on the
server side; `raw_server` runs a bare asyncio server for targets that
misbehave at the HTTP level.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiohttp import web
from pydantic import SecretStr

from openagent.httpauth import SecretError, SecretRefLike, describe_ref
from openagent.scrape.http import ScrapeClient

DEFAULT_LIMIT = 16 * 1024 * 1024
USER_AGENT = "openagent-test/1.0"


@dataclass
class Ref:
    name: str
    key: str
    namespace: str | None = None


@dataclass
class TLS:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ca_secret: Ref | None = None
    cert_secret: Ref | None = None
    key_secret: Ref | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


@dataclass
class Basic:
    username: str | None = None
    username_secret: Ref | None = None
    password: SecretStr | None = None
    password_secret: Ref | None = None
    password_file: str | None = None


@dataclass
class Authz:
    type: str = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: str | None = None
    credentials_env: str | None = None
    credentials_secret: Ref | None = None


@dataclass
class Endpoint:
    scheme: str = "http"
    timeout: float = 5.0
    tls_config: TLS | None = None
    basic_auth: Basic | None = None
    authorization: Authz | None = None
    bearer_token_file: str | None = None
    body_size_limit: int = 0


class DictSecrets:
    """A resolver over an in-memory {(namespace, name, key): value} map."""

    def __init__(self, values: dict[tuple[str | None, str, str], bytes]) -> None:
        self.values = values

    async def get(self, ref: SecretRefLike) -> bytes:
        try:
            return self.values[(ref.namespace, ref.name, ref.key)]
        except KeyError:
            raise SecretError(f"{describe_ref(ref)} not found") from None


@dataclass
class Seen:
    """One request as the server saw it."""

    path_qs: str
    headers: dict[str, str]
    peer: tuple[Any, ...]
    sni: str | None = None
    client_cert: dict[str, Any] | None = None


@dataclass
class Server:
    url: str
    port: int
    requests: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def peers(self) -> set[tuple[Any, ...]]:
        return {r.peer for r in self.requests}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def http_server() -> AsyncIterator[ServerFactory]:
    """Factory: ``await http_server(handler, ssl_context=None)`` → a running `Server`."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> Server:
        server = Server(url="", port=0)
        if ssl_context is not None:
            ssl_context.sni_callback = lambda sock, name, ctx: server.sni.append(name)

        async def record(request: web.Request) -> web.StreamResponse:
            transport = request.transport
            assert transport is not None
            server.requests.append(
                Seen(
                    path_qs=request.raw_path,
                    headers=dict(request.headers),
                    peer=transport.get_extra_info("peername"),
                    client_cert=transport.get_extra_info("peercert"),
                )
            )
            return await handler(request)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", record)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context is not None else "http"
        server.url = f"{scheme}://127.0.0.1:{server.port}"
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
RawFactory = Callable[[RawHandler], Awaitable[str]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawFactory]:
    """Factory: ``await raw_server(handler)`` → base URL of a bare TCP server."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: RawHandler) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with contextlib.suppress(BaseException):
            await task
    for server in servers:
        await server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Read one request head (up to the blank line)."""
    return await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def client() -> AsyncIterator[ScrapeClient]:
    c = ScrapeClient(default_body_limit=DEFAULT_LIMIT, user_agent=USER_AGENT)
    yield c
    await c.close()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def loopback_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side TLS context presenting ``cert``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


async def ok_metrics(request: web.Request) -> web.Response:
    return web.Response(body=b"up 1\n", content_type="text/plain")
