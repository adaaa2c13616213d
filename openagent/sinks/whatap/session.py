"""The session with the Whatap collector: one connection kept up, packs written on it.

A background task keeps one `Connection` up. Each attempt takes the next
host of the list (``WHATAP_HOST`` may name several), connects and redoes the
key-reset handshake. Failed attempts and lost connections are retried after
a capped exponential backoff with jitter (``backoff_initial`` doubling up to
``backoff_max``), not the Go agent's fixed 3 s; the backoff starts again once
a connection carried a pack or lasted ``backoff_max`` seconds.

While connected, the collector's commands are answered (see `control`) and
its TIME_SYNC replies set `Session.clock_offset_ms`. `Session.send_pack`
writes one pack as a data frame (HIDE by default, AES for the CYPHER flag,
plain at cypher level 0); a pack above ``max_pack_bytes`` is replaced by a
NEW_OVERFLOW event pack and counted. `Session.confirm` writes a TIME_SYNC
barrier and waits for its answer (see `barrier`). State changes are logged once each
(connected, lost, a new kind of failure); the license is never logged.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque

from openagent.backoff import Backoff
from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.codec import DecodeError, Reader
from openagent.sinks.whatap.confirm import Confirmer
from openagent.sinks.whatap.connection import Connection, SessionConfig, SessionError, wall_ms
from openagent.sinks.whatap.control import COMMAND_NAMES, CommandHandler
from openagent.sinks.whatap.header import PackHeader, read_header
from openagent.sinks.whatap.identity import Identity
from openagent.sinks.whatap.packs import (
    SET_CONFIG,
    ParamPack,
    decode_pack,
    overflow_event,
    pack_type,
)
from openagent.sinks.whatap.session_metrics import (
    COMMANDS,
    CONNECTED,
    CONNECTS,
    DISCONNECTS,
    OVERSIZE,
    UNCONFIRMED,
)
from openagent.telemetry import Throttle, get_logger

__all__ = ["Session", "SessionConfig", "SessionError", "wall_ms"]

log = get_logger("whatap")

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
            config.backoff_initial, config.backoff_max, jitter=config.backoff_jitter, rng=rng
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
        self._conn: Connection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_failure = ""
        self._throttle = Throttle(60.0)
        self._confirmer = Confirmer(config.port)

    # -- state -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a handshaken connection is up."""
        return self._conn is not None and self._conn.alive

    @property
    def identity(self) -> Identity | None:
        """The identity of the current connection."""
        return self._conn.identity if self._conn is not None else None

    @property
    def host(self) -> str | None:
        """The host of the current connection."""
        return self._conn.host if self._conn is not None else None

    @property
    def time_sync_answers(self) -> int:
        """TIME_SYNC answers read on the current connection (0 without one)."""
        return self._conn.barriers.answered if self._conn is not None else 0

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
                    if conn is not None and conn.alive:
                        return conn.generation
                    # A lost connection stays installed until the manager runs.
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
            self._uninstall(conn)
            await conn.finish()

    # -- connection manager ----------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._host_index = (self._host_index + 1) % len(self.config.hosts)
            host = self.config.hosts[self._host_index]
            try:
                conn = await Connection.open(
                    host, self.config, self._identity_env, self.generation + 1
                )
            except (OSError, TimeoutError, DecodeError, EOFError) as exc:
                await asyncio.sleep(self._attempt_failed(host, exc))
                continue
            self.generation = conn.generation
            self._install(conn)
            await conn.lost.wait()
            self._uninstall(conn)
            await conn.close()
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

    def _install(self, conn: Connection) -> None:
        self._conn = conn
        conn.start(self._on_frame)
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

    def _uninstall(self, conn: Connection) -> None:
        if self._conn is conn:
            self._conn = None
            self._up.clear()
            CONNECTED.set(0)
            UNCONFIRMED.set(0)

    # -- receiving -------------------------------------------------------------

    async def _on_frame(self, conn: Connection, frame: fr.Frame) -> None:
        cfg = self.config
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
            name = COMMAND_NAMES.get(pack.id, str(pack.id))
            COMMANDS.labels(name).inc()
            reply = self.commands.handle(pack)
            if reply is None:
                log.debug("ignoring a collector command", command=name)
                return
            if pack.id == SET_CONFIG:
                log.warning(
                    "refused the collector's SET_CONFIG: openagent is configured by its "
                    "environment and scrape_config.yaml only"
                )
            else:
                log.info("answering a collector command", command=name)
            await conn.write_pack(reply.to_bytes(), fr.NET_SECURE_HIDE)

    # -- sending ---------------------------------------------------------------

    def _current(self, generation: int | None) -> Connection:
        conn = self._conn
        if conn is None or not conn.alive:
            raise SessionError(self._not_connected())
        if generation is not None and conn.generation != generation:
            raise SessionError("the collector connection was replaced")
        return conn

    async def confirm(self, generation: int, within: float) -> bool:
        """Write a TIME_SYNC barrier on connection ``generation`` and wait for its answer:
        True once it came; False when that connection delivers unconfirmed
        (`confirm.Confirmer.confirm` says when); SessionError when no answer came
        in time (the connection is then reset) or the connection broke."""
        conn = self._current(generation)
        return await self._confirmer.confirm(conn, within, current=lambda: self._conn is conn)

    async def send_pack(
        self, pack: bytes, *, flag: int = fr.NET_SECURE_HIDE, generation: int | None = None
    ) -> bool:
        """Write one pack; False when it was too big and an overflow event went instead.

        Raises SessionError when there is no connection (of ``generation``, if
        given) or the write fails; then the pack was not written.
        """
        conn = self._current(generation)
        sent_as_is = True
        if len(pack) > self.config.max_pack_bytes:
            pack, flag, sent_as_is = self._overflow(pack), fr.NET_SECURE_CYPHER, False
        await conn.write_pack(pack, flag)
        return sent_as_is

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
