"""ScrapeClient against real loopback servers: headers, gzip, pooling, limits, timeouts, errors."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import socket
import zlib

import pytest
from aiohttp import web

from openagent.scrape.errors import REASONS
from openagent.scrape.http import ACCEPT, FetchResult, ScrapeClient, ScrapeFailure
from tests.loopback_http import (
    USER_AGENT,
    Endpoint,
    Handler,
    RawFactory,
    RawHandler,
    ServerFactory,
    ok_metrics,
    read_request_head,
)

pytestmark = pytest.mark.timeout(30)

PAYLOAD = b"".join(
    b'DCGM_FI_DEV_GPU_TEMP{gpu="%d",UUID="GPU-%08d"} %d\n' % (i, i, 40 + i % 30)
    for i in range(2000)
)


async def fetch_failure(
    client: ScrapeClient, url: str, endpoint: Endpoint | None = None, **kw: float
) -> ScrapeFailure:
    with pytest.raises(ScrapeFailure) as info:
        await client.fetch(url, endpoint or Endpoint(), **kw)
    assert info.value.reason in REASONS
    return info.value


# --- plain fetch and request headers ---------------------------------------------------------


async def test_fetch_returns_body_status_and_content_type(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=PAYLOAD, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    server = await http_server(handler)
    result = await client.fetch(server.url + "/metrics", Endpoint())
    assert isinstance(result, FetchResult)
    assert result.body == PAYLOAD
    assert result.status == 200
    assert result.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert result.body_bytes == result.uncompressed_bytes == len(PAYLOAD)


async def test_request_headers_seen_by_server(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(ok_metrics)
    await client.fetch(server.url + "/metrics", Endpoint(timeout=2.5))
    await client.fetch(server.url + "/metrics", Endpoint(timeout=2.5), timeout=10)
    first, second = (r.headers for r in server.requests)
    assert first["Accept"] == ACCEPT
    assert ACCEPT.startswith("application/openmetrics-text;version=1.0.0")
    assert first["Accept-Encoding"] == "gzip"
    assert first["User-Agent"] == USER_AGENT
    assert first["X-Prometheus-Scrape-Timeout-Seconds"] == "2.5"
    assert second["X-Prometheus-Scrape-Timeout-Seconds"] == "10"
    for headers in (first, second):
        assert "Authorization" not in headers
        assert "Cookie" not in headers


async def test_url_is_sent_verbatim(client: ScrapeClient, http_server: ServerFactory) -> None:
    server = await http_server(ok_metrics)
    await client.fetch(server.url + "/probe?module=http_2xx&metric=a%2Cb", Endpoint())
    assert server.requests[0].path_qs == "/probe?module=http_2xx&metric=a%2Cb"


async def test_cookies_are_not_kept(client: ScrapeClient, http_server: ServerFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=b"up 1\n")
        response.set_cookie("session", "abc")
        return response

    server = await http_server(handler)
    await client.fetch(server.url + "/metrics", Endpoint())
    await client.fetch(server.url + "/metrics", Endpoint())
    assert "Cookie" not in server.requests[1].headers


# --- connection pooling ------------------------------------------------------------------------


async def test_keep_alive_connection_is_reused(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(ok_metrics)
    for _ in range(5):
        await client.fetch(server.url + "/metrics", Endpoint())
    assert len(server.requests) == 5
    assert len(server.peers()) == 1


async def test_stale_keep_alive_connection_is_replaced(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    """A server that drops a pooled connection just as it is reused costs no scrape."""
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first_connection = connections == 1
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nup 1\n")
        await writer.drain()
        await read_request_head(reader)
        if first_connection:
            return  # close without answering the second request
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nup 2\n")
        await writer.drain()

    url = await raw_server(handler)
    assert (await client.fetch(url + "/metrics", Endpoint())).body == b"up 1\n"
    assert (await client.fetch(url + "/metrics", Endpoint())).body == b"up 1\n"
    assert connections == 2


async def test_close_then_fetch_opens_a_new_pool(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(ok_metrics)
    await client.fetch(server.url + "/metrics", Endpoint())
    await client.close()
    result = await client.fetch(server.url + "/metrics", Endpoint())
    assert result.body == b"up 1\n"
    assert len(server.peers()) == 2


# --- gzip ----------------------------------------------------------------------------------------


def gzip_handler(data: bytes, encoding: str = "gzip") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=data, headers={"Content-Encoding": encoding, "Content-Type": "text/plain"}
        )

    return handler


async def test_gzip_round_trip(client: ScrapeClient, http_server: ServerFactory) -> None:
    compressed = gzip.compress(PAYLOAD)
    server = await http_server(gzip_handler(compressed))
    result = await client.fetch(server.url + "/metrics", Endpoint())
    assert result.body == PAYLOAD
    assert result.body_bytes == len(compressed)
    assert result.uncompressed_bytes == len(PAYLOAD)
    assert result.body_bytes < result.uncompressed_bytes


async def test_gzip_with_several_members(client: ScrapeClient, http_server: ServerFactory) -> None:
    half = len(PAYLOAD) // 2
    data = gzip.compress(PAYLOAD[:half]) + gzip.compress(PAYLOAD[half:])
    server = await http_server(gzip_handler(data))
    assert (await client.fetch(server.url + "/", Endpoint())).body == PAYLOAD


async def test_corrupt_gzip_is_a_decompress_failure(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    broken = bytearray(gzip.compress(PAYLOAD))
    broken[20:40] = b"\xff" * 20
    server = await http_server(gzip_handler(bytes(broken)))
    failure = await fetch_failure(client, server.url + "/")
    assert failure.reason == "decompress"


async def test_truncated_gzip_is_a_decompress_failure(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(gzip_handler(gzip.compress(PAYLOAD)[:-30]))
    failure = await fetch_failure(client, server.url + "/")
    assert failure.reason == "decompress"
    assert "end marker" in failure.detail


async def test_unrequested_encoding_is_a_decompress_failure(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    server = await http_server(gzip_handler(zlib.compress(PAYLOAD), encoding="br"))
    failure = await fetch_failure(client, server.url + "/")
    assert failure.reason == "decompress"
    assert "'br'" in failure.detail


# --- body size limit -------------------------------------------------------------------------


async def test_body_limit_boundary_from_endpoint(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["n"]))

    server = await http_server(handler)
    endpoint = Endpoint(body_size_limit=1000)
    assert len((await client.fetch(server.url + "/?n=1000", endpoint)).body) == 1000
    failure = await fetch_failure(client, server.url + "/?n=1001", endpoint)
    assert failure.reason == "body_too_large"
    assert "1000" in failure.detail


async def test_content_length_over_limit_is_rejected_before_reading(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(60)  # the body never comes: only the header can trigger the failure

    url = await raw_server(handler)
    failure = await fetch_failure(client, url + "/metrics", Endpoint(timeout=20))
    assert failure.reason == "body_too_large"
    assert str(failure) == (
        "body_too_large: Content-Length 104857600 exceeds the body limit of 16777216"
    )


def chunked_body_server(total: int | None, chunk: bytes) -> RawHandler:
    """A raw handler streaming ``total`` bytes (None: forever) with chunked encoding."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while total is None or sent < total:
            writer.write(frame)
            sent += len(chunk)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return handler


async def test_endless_chunked_body_stops_at_the_limit(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    url = await raw_server(chunked_body_server(None, b"y" * 65536))
    failure = await fetch_failure(client, url + "/metrics", Endpoint(body_size_limit=1 << 20))
    assert failure.reason == "body_too_large"
    assert failure.detail == f"body exceeds {1 << 20} bytes"


async def test_100mb_body_with_16mb_limit(client: ScrapeClient, raw_server: RawFactory) -> None:
    url = await raw_server(chunked_body_server(100 * 1024 * 1024, b"z" * 262144))
    failure = await fetch_failure(client, url + "/metrics", Endpoint(timeout=20))
    assert failure.reason == "body_too_large"
    assert failure.detail == "body exceeds 16777216 bytes"


async def test_16mb_body_fits_a_16mb_limit(client: ScrapeClient, raw_server: RawFactory) -> None:
    url = await raw_server(chunked_body_server(16 * 1024 * 1024, b"z" * 262144))
    result = await client.fetch(url + "/metrics", Endpoint(timeout=20))
    assert result.uncompressed_bytes == 16 * 1024 * 1024
    assert result.body == b"z" * (16 * 1024 * 1024)


async def test_gzip_bomb_is_stopped_at_the_limit(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(64)) + packer.flush()
    assert len(bomb) < 1 << 17  # 64 MiB of zeros in under 128 KiB
    server = await http_server(gzip_handler(bomb))
    failure = await fetch_failure(client, server.url + "/", Endpoint(body_size_limit=4 << 20))
    assert failure.reason == "body_too_large"
    assert failure.detail == f"decompressed body exceeds {4 << 20} bytes"


# --- timeouts ----------------------------------------------------------------------------------


async def test_server_that_never_answers_times_out(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        await asyncio.sleep(60)

    url = await raw_server(handler)
    failure = await fetch_failure(client, url + "/metrics", Endpoint(timeout=0.3))
    assert failure.reason == "timeout"
    assert failure.detail.startswith("no complete response within 0.3s")
    assert "response headers" in failure.detail


async def test_body_that_stalls_times_out(client: ScrapeClient, raw_server: RawFactory) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nup 1\n")
        await writer.drain()
        await asyncio.sleep(60)

    url = await raw_server(handler)
    failure = await fetch_failure(client, url + "/metrics", Endpoint(timeout=5), timeout=1.0)
    assert failure.reason == "timeout"
    assert "reading the body" in failure.detail


async def test_trickling_body_times_out(client: ScrapeClient, raw_server: RawFactory) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)

    url = await raw_server(handler)
    failure = await fetch_failure(client, url + "/metrics", Endpoint(timeout=0.3))
    assert failure.reason == "timeout"


# --- connection and protocol errors ------------------------------------------------------------


async def test_connection_refused(client: ScrapeClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    failure = await fetch_failure(client, f"http://127.0.0.1:{port}/metrics")
    assert failure.reason == "connect"
    assert failure.detail == f"connection refused to 127.0.0.1:{port}"


async def test_connection_refused_ipv6(client: ScrapeClient) -> None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback")
    failure = await fetch_failure(client, f"http://[::1]:{port}/metrics")
    assert failure.reason == "connect"
    assert failure.detail == f"connection refused to [::1]:{port}"


async def test_garbage_response_is_a_protocol_failure(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    url = await raw_server(handler)
    assert (await fetch_failure(client, url + "/")).reason == "protocol"


async def test_server_closing_without_response_is_a_protocol_failure(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)

    url = await raw_server(handler)
    failure = await fetch_failure(client, url + "/")
    assert failure.reason == "protocol"
    assert "closed the connection" in failure.detail


async def test_short_body_is_a_protocol_failure(
    client: ScrapeClient, raw_server: RawFactory
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nup 1\n")
        await writer.drain()

    url = await raw_server(handler)
    assert (await fetch_failure(client, url + "/")).reason == "protocol"


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_non_2xx_is_an_http_status_failure(
    client: ScrapeClient, http_server: ServerFactory, status: int
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text="error page\n" + "e" * 5000)

    server = await http_server(handler)
    failure = await fetch_failure(client, server.url + "/metrics")
    assert failure.reason == "http_status"
    assert failure.detail.startswith(f"HTTP {status} {web.Response(status=status).reason}: error")
    assert len(failure.detail) < 300
    # The client is still usable for the same target afterwards.
    assert len(server.requests) == 1


async def test_redirect_loop_stops(client: ScrapeClient, http_server: ServerFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound("/again")

    server = await http_server(handler)
    failure = await fetch_failure(client, server.url + "/metrics")
    assert failure.reason == "http_status"
    assert "redirects" in failure.detail
    assert len(server.requests) == 11  # the first request and 10 redirects


async def test_redirect_is_followed(client: ScrapeClient, http_server: ServerFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/old":
            raise web.HTTPMovedPermanently("/metrics")
        return web.Response(body=b"up 1\n")

    server = await http_server(handler)
    assert (await client.fetch(server.url + "/old", Endpoint())).body == b"up 1\n"


async def test_redirect_to_a_dead_port_names_that_port(
    client: ScrapeClient, http_server: ServerFactory
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]

    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{dead}/metrics")

    server = await http_server(handler)
    failure = await fetch_failure(client, server.url + "/metrics")
    assert failure.reason == "connect"
    assert failure.detail == f"connection refused to 127.0.0.1:{dead}"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://127.0.0.1/metrics", "scheme"),
        ("http:///metrics", "no host"),
        ("http://127.0.0.1:9400/metrics page", "percent-encoded"),
        ("http://admin:hunter2@127.0.0.1:9400/metrics", "credentials in the URL"),
    ],
)
async def test_invalid_urls(client: ScrapeClient, url: str, needle: str) -> None:
    failure = await fetch_failure(client, url)
    assert failure.reason == "invalid_url"
    assert needle in failure.detail
    assert "hunter2" not in str(failure)


def test_failure_text_and_repr() -> None:
    failure = ScrapeFailure("http_status", "HTTP 503 Service Unavailable")
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.reason, copy.detail) == (failure.reason, failure.detail)
    assert str(failure) == "http_status: HTTP 503 Service Unavailable"
    assert repr(failure) == (
        "ScrapeFailure(reason='http_status', detail='HTTP 503 Service Unavailable')"
    )
    with pytest.raises(ValueError, match="unknown scrape failure reason"):
        ScrapeFailure("oops", "x")


def test_constructor_rejects_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="default_body_limit"):
        ScrapeClient(default_body_limit=0, user_agent="x")
