"""Test tools for the remote-write sink: an independent protobuf reader and a loopback receiver.

The reader walks the protobuf wire format generically (varint, 64-bit and
length-delimited fields) and shares no code with the encoder, so a test that
decodes what the sink wrote checks the encoder against the format, not
against itself.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cramjam
from aiohttp import web

from openagent.model import ScrapeResult, Series


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """Read a varint at ``i``; return (value, next index)."""
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def wire_fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for every field of one message."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = read_varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
        if i > len(buf):
            raise ValueError("field runs past the end of the message")
        yield number, wire, value


def _int64(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _packed_sints(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        n, i = read_varint(buf, i)
        out.append(_unzigzag(n))
    return out


#: Histogram field number -> name (prompb ``Histogram``, integer form).
_HISTOGRAM_FIELDS = {
    1: "count_int",
    3: "sum",
    4: "schema",
    5: "zero_threshold",
    6: "zero_count_int",
    8: "negative_spans",
    9: "negative_deltas",
    11: "positive_spans",
    12: "positive_deltas",
    14: "reset_hint",
    15: "timestamp",
}


def decode_histogram(buf: bytes) -> dict[str, Any]:
    """A ``Histogram`` message as a dict by field name (spans as (offset, length) pairs, the
    sum as its 64-bit pattern under ``sum_bits`` too)."""
    out: dict[str, Any] = {"negative_spans": [], "positive_spans": []}
    for number, wire, value in wire_fields(buf):
        name = _HISTOGRAM_FIELDS.get(number)
        if name is None:
            raise AssertionError(f"unexpected Histogram field {number}/{wire}")
        if name in ("sum", "zero_threshold"):
            assert wire == 1
            out[name] = struct.unpack("<d", value)[0]
            if name == "sum":
                out["sum_bits"] = int.from_bytes(value, "little")
        elif name == "schema":
            out[name] = _unzigzag(value)
        elif name.endswith("_spans"):
            span = {n: v for n, _, v in wire_fields(value)}
            out[name].append((_unzigzag(span.get(1, 0)), span.get(2, 0)))
        elif name.endswith("_deltas"):
            out[name] = _packed_sints(value) if wire == 2 else [_unzigzag(value)]
        elif name == "timestamp":
            out[name] = _int64(value)
        else:
            out[name] = value
    return out


@dataclass
class DecodedSeries:
    """One decoded ``TimeSeries``: labels in wire order, samples as (value bits, timestamp),
    native histograms as `decode_histogram` gives them."""

    labels: list[tuple[str, str]]
    samples: list[tuple[int, int]]
    histograms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [struct.unpack("<d", bits.to_bytes(8, "little"))[0] for bits, _ in self.samples]

    @property
    def name(self) -> str:
        return dict(self.labels)["__name__"]


def decode_write_request(body: bytes) -> list[DecodedSeries]:
    """Parse an uncompressed ``WriteRequest``."""
    out = []
    for number, wire, ts in wire_fields(body):
        assert (number, wire) == (1, 2), f"unexpected WriteRequest field {number}/{wire}"
        labels: list[tuple[str, str]] = []
        samples: list[tuple[int, int]] = []
        histograms: list[dict[str, Any]] = []
        for n, w, v in wire_fields(ts):
            if (n, w) == (1, 2):
                label = {ln: lv.decode() for ln, lw, lv in wire_fields(v) if lw == 2}
                labels.append((label.get(1, ""), label.get(2, "")))
            elif (n, w) == (2, 2):
                bits, stamp = 0, 0
                for sn, sw, sv in wire_fields(v):
                    if (sn, sw) == (1, 1):
                        bits = int.from_bytes(sv, "little")
                    elif (sn, sw) == (2, 0):
                        stamp = _int64(sv)
                    else:
                        raise AssertionError(f"unexpected Sample field {sn}/{sw}")
                samples.append((bits, stamp))
            elif (n, w) == (4, 2):
                histograms.append(decode_histogram(v))
            else:
                raise AssertionError(f"unexpected TimeSeries field {n}/{w}")
        out.append(DecodedSeries(labels, samples, histograms))
    return out


def decode_payload(payload: bytes) -> list[DecodedSeries]:
    """Decompress (snappy block format) and parse a batch payload."""
    return decode_write_request(bytes(cramjam.snappy.decompress_raw(payload)))


def make_result(
    n: int,
    *,
    timestamp_ms: int = 1_764_300_000_000,
    stale: list[Series] | None = None,
    prefix: str = "m",
) -> ScrapeResult:
    """A result with ``n`` distinct series ``<prefix>{i="<i>"}`` of value i."""
    series = [Series(f"{prefix}_metric", (("i", str(i)), ("job", "j"))) for i in range(n)]
    return ScrapeResult(
        target_id="t",
        job="j",
        instance="x",
        url="http://127.0.0.1/metrics",
        timestamp_ms=timestamp_ms,
        series=series,
        values=[float(i) for i in range(n)],
        stale=stale or [],
    )


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]
    client_cert: dict[str, Any] | None = None


@dataclass
class Receiver:
    """A loopback remote-write receiver whose answer tests script.

    It answers ``status`` with ``answer`` as the body and ``headers``, after
    ``delay`` seconds. Every request is recorded (body as sent: compressed).
    """

    status: int = 204
    answer: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    ssl_context: ssl.SSLContext | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/api/v1/write"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        cert = transport.get_extra_info("peercert") if transport else None
        self.requests.append(Received(dict(request.headers), body, tuple(peer or ("", 0)), cert))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, body=self.answer, headers=self.headers)

    async def __aenter__(self) -> Receiver:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v1/write", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def series(self) -> list[DecodedSeries]:
        """Every series received so far, in order."""
        return [s for r in self.requests for s in decode_payload(r.body)]


def is_nan_bits(bits: int) -> bool:
    """True when the 64-bit pattern is a NaN."""
    return math.isnan(struct.unpack("<d", bits.to_bytes(8, "little"))[0])


@dataclass
class SeqExporter:
    """A loopback exporter that numbers its answers, so tests can count exactly.

    Each successful scrape gets ``body`` plus ``rw_seq <n>``, n = 1, 2, ...;
    ``served`` is the last n handed out. With ``failing`` set it answers 503
    (a failed scrape: ``up`` 0, no samples); with ``held`` set a request waits
    until ``release()`` and then gets 503. Failed and held requests never get
    a number, so ``served`` counts exactly the scrapes that produced samples.
    """

    body: bytes = b""
    served: int = 0
    failing: bool = False
    held: bool = False
    waiting: int = 0
    port: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def release(self) -> None:
        """Answer every held request (with 503) and stop holding."""
        self.held = False
        self._release.set()
        self._release = asyncio.Event()

    async def handle(self, _: web.Request) -> web.Response:
        if self.held:
            self.waiting += 1
            try:
                await self._release.wait()
            finally:
                self.waiting -= 1
            return web.Response(status=503, text="held")
        if self.failing:
            return web.Response(status=503, text="failing")
        self.served += 1
        text = self.body + b"# TYPE rw_seq gauge\nrw_seq %d\n" % self.served
        return web.Response(body=text, content_type="text/plain")

    async def __aenter__(self) -> SeqExporter:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
