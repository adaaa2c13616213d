"""Redirects from a real aiohttp receiver on loopback: only a same-origin 307/308 is followed.

Each batch goes through the real delivery layer (`deliver`), so what the
ledger booked is what an operator would see in the delivery counters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from openagent.sinks.remote_write.redirects import MAX_HOPS
from tests.sinks.remote_write.delivery import deliver
from tests.sinks.remote_write_support import Receiver, decode_payload, make_result

pytestmark = pytest.mark.timeout(60)

SERIES = 5


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RedirectingReceiver:
    """Answers the write path with ``status`` and ``location``; ``/moved/write`` takes a POST
    (204) and anything on ``/landing`` answers 200, as the page a 302 leads to would."""

    status: int = 302
    location: str | None = "/landing"
    hits: list[Hit] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    async def _record(self, request: web.Request) -> None:
        body = await request.read()
        self.hits.append(Hit(request.method, request.path, dict(request.headers), body))

    async def write(self, request: web.Request) -> web.Response:
        await self._record(request)
        headers = {"Location": self.location} if self.location is not None else {}
        return web.Response(status=self.status, headers=headers, text="moved")

    async def moved(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=204)

    async def landing(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(text="a page, not a receiver")

    def posts_to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.method == "POST" and h.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[RedirectingReceiver]:
    rx = RedirectingReceiver()
    app = web.Application()
    app.router.add_post("/api/v1/write", rx.write)
    app.router.add_post("/moved/write", rx.moved)
    app.router.add_route("*", "/landing", rx.landing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rx.port = runner.addresses[0][1]
    yield rx
    await runner.cleanup()


def sink_for(url: str, tmp_path: Path) -> RemoteWriteSink:
    token = tmp_path / "token"
    token.write_text("sekrit-token")
    return RemoteWriteSink(RemoteWriteOptions(url, max_batch_delay=0, bearer_token_file=str(token)))


def refusal_errors(logs: list[dict[str, Any]]) -> list[str]:
    return [str(e["error"]) for e in logs if e["event"] == "sink refused a batch, dropped"]


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_a_redirect_that_drops_the_body_is_rejected_and_names_its_target(
    receiver: RedirectingReceiver, status: int, tmp_path: Path
) -> None:
    receiver.status = status
    with capture_logs() as logs:
        ledger = await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    assert ledger.sent_samples == 0
    assert ledger.dropped_samples == {"rejected": SERIES}
    assert [(h.method, h.path) for h in receiver.hits] == [("POST", "/api/v1/write")]
    (error,) = refusal_errors(logs)
    assert f"answered {status} redirecting to http://127.0.0.1:{receiver.port}/landing" in error


@pytest.mark.parametrize("status", [307, 308])
async def test_a_same_origin_307_or_308_delivers_to_the_new_path(
    receiver: RedirectingReceiver, status: int, tmp_path: Path
) -> None:
    receiver.status, receiver.location = status, "/moved/write"
    ledger = await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    assert ledger.sent_samples == SERIES and ledger.dropped_samples == {}
    (moved,) = receiver.posts_to("/moved/write")
    assert [s.values[0] for s in decode_payload(moved.body)] == [float(i) for i in range(SERIES)]
    assert moved.headers["Authorization"] == "Bearer sekrit-token"


async def test_a_307_to_another_origin_is_not_followed_and_gets_no_credentials(
    receiver: RedirectingReceiver, tmp_path: Path
) -> None:
    async with Receiver() as elsewhere:  # same host, another port: another origin
        receiver.status, receiver.location = 307, elsewhere.url
        with capture_logs() as logs:
            ledger = await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    assert elsewhere.requests == []
    assert ledger.sent_samples == 0
    assert ledger.dropped_samples == {"rejected": SERIES}
    (error,) = refusal_errors(logs)
    assert f"redirecting to {elsewhere.url}, not followed" in error


async def test_a_redirect_loop_stops_after_the_hop_bound(
    receiver: RedirectingReceiver, tmp_path: Path
) -> None:
    receiver.status, receiver.location = 308, "/api/v1/write"
    ledger = await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    assert len(receiver.posts_to("/api/v1/write")) == MAX_HOPS + 1
    assert ledger.dropped_samples == {"rejected": SERIES}


@pytest.mark.parametrize("location", [None, "http://[bad"])
async def test_a_redirect_without_a_usable_location_is_rejected(
    receiver: RedirectingReceiver, location: str | None, tmp_path: Path
) -> None:
    receiver.status, receiver.location = 307, location
    with capture_logs() as logs:
        ledger = await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    assert ledger.dropped_samples == {"rejected": SERIES}
    (error,) = refusal_errors(logs)
    assert "redirecting to (no usable Location), not followed" in error


async def test_the_logged_location_carries_no_credentials_or_query(
    receiver: RedirectingReceiver, tmp_path: Path
) -> None:
    receiver.location = f"http://user:pa55word@127.0.0.1:{receiver.port}/login?token=t0ken"
    with capture_logs() as logs:
        await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    (error,) = refusal_errors(logs)
    assert f"http://127.0.0.1:{receiver.port}/login" in error
    assert "pa55word" not in error and "t0ken" not in error and "user" not in error


async def test_a_location_that_echoes_the_token_is_logged_redacted(
    receiver: RedirectingReceiver, tmp_path: Path
) -> None:
    receiver.location = "/landing/sekrit-token"
    with capture_logs() as logs:
        await deliver(sink_for(receiver.url, tmp_path), make_result(SERIES))
    (error,) = refusal_errors(logs)
    assert "sekrit-token" not in error
    assert f"http://127.0.0.1:{receiver.port}/landing/<redacted>" in error
