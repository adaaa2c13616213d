"""The agent's HTTP server on a real loopback socket: /targets in JSON and HTML, and the index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest

from openagent.config.models import EndpointConfig
from openagent.model import Target, TargetState
from openagent.server import (
    PAGE_POLICY,
    ServerOptions,
    ServerView,
    TargetRow,
    bound_port,
    start_server,
)

#: The keys /targets answered with before the shard was added; clients may rely on each.
KEYS_BEFORE_SHARD = {
    "id", "worker", "job", "instance", "url", "source", "labels", "health", "last_scrape",
    "last_scrape_duration_seconds", "last_error", "samples", "interval_seconds",
    "timeout_seconds", "next_scrape",
}  # fmt: skip


def rows() -> list[TargetRow]:
    endpoint = EndpointConfig()
    up = TargetState(health="up", last_scrape_ms=1_800_000_000_000, samples=5)
    down = TargetState(health="down", last_error="refused")
    return [
        (Target("dcgm", "http://127.0.0.1:1/metrics", (("job", "dcgm"),), endpoint), up, None),
        (Target("dcgm", "http://127.0.0.1:2/metrics", (("job", "dcgm"),), endpoint), down, 1),
    ]


Serve = Callable[[ServerView], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Factory: serve a view on 127.0.0.1, any free port; returns the base URL."""
    runners = []

    async def start(view: ServerView) -> str:
        runner = await start_server(view, ServerOptions(host="127.0.0.1", port=0))
        runners.append(runner)
        return f"http://127.0.0.1:{bound_port(runner)}"

    yield start
    for runner in runners:
        await runner.cleanup()


def view(shard: str | None = None) -> ServerView:
    async def targets() -> list[TargetRow]:
        return rows()

    if shard is None:
        return ServerView(ready=lambda: (True, "ok"), targets=targets, config=dict)
    return ServerView(ready=lambda: (True, "ok"), targets=targets, config=dict, shard=lambda: shard)


async def get(url: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_targets_json_keeps_every_key_and_adds_the_shard(serve: Serve) -> None:
    status, headers, body = await get(await serve(view("shard-a")) + "/targets")
    answer = orjson.loads(body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert all(set(t) == KEYS_BEFORE_SHARD | {"shard"} for t in answer)
    assert [(t["worker"], t["shard"]) for t in answer] == [(None, "shard-a"), (1, "shard-a")]
    assert answer[0]["last_scrape"] == "2027-01-15T08:00:00.000Z"


async def test_an_unsharded_agent_answers_a_null_shard(serve: Serve) -> None:
    _, _, body = await get(await serve(view()) + "/targets")
    assert [t["shard"] for t in orjson.loads(body)] == [None, None]


async def test_the_health_filter_applies_to_json(serve: Serve) -> None:
    _, _, body = await get(await serve(view()) + "/targets?health=down")
    assert [t["url"] for t in orjson.loads(body)] == ["http://127.0.0.1:2/metrics"]


@pytest.mark.parametrize("query", ["health=sideways", "format=xml"])
async def test_an_unknown_filter_or_format_is_a_bad_request(serve: Serve, query: str) -> None:
    status, _, _ = await get(await serve(view()) + f"/targets?{query}")
    assert status == 400


async def test_a_browser_gets_the_page_under_a_policy_that_lets_it_load_nothing(
    serve: Serve,
) -> None:
    status, headers, body = await get(await serve(view("s")) + "/targets", "text/html,*/*")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == PAGE_POLICY
    assert "default-src 'none'" in PAGE_POLICY and "script-src" not in PAGE_POLICY
    assert b"<title>openagent \xc2\xb7 targets</title>" in body and b"1/2 up" in body


@pytest.mark.parametrize(
    ("query", "accept", "html"),
    [("format=json", "text/html", False), ("format=html", None, True), ("", None, False)],
)
async def test_the_format_parameter_overrides_the_accept_header(
    serve: Serve, query: str, accept: str | None, html: bool
) -> None:
    _, headers, _ = await get(await serve(view()) + f"/targets?{query}", accept)
    assert headers["Content-Type"].startswith("text/html" if html else "application/json")


async def test_the_index_links_the_targets_page(serve: Serve) -> None:
    status, headers, body = await get(await serve(view()) + "/")
    assert status == 200 and headers["Content-Security-Policy"] == PAGE_POLICY
    assert b"href='/targets'" in body and b"href='/metrics'" in body
