"""One handshaken TCP connection to the Whatap collector (PROTOCOL §6.2-6.5).

`Connection.open` connects, decides the agent identity from the socket's
local address, sends the key-reset hello and reads the session keys from the
reply. After that a read loop hands every frame to a callback, drops the
connection when nothing arrives for ``read_timeout`` seconds (the Go agent's
liveness rule) or the stream is garbage, and a keep-alive sends a TIME_SYNC
when the agent wrote nothing for a third of ``read_timeout`` (so that the
collector has something to answer). Writes return once every byte was handed
to the kernel. Every TIME_SYNC written and every answer read is counted in
`Connection.barriers` (see `barrier`), so `write_barrier` can tell when the
collector has read everything written before it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.barrier import Barriers
from openagent.sinks.whatap.codec import DecodeError
from openagent.sinks.whatap.identity import Identity, decide_identity
from openagent.sinks.whatap.session_metrics import BYTES_SENT, FRAMES_SENT

MiB = 1024 * 1024


class SessionError(Exception):
    """No usable collector connection, or writing to it failed.

    ``written`` is True when the failed write had already handed its frame to
    the socket: it may reach the collector anyway.
    """

    def __init__(self, message: str, *, written: bool = False) -> None:
        super().__init__(message)
        self.written = written


def wall_ms() -> int:
    """The wall clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Where and how to connect. ``identity_env`` holds the identity keys of
    `identity.decide_identity` (``WHATAP_ONAME``, ``WHATAP_OKIND``, ``POD_NAME``, ...)."""

    hosts: tuple[str, ...]
    pcode: int
    license_key: bytes = field(repr=False)
    port: int = 6600
    identity_env: Mapping[str, str] = field(default_factory=dict)
    cypher_level: int = 128
    connect_timeout: float = 5.0
    handshake_timeout: float = 120.0
    read_timeout: float = 120.0
    write_timeout: float = 20.0
    time_sync_interval: float = 5.0
    max_pack_bytes: int = 5 * MiB
    max_frame_payload: int = fr.DEFAULT_MAX_PAYLOAD
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.2
    keepalive_seconds: int = 15
    close_grace: float = 2.0

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("no collector host given (WHATAP_HOST)")
        if self.cypher_level not in (0, 128):
            raise ValueError(f"cypher level must be 0 or 128, got {self.cypher_level}")
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise ValueError(
                f"need 0 < backoff_initial <= backoff_max, got {self.backoff_initial}, "
                f"{self.backoff_max}"
            )
        if not 0 <= self.backoff_jitter < 1:
            raise ValueError(f"backoff_jitter must be in [0, 1), got {self.backoff_jitter}")


def _set_keepalive(writer: asyncio.StreamWriter, seconds: int) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), seconds)
        if hasattr(socket, "TCP_KEEPCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
    except OSError:
        pass


FrameHandler = Callable[["Connection", fr.Frame], Awaitable[None]]


class Connection:
    """A connection whose handshake succeeded, with its session keys."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        identity: Identity,
        keys: fr.SessionKeys,
        config: SessionConfig,
        generation: int,
    ) -> None:
        self.reader, self.writer, self.host = reader, writer, host
        self.identity, self.keys, self.config = identity, keys, config
        self.generation = generation
        self.cypher = keys.cypher()
        self.opened = time.monotonic()
        self.last_write = self.opened
        self.last_time_sync = float("-inf")
        self.packs = 0
        self.barriers = Barriers()
        #: True once this connection delivers without confirmation (its collector never
        #: answered a barrier, or its answers could not be matched).
        self.unconfirmed = False
        self.lock = asyncio.Lock()
        self.lost = asyncio.Event()
        self.reason = ""
        self.cause = ""
        self._reader_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, host: str, config: SessionConfig, identity_env: Mapping[str, str], generation: int
    ) -> Connection:
        """Connect and handshake; raises OSError, TimeoutError, EOFError or DecodeError
        (`frames.HandshakeError` when the collector rejected the license)."""
        async with asyncio.timeout(config.connect_timeout):
            reader, writer = await asyncio.open_connection(host, config.port)
        try:
            _set_keepalive(writer, config.keepalive_seconds)
            # drain() then returns only once every byte was handed to the kernel.
            writer.transport.set_write_buffer_limits(high=0)
            sockname = writer.get_extra_info("sockname")
            local_ip = sockname[0] if sockname and len(sockname) == 2 else ""
            ident = decide_identity(identity_env, local_ip=local_ip)
            writer.write(
                fr.encode_hello(
                    pcode=config.pcode,
                    oid=ident.oid,
                    oname=ident.oname,
                    ip=ident.ip,
                    license_key=config.license_key,
                    cypher_level=config.cypher_level,
                )
            )
            async with asyncio.timeout(config.handshake_timeout):
                await writer.drain()
                reply = await fr.read_frame(reader, fr.MAX_REPLY_PAYLOAD)
            keys = fr.parse_key_reset_reply(
                reply,
                pcode=config.pcode,
                oid=ident.oid,
                license_key=config.license_key,
                cypher_level=config.cypher_level,
            )
        except BaseException:
            writer.transport.abort()
            raise
        return cls(reader, writer, host, ident, keys, config, generation)

    def lose(self, reason: str, cause: str = "error") -> None:
        """Mark the connection dead (the first reason wins)."""
        if not self.lost.is_set():
            self.reason, self.cause = reason, cause
            self.lost.set()
            self.barriers.fail(SessionError(f"the collector connection is gone: {reason}"))

    def drop(self, reason: str, cause: str) -> None:
        """Lose the connection and reset the socket now: nothing more is read from it,
        so no late answer of it can be taken for anything."""
        self.lose(reason, cause)
        self.writer.transport.abort()

    @property
    def alive(self) -> bool:
        """True until the connection was lost."""
        return not self.lost.is_set()

    def start(self, on_frame: FrameHandler) -> None:
        """Start the read loop (frames go to ``on_frame``) and the keep-alive."""
        self._reader_task = asyncio.create_task(self._read_loop(on_frame), name="whatap reader")
        self._keepalive_task = asyncio.create_task(self._keepalive(), name="whatap keepalive")

    # -- receiving -------------------------------------------------------------

    async def _read_loop(self, on_frame: FrameHandler) -> None:
        cfg = self.config
        try:
            while True:
                async with asyncio.timeout(cfg.read_timeout):
                    frame = await fr.read_frame(self.reader, cfg.max_frame_payload)
                if frame.pcode != cfg.pcode or frame.oid != self.identity.oid:
                    continue
                if frame.code == fr.NET_TIME_SYNC:
                    self.barriers.answer(fr.decode_time_sync_reply(frame)[0])
                await on_frame(self, frame)
        except EOFError:
            self.lose("the collector closed the connection", "closed")
        except TimeoutError:
            self.lose(f"nothing received from the collector for {cfg.read_timeout:g} s", "timeout")
        except DecodeError as exc:
            self.lose(f"the collector sent an invalid frame: {exc}", "invalid")
        except (OSError, SessionError) as exc:
            self.lose(f"connection failed: {exc}", "error")

    async def _keepalive(self) -> None:
        idle = self.config.read_timeout / 3
        while True:
            wait = self.last_write + idle - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                async with self.lock:
                    await self._write(self._time_sync(), time_syncs=1)
            except SessionError:
                return

    # -- sending ---------------------------------------------------------------

    def _time_sync(self) -> bytes:
        """A TIME_SYNC frame, counted as written (the caller writes it at once)."""
        self.last_time_sync = time.monotonic()
        now = wall_ms()
        self.barriers.wrote(now)
        return fr.encode_time_sync(
            pcode=self.config.pcode,
            oid=self.identity.oid,
            transfer_key=self.keys.transfer_key,
            now_ms=now,
        )

    async def write_barrier(self) -> int:
        """Write a TIME_SYNC after everything written so far; its ordinal in `barriers`."""
        async with self.lock:
            if self.lost.is_set():
                raise SessionError(f"the collector connection is gone: {self.reason}")
            frame = self._time_sync()
            ordinal = self.barriers.sent
            await self._write(frame, time_syncs=1)
        return ordinal

    async def write_pack(self, pack: bytes, flag: int) -> None:
        """One data frame, preceded by a TIME_SYNC frame when one is due."""
        cfg = self.config
        async with self.lock:
            head = b""
            if time.monotonic() - self.last_time_sync >= cfg.time_sync_interval:
                head = self._time_sync()
            frame = fr.encode_data_frame(
                pack,
                pcode=cfg.pcode,
                oid=self.identity.oid,
                transfer_key=self.keys.transfer_key,
                cypher=self.cypher,
                flag=flag,
                cypher_level=cfg.cypher_level,
            )
            await self._write(head + frame, time_syncs=1 if head else 0, packs=1)
            self.packs += 1

    async def _write(self, data: bytes, *, time_syncs: int = 0, packs: int = 0) -> None:
        if self.writer.is_closing():
            self.lose("the connection was closed", "closed")
        if self.lost.is_set():
            raise SessionError(f"the collector connection is gone: {self.reason}")
        self.writer.write(data)
        try:
            async with asyncio.timeout(self.config.write_timeout):
                await self.writer.drain()
        except TimeoutError:
            reason = f"the collector did not take data for {self.config.write_timeout:g} s"
            self.lose(reason, "timeout")
            raise SessionError(reason, written=True) from None
        except (OSError, RuntimeError) as exc:
            self.lose(f"write failed: {exc}", "error")
            raise SessionError(f"write to the collector failed: {exc}", written=True) from None
        self.last_write = time.monotonic()
        BYTES_SENT.inc(len(data))
        if packs:
            FRAMES_SENT.labels("pack").inc(packs)
        if time_syncs:
            FRAMES_SENT.labels("time_sync").inc(time_syncs)

    # -- closing ---------------------------------------------------------------

    async def finish(self) -> None:
        """Half-close, give the collector ``close_grace`` s to read everything and close, close."""
        async with self.lock:
            self.lose("agent shutting down", "closed")
            if not self.writer.is_closing() and self.writer.can_write_eof():
                try:
                    self.writer.write_eof()
                except (OSError, RuntimeError):
                    pass
        task = self._reader_task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=self.config.close_grace)
        await self.close()

    async def close(self) -> None:
        """Stop the tasks and close the socket."""
        for task in (self._reader_task, self._keepalive_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.writer.close()
        try:
            async with asyncio.timeout(self.config.close_grace):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            self.writer.transport.abort()
