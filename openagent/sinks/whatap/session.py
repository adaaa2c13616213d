"""The TCP session with the Whatap collector (PROTOCOL §6): handshake, frames, receiving.

A background task keeps one connection up. Each attempt takes the next host
of the list, connects (``connect_timeout``), decides the agent identity from
the socket's local address, sends the key-reset hello and reads the session
keys from the reply (``handshake_timeout``); this is redone on every
connect. Failed attempts and lost connections are retried after a capped
exponential backoff with jitter (``backoff_initial`` doubling up to
``backoff_max``), not the Go agent's fixed 3 s.

While connected, a read loop answers the collector's commands (see
`control`), takes the clock offset from TIME_SYNC replies and drops the
connection when nothing arrives for ``read_timeout`` seconds (the Go agent's
liveness rule) or the stream is garbage. When the agent has sent nothing for a
third of ``read_timeout``, it sends a TIME_SYNC so that the collector has
something to answer. TCP keep-alive is on as well.

`Session.send_pack` writes one pack as a data frame (HIDE by default, AES for
the CYPHER flag, plain at cypher level 0), preceded by a TIME_SYNC frame when
``time_sync_interval`` has passed since the last one, and returns only once
the bytes were handed to the kernel. A pack above ``max_pack_bytes`` is
replaced by a NEW_OVERFLOW event pack and counted. State changes are logged
once each; the license is never logged.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.codec import DecodeError, Reader
from openagent.sinks.whatap.control import COMMAND_NAMES, CommandHandler
from openagent.sinks.whatap.header import PackHeader, read_header
from openagent.sinks.whatap.identity import Identity, decide_identity
from openagent.sinks.whatap.metrics import (
    BYTES_SENT,
    COMMANDS,
    CONNECTED,
    CONNECTS,
    DISCONNECTS,
    FRAMES_SENT,
    OVERSIZE,
)
from openagent.sinks.whatap.packs import ParamPack, decode_pack, overflow_event, pack_type
from openagent.telemetry import Throttle, get_logger

log = get_logger("whatap")

MiB = 1024 * 1024
PACK_NAMES = {
    0x0100: "ParamPack",
    0x0700: "TextPack",
    0x1400: "EventPack",
    0x1601: "TagCountPack",
    0x1603: "OpenMxPack",
    0x1604: "OpenMxHelpPack",
    0x1606: "OpenMxEndpointPack",
    0x1607: "OpenMxHistogramPack",
}


class SessionError(Exception):
    """No usable collector connection, or writing to it failed."""


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


class Backoff:
    """Capped exponential delays with jitter: step n waits ``min(max, initial * 2**n)``
    shortened by up to ``jitter`` of itself (so delays never exceed the cap)."""

    def __init__(
        self, initial: float, maximum: float, jitter: float, rng: random.Random | None = None
    ) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self.rng = rng or random.Random()
        self.step = 0

    def base(self, step: int) -> float:
        """The delay of ``step`` before jitter."""
        return min(self.maximum, self.initial * float(2 ** min(step, 62)))

    def next(self) -> float:
        """The next delay; the step grows."""
        delay = self.base(self.step) * (1 - self.jitter * self.rng.random())
        self.step += 1
        return delay

    def reset(self) -> None:
        """Start again from ``initial``."""
        self.step = 0


class _Connection:
    """One handshaken connection and its bookkeeping."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        identity: Identity,
        keys: fr.SessionKeys,
        generation: int,
    ) -> None:
        self.reader, self.writer, self.host = reader, writer, host
        self.identity, self.keys, self.generation = identity, keys, generation
        self.cypher = keys.cypher()
        self.opened = time.monotonic()
        self.last_write = self.opened
        self.last_time_sync = float("-inf")
        self.packs = 0
        self.lock = asyncio.Lock()
        self.lost = asyncio.Event()
        self.reason = ""
        self.cause = ""
        self.tasks: list[asyncio.Task[None]] = []

    def lose(self, reason: str, cause: str = "error") -> None:
        """Mark the connection dead (first reason wins)."""
        if not self.lost.is_set():
            self.reason, self.cause = reason, cause
            self.lost.set()


def _kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, fr.HandshakeError) and "rejected" in str(exc):
        return "rejected"
    if isinstance(exc, fr.HandshakeError | DecodeError | EOFError):
        return "handshake"
    return "error"


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


class Session:
    """Keeps a session with the collector up and writes packs on it."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        commands: CommandHandler | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.commands = commands or CommandHandler(environ=lambda: os.environ)
        self.backoff = Backoff(
            config.backoff_initial, config.backoff_max, config.backoff_jitter, rng
        )
        #: The delays slept before reconnecting, most recent last.
        self.retry_delays: deque[float] = deque(maxlen=1000)
        #: State changes, most recent last: ("connected", host), ("failed" or "lost", reason).
        self.history: deque[tuple[str, str]] = deque(maxlen=100)
        self.clock_offset_ms = 0
        self.last_error: str | None = None
        self.generation = 0
        self.failed_attempts = 0
        self._identity_env = dict(config.identity_env)
        self._host_index = -1
        self._conn: _Connection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_failure = ""
        self._throttle = Throttle(60.0)

    # -- state -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a handshaken connection is up."""
        return self._conn is not None and not self._conn.lost.is_set()

    @property
    def identity(self) -> Identity | None:
        """The identity of the current connection."""
        return self._conn.identity if self._conn is not None else None

    @property
    def host(self) -> str | None:
        """The host of the current connection."""
        return self._conn.host if self._conn is not None else None

    def set_oname(self, oname: str) -> None:
        """Use ``oname`` from the next connect on (as if WHATAP_ONAME named it)."""
        self._identity_env["WHATAP_ONAME"] = oname

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection manager (idempotent)."""
        if self._closed:
            raise SessionError("the collector session is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="whatap session")

    async def wait_connected(self, within: float) -> int:
        """The generation of a live connection, waiting up to ``within`` s; else SessionError."""
        await self.start()
        try:
            async with asyncio.timeout(within):
                while True:
                    conn = self._conn
                    if conn is not None and not conn.lost.is_set():
                        return conn.generation
                    # A lost connection is still installed until the manager runs.
                    self._up.clear()
                    await self._up.wait()
        except TimeoutError:
            raise SessionError(self._not_connected()) from None

    def _not_connected(self) -> str:
        why = f": {self.last_error}" if self.last_error else ""
        return f"not connected to the Whatap collector{why}"

    async def close(self) -> None:
        """Stop reconnecting; half-close the connection, let the collector finish, close it."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        conn = self._conn
        if conn is not None:
            await self._finish(conn)

    async def _finish(self, conn: _Connection) -> None:
        async with conn.lock:
            conn.lose("agent shutting down", "closed")
            self._uninstall(conn)
            writer = conn.writer
            if not writer.is_closing() and writer.can_write_eof():
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
        reader_task = conn.tasks[0] if conn.tasks else None
        if reader_task is not None and not reader_task.done():
            await asyncio.wait([reader_task], timeout=self.config.close_grace)
        await self._close_conn(conn)

    # -- connection manager ----------------------------------------------------

    def _next_host(self) -> str:
        self._host_index = (self._host_index + 1) % len(self.config.hosts)
        return self.config.hosts[self._host_index]

    async def _run(self) -> None:
        while True:
            host = self._next_host()
            try:
                conn = await self._open(host)
            except (OSError, TimeoutError, DecodeError, EOFError) as exc:
                await asyncio.sleep(self._attempt_failed(host, exc))
                continue
            self._install(conn)
            await conn.lost.wait()
            self._uninstall(conn)
            await self._close_conn(conn)
            DISCONNECTS.labels(conn.cause).inc()
            if conn.packs or time.monotonic() - conn.opened >= self.config.backoff_max:
                self.backoff.reset()
            delay = self._delay()
            self.last_error = conn.reason
            self.history.append(("lost", conn.reason))
            log.warning(
                "lost the collector connection",
                host=f"{host}:{self.config.port}",
                reason=conn.reason,
                retry_in=round(delay, 2),
            )
            await asyncio.sleep(delay)

    def _delay(self) -> float:
        delay = self.backoff.next()
        self.retry_delays.append(delay)
        return delay

    def _attempt_failed(self, host: str, exc: BaseException) -> float:
        kind = _kind(exc)
        CONNECTS.labels(kind).inc()
        self.failed_attempts += 1
        target = f"{host}:{self.config.port}"
        if isinstance(exc, TimeoutError):
            reason = f"no answer from {target} in time"
        elif isinstance(exc, EOFError):
            reason = f"{target} closed the connection during the handshake"
        else:
            reason = f"{target}: {exc or type(exc).__name__}"
        self.last_error = reason
        self.history.append(("failed", reason))
        delay = self._delay()
        fields = {"host": target, "reason": reason, "retry_in": round(delay, 2)}
        if kind == self._last_failure:
            log.debug("collector connection attempt failed", **fields)
        elif kind == "rejected":
            log.error(
                "the collector rejected the license or the agent name; "
                "check WHATAP_LICENSE and WHATAP_ONAME",
                pcode=self.config.pcode,
                **fields,
            )
        else:
            log.warning("cannot connect to the collector", **fields)
        self._last_failure = kind
        return delay

    async def _open(self, host: str) -> _Connection:
        cfg = self.config
        async with asyncio.timeout(cfg.connect_timeout):
            reader, writer = await asyncio.open_connection(host, cfg.port)
        try:
            _set_keepalive(writer, cfg.keepalive_seconds)
            # drain() then returns only once every byte was handed to the kernel.
            writer.transport.set_write_buffer_limits(high=0)
            sockname = writer.get_extra_info("sockname")
            local_ip = sockname[0] if sockname and len(sockname) == 2 else ""
            ident = decide_identity(self._identity_env, local_ip=local_ip)
            writer.write(
                fr.encode_hello(
                    pcode=cfg.pcode,
                    oid=ident.oid,
                    oname=ident.oname,
                    ip=ident.ip,
                    license_key=cfg.license_key,
                    cypher_level=cfg.cypher_level,
                )
            )
            async with asyncio.timeout(cfg.handshake_timeout):
                await writer.drain()
                reply = await fr.read_frame(reader, fr.MAX_REPLY_PAYLOAD)
            keys = fr.parse_key_reset_reply(
                reply,
                pcode=cfg.pcode,
                oid=ident.oid,
                license_key=cfg.license_key,
                cypher_level=cfg.cypher_level,
            )
        except BaseException:
            writer.transport.abort()
            raise
        self.generation += 1
        return _Connection(reader, writer, host, ident, keys, self.generation)

    def _install(self, conn: _Connection) -> None:
        self._conn = conn
        conn.tasks = [
            asyncio.create_task(self._read_loop(conn), name="whatap reader"),
            asyncio.create_task(self._keepalive(conn), name="whatap keepalive"),
        ]
        self._up.set()
        self.history.append(("connected", conn.host))
        CONNECTED.set(1)
        CONNECTS.labels("ok").inc()
        log.info(
            "connected to the collector",
            host=f"{conn.host}:{self.config.port}",
            oname=conn.identity.oname,
            oid=conn.identity.oid,
            pcode=self.config.pcode,
            failed_attempts=self.failed_attempts,
        )
        self.failed_attempts = 0
        self._last_failure = ""
        self.last_error = None

    def _uninstall(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
            self._up.clear()
            CONNECTED.set(0)

    async def _close_conn(self, conn: _Connection) -> None:
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()
        conn.writer.close()
        try:
            async with asyncio.timeout(self.config.close_grace):
                await conn.writer.wait_closed()
        except (OSError, TimeoutError):
            conn.writer.transport.abort()

    # -- receiving -------------------------------------------------------------

    async def _read_loop(self, conn: _Connection) -> None:
        cfg = self.config
        try:
            while True:
                async with asyncio.timeout(cfg.read_timeout):
                    frame = await fr.read_frame(conn.reader, cfg.max_frame_payload)
                await self._on_frame(conn, frame)
        except EOFError:
            conn.lose("the collector closed the connection", "closed")
        except TimeoutError:
            conn.lose(f"nothing received from the collector for {cfg.read_timeout:g} s", "timeout")
        except DecodeError as exc:
            conn.lose(f"the collector sent an invalid frame: {exc}", "invalid")
        except (OSError, SessionError) as exc:
            conn.lose(f"connection failed: {exc}", "error")

    async def _on_frame(self, conn: _Connection, frame: fr.Frame) -> None:
        cfg = self.config
        if frame.pcode != cfg.pcode or frame.oid != conn.identity.oid:
            return
        if frame.code == fr.NET_TIME_SYNC:
            try:
                echoed, server = fr.decode_time_sync_reply(frame)
            except DecodeError:
                return
            now = wall_ms()
            if 0 <= now - echoed < 500:
                self.clock_offset_ms = server - now
            return
        try:
            data = fr.open_data_frame(
                frame,
                pcode=cfg.pcode,
                oid=conn.identity.oid,
                transfer_key=conn.keys.transfer_key,
                cypher=conn.cypher,
                cypher_level=cfg.cypher_level,
            )
            pack = decode_pack(data) if data is not None else None
        except DecodeError as exc:
            if self._throttle.allow("bad pack"):
                log.warning("ignoring an unreadable pack from the collector", error=str(exc))
            return
        if isinstance(pack, ParamPack):
            await self._on_command(conn, pack)

    async def _on_command(self, conn: _Connection, pack: ParamPack) -> None:
        name = COMMAND_NAMES.get(pack.id, str(pack.id))
        COMMANDS.labels(name).inc()
        reply = self.commands.handle(pack)
        if reply is None:
            log.debug("ignoring a collector command", command=name)
            return
        log.info("answering a collector command", command=name, refused=name == "SET_CONFIG")
        await self._write_pack(conn, reply.to_bytes(), fr.NET_SECURE_HIDE)

    async def _keepalive(self, conn: _Connection) -> None:
        idle = self.config.read_timeout / 3
        while True:
            wait = conn.last_write + idle - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._write(conn, self._time_sync(conn), time_syncs=1, packs=0)
            except SessionError:
                return

    # -- sending ---------------------------------------------------------------

    def _time_sync(self, conn: _Connection) -> bytes:
        conn.last_time_sync = time.monotonic()
        return fr.encode_time_sync(
            pcode=self.config.pcode,
            oid=conn.identity.oid,
            transfer_key=conn.keys.transfer_key,
            now_ms=wall_ms(),
        )

    async def send_pack(
        self, pack: bytes, *, flag: int = fr.NET_SECURE_HIDE, generation: int | None = None
    ) -> bool:
        """Write one pack; False when it was too big and an overflow event went instead.

        Raises SessionError when there is no connection (of ``generation``, if
        given) or the write fails; then the pack was not written.
        """
        conn = self._conn
        if conn is None or conn.lost.is_set():
            raise SessionError(self._not_connected())
        if generation is not None and conn.generation != generation:
            raise SessionError("the collector connection was replaced")
        sent_as_is = True
        if len(pack) > self.config.max_pack_bytes:
            pack, flag, sent_as_is = self._overflow(pack), fr.NET_SECURE_CYPHER, False
        await self._write_pack(conn, pack, flag)
        return sent_as_is

    async def _write_pack(self, conn: _Connection, pack: bytes, flag: int) -> None:
        async with conn.lock:
            cfg = self.config
            head = b""
            if time.monotonic() - conn.last_time_sync >= cfg.time_sync_interval:
                head = self._time_sync(conn)
            frame = fr.encode_data_frame(
                pack,
                pcode=cfg.pcode,
                oid=conn.identity.oid,
                transfer_key=conn.keys.transfer_key,
                cypher=conn.cypher,
                flag=flag,
                cypher_level=cfg.cypher_level,
            )
            await self._write_locked(conn, head + frame, time_syncs=1 if head else 0, packs=1)
            conn.packs += 1

    async def _write(self, conn: _Connection, data: bytes, *, time_syncs: int, packs: int) -> None:
        async with conn.lock:
            await self._write_locked(conn, data, time_syncs=time_syncs, packs=packs)

    async def _write_locked(
        self, conn: _Connection, data: bytes, *, time_syncs: int, packs: int
    ) -> None:
        if conn.writer.is_closing():
            conn.lose("the connection was closed", "closed")
        if conn.lost.is_set():
            raise SessionError(f"the collector connection is gone: {conn.reason}")
        conn.writer.write(data)
        try:
            async with asyncio.timeout(self.config.write_timeout):
                await conn.writer.drain()
        except TimeoutError:
            reason = f"the collector did not take data for {self.config.write_timeout:g} s"
            conn.lose(reason, "timeout")
            raise SessionError(reason) from None
        except (OSError, RuntimeError) as exc:
            conn.lose(f"write failed: {exc}", "error")
            raise SessionError(f"write to the collector failed: {exc}") from None
        conn.last_write = time.monotonic()
        BYTES_SENT.inc(len(data))
        if packs:
            FRAMES_SENT.labels("pack").inc(packs)
        if time_syncs:
            FRAMES_SENT.labels("time_sync").inc(time_syncs)

    def _overflow(self, pack: bytes) -> bytes:
        size = len(pack)
        try:
            name = PACK_NAMES.get(pack_type(pack) & 0xFFFF, "pack")
            header = read_header(Reader(pack, 2))
        except DecodeError:
            name, header = "pack", PackHeader(self.config.pcode, 0, wall_ms())
        OVERSIZE.inc()
        if self._throttle.allow("oversize"):
            log.error(
                "pack above the send limit replaced by a NEW_OVERFLOW event",
                pack=name,
                size=size,
                limit=self.config.max_pack_bytes,
                suppressed=self._throttle.take_suppressed("oversize"),
            )
        return overflow_event(header, name, size).to_bytes()
