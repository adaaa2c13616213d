"""One connection of the collector emulator: the handshake, then frames, strictly in order.

A connection's frames are handled one after the other: a TIME_SYNC is
answered only once every frame before it was read and decoded, so an answer
tells the agent that everything it wrote before that TIME_SYNC has arrived
(what the agent's delivery barriers rely on, PROTOCOL §6.5/§6.6). The hello
is checked against the projects the collector knows (§6.3); `Faults` switch
misbehaviour on. `benchmarks.whatap_collector.Collector` owns the listener and
every connection.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Protocol

from benchmarks.whatap_received import Received, SessionInfo
from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.codec import DecodeError
from openagent.sinks.whatap.hashing import hash_str, ip_to_int32
from openagent.sinks.whatap.packs import decode_pack

#: What `Collector.send_garbage` writes: a frame header with a negative payload length.
GARBAGE = b"\xff" * 64
SRC_SERVER = 3
#: Largest hello accepted (the agent's is 54 bytes).
MAX_HELLO = 4096


@dataclass
class Faults:
    """Misbehaviour switches: new connections get no handshake reply or garbage instead;
    ``mute`` stops answering TIME_SYNC on every connection."""

    silent_handshake: bool = False
    garbage_handshake: bool = False
    mute: bool = False
    #: Set while frames are read; cleared by `Collector.freeze`.
    reading: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.reading.set()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: linger 0 drops whatever is buffered either way."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class Host(Protocol):
    """What a connection needs from the collector that accepted it."""

    projects: dict[int, bytes]
    cypher_level: int
    rng: random.Random
    received: Received
    faults: Faults

    def now(self) -> int:
        """The collector's clock, in ms."""
        ...

    async def notify(self) -> None:
        """Wake whoever waits for something to arrive."""
        ...


class Conn:
    """One agent connection: its streams, session record and keys."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, info: SessionInfo
    ) -> None:
        self.reader, self.writer, self.info = reader, writer, info
        self.keys: fr.SessionKeys | None = None
        self.half_closed = False

    def send(self, data: bytes) -> None:
        if not self.half_closed and not self.writer.is_closing():
            self.writer.write(data)

    async def _read_to_end(self) -> None:
        while await self.reader.read(65536):
            pass

    def _check_hello(self, host: Host, hello: fr.Frame) -> str:
        """Empty if the hello is acceptable, else why not."""
        info = self.info
        key = host.projects.get(hello.pcode)
        if key is None:
            return f"unknown pcode {hello.pcode}"
        try:
            info.oname, info.ip = fr.decode_hello(
                hello, license_key=key, cypher_level=host.cypher_level
            )
        except fr.HandshakeError as exc:
            return str(exc)
        return "" if hash_str(info.oname) == hello.oid else "oid is not the hash of the oname"

    async def run(self, host: Host) -> None:
        """The handshake, then every frame until the connection ends."""
        conn, info = self, self.info
        await host.faults.reading.wait()
        hello = await fr.read_frame(conn.reader, MAX_HELLO)
        info.hello, info.pcode, info.oid = hello, hello.pcode, hello.oid
        if host.faults.silent_handshake or host.faults.garbage_handshake:
            if host.faults.garbage_handshake:
                conn.send(GARBAGE)
            await self._read_to_end()
            return
        reason = self._check_hello(host, hello)
        if reason:
            info.rejected = reason
            conn.send(fr.encode_frame(fr.NET_KEY_RESET, 0, 0, 0, b"", SRC_SERVER))
            host.received.session_event(info, "rejected", reason=reason, pcode=hello.pcode)
            await self._read_to_end()
            return
        keys = fr.SessionKeys(
            host.rng.randrange(-(2**31), 2**31),
            host.rng.randbytes(16),
            host.rng.randrange(-(2**31), 2**31),
            ip_to_int32(info.peer.rpartition(":")[0]),
        )
        conn.send(
            fr.encode_key_reset_reply(
                keys, pcode=hello.pcode, oid=hello.oid, license_key=host.projects[hello.pcode],
                cypher_level=host.cypher_level,
            )
        )  # fmt: skip
        conn.keys, info.accepted = keys, True
        host.received.session_event(
            info, "connected", oname=info.oname, pcode=info.pcode, oid=info.oid, peer=info.peer
        )
        await host.notify()
        await self._frames(host, keys)

    async def _frames(self, host: Host, keys: fr.SessionKeys) -> None:
        conn, info, cypher = self, self.info, keys.cypher()
        while True:
            await host.faults.reading.wait()
            frame = await fr.read_frame(conn.reader)
            # A frame completed from the buffer after a freeze waits, unhandled, for resume.
            await host.faults.reading.wait()
            if frame.code == fr.NET_TIME_SYNC:
                agent_time = fr.decode_time_sync(frame)
                host.received.time_sync(info)
                if not host.faults.mute:
                    conn.send(
                        fr.encode_time_sync_reply(
                            pcode=info.pcode, oid=info.oid, agent_time=agent_time,
                            server_time=host.now(), src=SRC_SERVER,
                        )
                    )  # fmt: skip
                await host.notify()
                continue
            data = fr.open_data_frame(
                frame, pcode=info.pcode, oid=info.oid, transfer_key=keys.transfer_key,
                cypher=cypher, cypher_level=host.cypher_level,
            )  # fmt: skip
            if data is None:
                host.received.error(info, f"ignored a frame with code 0x{frame.code:02x}")
                continue
            try:
                host.received.pack(info, frame.code, decode_pack(data))
            except DecodeError as exc:
                host.received.error(info, f"undecodable pack: {exc}")
            await host.notify()
