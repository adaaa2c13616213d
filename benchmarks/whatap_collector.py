"""A Whatap collector emulator on loopback: the server side of PROTOCOL §6.

It accepts the key-reset handshake for the licenses it knows (or for
projects given as pcode and security key): it decrypts the hello with that
license's key, checks that the OID is the hash of the ONAME and answers with
fresh session keys (transfer key, secure key, hide key, the peer's IPv4 as
public IP; layout of §6.3). A hello for an unknown pcode, one that does not
decrypt, or an OID that does not match gets the empty reply (pcode 0, oid 0,
no payload) that the Go agent reads as "invalid license key error". It then
reads frames, answers TIME_SYNC with ``echoed agent time ‖ server time``,
un-hides or decrypts data frames and decodes their packs with the project's
own decoders (checked against Whatap's golden vectors): OpenMxPack records,
OpenMxHistogramPack native histograms (0x1607, which the Go agent never
sends), OpenMxHelpPack metadata, events, and replies to commands sent with
`Collector.command`.

Each connection's frames are handled strictly one after the other
(`benchmarks.whatap_collector_conn`): a TIME_SYNC is answered only once every
frame before it was read and decoded, so an answer tells the agent that
everything it wrote before that TIME_SYNC has arrived (what the agent's
delivery barriers rely on, §6.5/§6.6).

Stopping is graceful: the listener closes, every connection is half-closed
(FIN), and each one is read until the agent closes it, so every frame the
agent wrote before it noticed is received. `Collector.restart` does that and
listens again on the same port. Faults, unlike that: `Collector.freeze` stops
reading every connection (the kernel buffers fill, the agent's writes block,
no TIME_SYNC is answered) until `Collector.resume`; `Collector.die` is a crash:
the listener closes and every connection is reset (RST) with whatever sat
unread in the buffers thrown away; ``faults.mute`` keeps reading but answers
no TIME_SYNC.

What it does NOT model: the real server's behaviour beyond the empty reply
for a bad license (PROTOCOL §10 Q1: it may close the socket, answer other
codes, or throttle); any acknowledgement of data beyond TIME_SYNC answers
(the protocol has none); server-side storage, retention, HELP de-duplication or any
validation of names and labels; commands the server may send on its own; the
server's src/code bytes and the int after the oid in its replies (made up
here: src 3, code 0xff, 0); cypher levels other than 0 and 128 (§10 Q2).

Command line: ``python -m benchmarks.whatap_collector --summary`` (see ``--help``).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.fleet import check_loopback
from benchmarks.whatap_collector_conn import GARBAGE, SRC_SERVER, Conn, Faults, reset
from benchmarks.whatap_received import Histogram, Received, Record, SessionInfo
from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.codec import DecodeError
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.license import parse_license
from openagent.sinks.whatap.packs import ParamPack
from openagent.sinks.whatap.values import Value, to_value

__all__ = [
    "FAKE_LICENSE",
    "GARBAGE",
    "Collector",
    "Faults",
    "Histogram",
    "Record",
    "SessionInfo",
    "main",
]

#: The fake license of the protocol's test vectors (pcode 33789, key ``WhaTapFakeKey!01``).
FAKE_LICENSE = "x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf"


class Collector:
    """The emulator; an async context manager. What arrived is in ``received`` (and
    through the shortcuts ``records``, ``help``, ``sessions``, ``events``, ``errors``)."""

    def __init__(
        self,
        *,
        licenses: Iterable[str] = (FAKE_LICENSE,),
        projects: Mapping[int, bytes] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cypher_level: int = 128,
        jsonl: Path | None = None,
        keep_records: bool = True,
        drain_timeout: float = 10.0,
        clock_offset_ms: int = 0,
        on_event: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        check_loopback(host)
        if cypher_level not in (0, 128):
            raise ValueError(f"cypher level must be 0 or 128, got {cypher_level}")
        self.projects: dict[int, bytes] = dict(projects or {})
        for lic in licenses:
            keys = parse_license(lic)
            self.projects[keys.pcode] = keys.security_key
        self.host, self.port, self.cypher_level = host, port, cypher_level
        self.drain_timeout, self.clock_offset_ms = drain_timeout, clock_offset_ms
        self.rng = rng or random.Random()
        self.faults = Faults()
        self.received = Received(keep_records=keep_records, jsonl=jsonl, on_event=on_event)
        self._listener: asyncio.Server | None = None
        self._conns: set[Conn] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._changed: asyncio.Condition | None = None

    @property
    def records(self) -> list[Record]:
        """Every record received, in arrival order."""
        return self.received.records

    @property
    def histograms(self) -> list[Histogram]:
        """Every native histogram received, in arrival order."""
        return self.received.histograms

    @property
    def help(self) -> dict[str, dict[str, str]]:
        """The latest help properties per metric."""
        return self.received.help

    @property
    def sessions(self) -> list[SessionInfo]:
        """Every connection, in accept order."""
        return self.received.sessions

    @property
    def errors(self) -> list[str]:
        """Frames or packs an agent should never send."""
        return self.received.errors

    @property
    def live(self) -> int:
        """Handshaken connections now open."""
        return sum(1 for c in self._conns if c.keys is not None)

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Listen (on the same port again after a stop)."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        self.received.open()
        self._listener = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening; half-close every connection and read it until the agent closes
        it (at most ``drain_timeout`` seconds, then abort)."""
        server, self._listener = self._listener, None
        if server is not None:
            server.close()
        for conn in list(self._conns):
            conn.half_closed = True
            if not conn.writer.is_closing() and conn.writer.can_write_eof():
                conn.writer.write_eof()
        handlers = list(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=self.drain_timeout)
            if pending:
                self.close_connections()
                await asyncio.wait(pending, timeout=1.0)
        if server is not None:
            await server.wait_closed()

    async def restart(self) -> None:
        """A graceful stop, then listen again on the same port."""
        await self.stop()
        await self.start()

    async def close(self) -> None:
        """Stop, and close the JSON lines file."""
        await self.stop()
        self.received.close()

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- faults and commands ---------------------------------------------------

    def close_connections(self) -> int:
        """Abort every open connection (nothing drained); return how many."""
        conns = list(self._conns)
        for conn in conns:
            conn.writer.transport.abort()
        return len(conns)

    def freeze(self) -> None:
        """Stop reading every connection, open or to come (nothing handled, no TIME_SYNC
        answered; the kernel buffers fill and then the agent's writes block)."""
        self.faults.reading.clear()
        for conn in self._conns:
            conn.writer.transport.pause_reading()

    def resume(self) -> None:
        """Read again, from where the freeze stopped: nothing was lost."""
        self.faults.reading.set()
        for conn in self._conns:
            if not conn.writer.is_closing():
                conn.writer.transport.resume_reading()

    async def die(self) -> int:
        """Crash: stop listening and reset every connection (RST), reading nothing more; what
        sat unread in the buffers is lost. ``received`` keeps what was handled before.
        Returns how many connections were reset."""
        server, self._listener = self._listener, None
        if server is not None:
            server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        conns = list(self._conns)
        for conn in conns:
            reset(conn.writer)
        if handlers:
            await asyncio.wait(handlers, timeout=self.drain_timeout)
        if server is not None:
            await server.wait_closed()
        self.faults.reading.set()
        return len(conns)

    def send_garbage(self, data: bytes = GARBAGE) -> int:
        """Write ``data`` on every handshaken connection; return how many got it."""
        conns = [c for c in self._conns if c.keys is not None]
        for conn in conns:
            conn.send(data)
        return len(conns)

    async def command(
        self, param_id: int, entries: Mapping[str, object] | None = None, *, within: float = 5.0
    ) -> ParamPack:
        """Send a ParamPack command on the newest session and wait for its reply."""
        live = [c for c in self._conns if c.keys is not None]
        if not live:
            raise RuntimeError("no agent session to send a command to")
        conn = max(live, key=lambda c: c.info.id)
        info, keys = conn.info, conn.keys
        assert keys is not None
        request = self.rng.randrange(1, 2**31)
        values: dict[str, Value] = {k: to_value(v) for k, v in (entries or {}).items()}
        header = PackHeader(info.pcode, info.oid, self.now())
        pack = ParamPack(header, param_id, request, 0, values).to_bytes()
        conn.send(
            fr.encode_data_frame(
                pack, pcode=info.pcode, oid=info.oid, transfer_key=keys.transfer_key,
                cypher=keys.cypher(), cypher_level=self.cypher_level, src=SRC_SERVER,
            )
        )  # fmt: skip
        responses = self.received.responses
        await self.wait_for(lambda: any(r.response == request for r in responses), within)
        return next(r for r in responses if r.response == request)

    # -- waiting ---------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked after every change); TimeoutError if not."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_for_records(self, n: int, within: float = 10.0) -> list[Record]:
        """Wait until at least ``n`` records arrived; return all records."""
        await self.wait_for(lambda: self.received.record_count >= n, within)
        return self.records

    async def wait_for_histograms(self, n: int, within: float = 10.0) -> list[Histogram]:
        """Wait until at least ``n`` native histograms arrived; return all of them."""
        await self.wait_for(lambda: self.received.histogram_count >= n, within)
        return self.histograms

    async def notify(self) -> None:
        """Wake every `wait_for`."""
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    # -- serving ---------------------------------------------------------------

    def now(self) -> int:
        """The collector's clock, in ms (``clock_offset_ms`` off the local one)."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer = writer.get_extra_info("peername")
        info = self.received.new_session(f"{peer[0]}:{peer[1]}", self.now())
        conn = Conn(reader, writer, info)
        self._conns.add(conn)
        if not self.faults.reading.is_set():
            writer.transport.pause_reading()
        reason = "agent closed the connection"
        try:
            await conn.run(self)
        except EOFError:
            pass
        except asyncio.CancelledError:
            reason = "the collector died"
        except (DecodeError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._conns.discard(conn)
            self._handlers.discard(task)
            info.closed_ms, info.close_reason = self.now(), reason
            self.received.session_event(info, "closed", reason=reason, records=info.records)
            writer.close()
            await self.notify()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (`benchmarks.whatap_collector_cli`); returns the exit status."""
    from benchmarks.whatap_collector_cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
