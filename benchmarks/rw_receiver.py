"""The comparison harness' remote-write receiver: accepts every POST, keeps a sample of bodies.

It runs inside the harness process, so whatever it costs is never counted
against the tool under test. While recording it keeps each body's compressed
bytes and arrival time, nothing more; decoding happens after the measured
window (`Recording.facts`), so it competes neither with the tool nor with the
fleet that serves the tool's scrapes. At most ``keep`` bodies are kept per
window, chosen uniformly at random over the window (reservoir sampling), which
bounds memory and decoding time at any fleet size while every body still has
the same chance to be read; `Recording.seen` says how many arrived.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from aiohttp import web

from benchmarks.prompb_reader import BodyFacts


@dataclass(frozen=True, slots=True)
class Body:
    """One body as it arrived: Unix time in ms, ``Content-Encoding`` and the raw bytes."""

    arrival_ms: int
    encoding: str
    data: bytes


@dataclass
class Recording:
    """The bodies kept over one window, and how many arrived in all."""

    bodies: list[Body] = field(default_factory=list)
    seen: int = 0

    def facts(self) -> BodyFacts:
        """Decode every kept body (in arrival order)."""
        facts = BodyFacts()
        for body in sorted(self.bodies, key=lambda b: b.arrival_ms):
            facts.add_body(body.data, body.encoding, body.arrival_ms)
        return facts


class Receiver:
    """A remote-write endpoint on 127.0.0.1 that answers 204 to every POST.

    ``requests`` and ``bytes`` count everything; between `record` and
    `stop_recording` it also keeps up to ``keep`` bodies (see the module's doc).
    """

    def __init__(self, keep: int = 1000, rng: random.Random | None = None) -> None:
        self.keep = keep
        self.requests = 0
        self.bytes = 0
        self.url = ""
        self._rng = rng or random.Random(0)
        self._recording: Recording | None = None
        self._runner: web.AppRunner | None = None

    def record(self) -> None:
        """Start keeping bodies (a fresh recording)."""
        self._recording = Recording()

    def stop_recording(self) -> Recording:
        """Stop keeping bodies; return what was kept."""
        recording, self._recording = self._recording or Recording(), None
        return recording

    def _keep(self, body: Body) -> None:
        recording = self._recording
        if recording is None or self.keep <= 0:
            return
        recording.seen += 1
        if len(recording.bodies) < self.keep:
            recording.bodies.append(body)
            return
        slot = self._rng.randrange(recording.seen)
        if slot < self.keep:
            recording.bodies[slot] = body

    async def _accept(self, request: web.Request) -> web.Response:
        data = await request.read()
        arrival_ms = time.time_ns() // 1_000_000
        self.requests += 1
        self.bytes += len(data)
        self._keep(Body(arrival_ms, request.headers.get("Content-Encoding", "snappy"), data))
        return web.Response(status=204)

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        app = web.Application(client_max_size=256 << 20)
        app.router.add_post("/{tail:.*}", self._accept)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/api/v1/write"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
