"""Malformed input through the whole scrape path: each case fails that scrape, clearly, with up=0.

Bodies come from real loopback servers. After every bad scrape, the same loop
scrapes a good body again, so nothing about the bad input sticks.
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from openagent.exposition import Limits
from openagent.model import ScrapeResult
from openagent.scrape.errors import ERROR_TEXT_LIMIT
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from openagent.scrape.repeats import RepeatGate
from openagent.server import target_json
from tests.loopback_http import RawFactory, read_request_head
from tests.scrape.test_loop import make_target

GOOD = b'# TYPE ok gauge\nok{a="1"} 1\n'
MB = 1024 * 1024


def up_of(result: ScrapeResult) -> float:
    return next(v for s, v in zip(result.series, result.values, strict=True) if s.name == "up")


class Switchable:
    """A raw HTTP/1.1 server whose next answer the test chooses."""

    def __init__(self) -> None:
        self.mode = "good"
        self.body = GOOD

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request_head(reader)
            if self.mode == "silent":  # accepts the connection, never answers
                await asyncio.sleep(3600)
            if self.mode == "endless":  # a chunked body that never ends
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                chunk = b'm{a="x"} 1\n' * 6000
                while True:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
            if self.mode == "huge":  # 100 MB, announced honestly
                size = 100 * MB
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: %d\r\n\r\n" % size
                )
                line = b'm{a="x"} 1\n' * 9000
                sent = 0
                while sent < size:
                    part = line[: size - sent]
                    writer.write(part)
                    sent += len(part)
                    await writer.drain()
                return
            body = self.body
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()


@pytest.fixture
async def target_server(raw_server: RawFactory) -> AsyncIterator[tuple[Switchable, int]]:
    server = Switchable()
    url = await raw_server(server.handle)
    yield server, int(url.rsplit(":", 1)[1])


@pytest.fixture
async def client16() -> AsyncIterator[ScrapeClient]:
    c = ScrapeClient(default_body_limit=16 * MB, user_agent="openagent-test")
    yield c
    await c.close()


BODY_CASES = [
    ("truncated line", b'ok{a="1"} 1\nDCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1', "line 2"),
    ("bad escape at end of value", b'ok{a="1"} 1\nm{a="x\\"} 1\n', "line 2"),
    ("duplicate labels", b'ok{a="1"} 1\nm{gpu="0",gpu="1"} 1\n', "duplicate label"),
    ("invalid UTF-8", b'ok{a="1"} 1\nok{a="1"} 2\nm{a="\xff\xfe"} 1\n', "line 3"),
    ("missing value", b'ok{a="1"}\n', "line 1"),
    ("bad value", b'ok{a="1"} 1_000\n', "line 1"),
]


@pytest.mark.parametrize(("case", "body", "expect"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
async def test_malformed_body_fails_the_scrape_clearly(
    target_server: tuple[Switchable, int],
    client16: ScrapeClient,
    case: str,
    body: bytes,
    expect: str,
) -> None:
    server, port = target_server
    loop = ScrapeLoop(make_target(port), client16, lambda r: None, limits=Limits())
    server.body = body
    bad = await loop.scrape_once()
    assert bad.error is not None and bad.error.startswith("parse error"), bad.error
    assert expect in bad.error
    assert up_of(bad) == 0
    server.body = GOOD
    good = await loop.scrape_once()
    assert good.error is None and up_of(good) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("mode", "reason"),
    [("huge", "body_too_large"), ("endless", "body_too_large"), ("silent", "timeout")],
)
async def test_hostile_targets_fail_the_scrape_and_the_loop_survives(
    target_server: tuple[Switchable, int], client16: ScrapeClient, mode: str, reason: str
) -> None:
    server, port = target_server
    loop = ScrapeLoop(make_target(port), client16, lambda r: None, limits=Limits())
    server.mode = mode
    bad = await loop.scrape_once()
    assert bad.error is not None and bad.error.startswith(reason), bad.error
    assert up_of(bad) == 0
    server.mode = "good"
    good = await loop.scrape_once()
    assert good.error is None and up_of(good) == 1


def _garbage(seed: int) -> bytes:
    """100 KB of random bytes, the same for a seed."""
    return random.Random(seed).randbytes(100_000)


def _letters(seed: int) -> str:
    """100 KB of random lowercase letters: valid in a label name, so a lexer quotes them."""
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_lowercase, k=100_000))


GARBAGE_CASES = [
    ("random bytes", _garbage(1), Limits()),
    ("random bytes after a good line", GOOD + _garbage(2), Limits()),
    ("endless label name", b"m{" + _letters(3).encode() + b" 1\n", Limits()),
    (
        "label name over its limit",
        b"m{" + _letters(4).encode() + b'="x"} 1\n',
        Limits(label_name_length_limit=64),
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "limits"), GARBAGE_CASES, ids=[c[0] for c in GARBAGE_CASES]
)
async def test_a_target_sending_garbage_costs_a_few_hundred_bytes_of_error_text(
    target_server: tuple[Switchable, int],
    client16: ScrapeClient,
    case: str,
    body: bytes,
    limits: Limits,
) -> None:
    server, port = target_server
    target = make_target(port)
    loop = ScrapeLoop(target, client16, lambda r: None, limits=limits)
    server.body = body
    with capture_logs() as logs:
        bad = await loop.scrape_once()
    assert bad.error is not None and up_of(bad) == 0
    shown = target_json(target, loop.state)["last_error"]
    assert shown == bad.error == loop.state.last_error
    assert len(shown.encode()) <= ERROR_TEXT_LIMIT and shown.isprintable(), shown
    failed = [e for e in logs if e["event"] == "scrape failed"]
    assert len(failed) == 1 and failed[0]["error"] == shown


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_ten_identical_failures_log_one_line_and_a_later_one_counts_the_rest(
    target_server: tuple[Switchable, int], client16: ScrapeClient
) -> None:
    server, port = target_server
    loop = ScrapeLoop(make_target(port), client16, lambda r: None, limits=Limits())
    clock = Clock()
    loop.error_log = RepeatGate(60.0, clock)
    server.body = b"ok{a=1} 1\n"
    with capture_logs() as logs:
        for _ in range(10):
            assert (await loop.scrape_once()).error is not None
            clock.now += 1.0
        clock.now += 60.0
        await loop.scrape_once()
        server.body = GOOD
        await loop.scrape_once()
    lines = [(e["event"], e.get("repeats_not_logged")) for e in logs]
    assert lines == [("scrape failed", None), ("scrape failed", 9), ("scrape recovered", None)]
