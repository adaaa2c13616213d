"""A loopback HTTP receiver the tests can stop, slow down or make fail, and a sink posting to it.

Each batch carries its sequence number at the start of the payload
(``b"00000042|....."``), so a test can check exactly which batches arrived and
in which order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from openagent.model import ScrapeResult, Series
from openagent.sinks.base import DELIVERED, Batch, Encoded, Sent, SinkError
from openagent.telemetry import REGISTRY

_SERIES = [Series("test_metric", (("i", str(i)),)) for i in range(64)]


def unique_name(prefix: str = "t") -> str:
    """A sink name no other test uses (metrics are process-wide)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def samples_of(seq: int) -> int:
    """How many samples batch ``seq`` carries (varies, so counts are not just batch counts)."""
    return 1 + seq % 7


def result(seq: int, timestamp_ms: int = 1_700_000_000_000) -> ScrapeResult:
    """A scrape result whose sink batch is number ``seq``."""
    n = samples_of(seq)
    return ScrapeResult(
        target_id=str(seq),
        job="test",
        instance="127.0.0.1:1",
        url="http://127.0.0.1:1/metrics",
        timestamp_ms=timestamp_ms + seq,
        series=_SERIES[:n],
        values=[float(seq)] * n,
    )


def payload(seq: int, size: int) -> bytes:
    """The payload of batch ``seq``: its number, then filler up to ``size`` bytes."""
    head = b"%08d|" % seq
    return head + bytes([65 + seq % 26]) * max(0, size - len(head))


def make_batch(seq: int, size: int = 100) -> Batch:
    """Batch number ``seq`` as the test sink encodes it."""
    return Batch(payload(seq, size), samples_of(seq), 1_700_000_000_000 + seq)


def seq_of(body: bytes) -> int:
    """The sequence number a payload starts with."""
    return int(body[:8])


def total_samples(seqs: Iterable[int]) -> int:
    """Samples carried by the batches ``seqs``."""
    return sum(samples_of(s) for s in seqs)


def metric(name: str, **labels: str) -> float:
    """Current value of one sample of the agent's registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def dropped(sink: str, reason: str) -> float:
    """``openagent_delivery_samples_dropped_total`` for ``sink`` and ``reason``."""
    return metric("openagent_delivery_samples_dropped_total", sink=sink, reason=reason)


class PlainSink:
    """The parts of the `Sink` protocol the delivery tests' sinks share: no held samples,
    stale markers carried, no losses of their own, no per-series cache."""

    max_batch_delay = 0.0
    stale_markers = True
    loss_reasons: tuple[str, ...] = ()

    def use_series_slot(self, slot: str | None) -> None:
        pass

    def flush(self) -> list[Batch]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class HttpSink(PlainSink):
    """Posts each batch to a URL; 2xx is success, 429/5xx/connection errors retryable, 4xx not."""

    def __init__(self, name: str, url: str, *, payload_size: int = 100, timeout: float = 2.0):
        self.name = name
        self.url = url
        self.payload_size = payload_size
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def encode(self, res: ScrapeResult) -> Encoded:
        seq = int(res.target_id)
        return Encoded([Batch(payload(seq, self.payload_size), len(res.series), res.timestamp_ms)])

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def send(self, batch: Batch) -> Sent:
        assert self._session is not None
        try:
            async with self._session.post(self.url, data=batch.payload) as r:
                await r.read()
                if r.status < 300:
                    return DELIVERED
                hint = r.headers.get("Retry-After")
                after = float(hint) if hint else None
                retryable = r.status == 429 or r.status >= 500
                raise SinkError(f"HTTP {r.status}", retryable=retryable, retry_after=after)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}", retryable=True) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class Receiver:
    """Loopback HTTP endpoint recording the batches it accepted.

    ``script`` holds statuses to answer next (one per request, then
    ``status``); ``delay`` makes every answer slow; `stop` and `start` take
    the port down and bring it back. Once ``hang_after`` batches were
    accepted, further requests are stored (as a backend that took the data
    but never answered) and get no answer at all.
    """

    status: int = 200
    script: list[int] = field(default_factory=list)
    retry_after: str | None = None
    delay: float = 0.0
    hang_after: int | None = None
    accepted: list[int] = field(default_factory=list)
    requests: list[tuple[float, int, int]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/write"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        seq = seq_of(body)
        if self.hang_after is not None and len(self.accepted) >= self.hang_after:
            self.accepted.append(seq)
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else self.status
        self.requests.append((asyncio.get_running_loop().time(), seq, status))
        if status < 300:
            self.accepted.append(seq)
        headers = {"Retry-After": self.retry_after} if self.retry_after and status == 429 else {}
        return web.Response(status=status, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/write", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
