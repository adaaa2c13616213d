"""A strict Whatap collector: PROTOCOL.md §5-§6 to the letter, written apart from the agent's
codec (own framing, own AES and XOR, own header reader; constants from the golden vectors).

It serves one project (the vectors' fake license: pcode and secure key from
``Parse_main_fake_license``) and one agent name (``dcgm-openagent-node1``, whose
OID the ``keyReset_hello_cypher128`` vector gives): cypher level 128 only. On
each connection it expects the hello first (src 1, code 0xff, that pcode and
OID, key slot 0, a payload that decrypts to ``Text "hello" ‖ Text ONAME ‖ i32
IP``), answers the key-reset reply of §6.3, and then accepts only:

* TIME_SYNC frames (code 0xfe, key slot = the transfer key, 8-byte payload),
  each answered at once in the layout of vector ``server_frame_TIME_SYNC_reply``
  (src 3, echoed agent time ‖ server time) — so strictly after every frame
  before it was read and checked;
* HIDE data frames (code 0x01, key slot = the transfer key) whose un-hidden
  payload is a known pack type (§3.0) with a header of the same pcode and OID.

Anything else (another src, code, pcode, OID or key; a bad length; a data
frame before the handshake) is recorded in ``errors`` and the connection is
reset: tests assert ``errors`` is empty.

What it does NOT model: pack bodies beyond the type and header (records are
counted per pack, not decoded — the emulator does that); cypher levels other
than 128, CYPHER-flag frames, commands to the agent; several projects or agent
names; the real server's unknowns (§10 Q1).
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.sinks.whatap.golden import DEFAULT_PATH

_VECTORS = {v["name"]: v for v in json.loads(DEFAULT_PATH.read_text())["vectors"]}
_LICENSE = _VECTORS["Parse_main_fake_license"]
_HELLO = _VECTORS["keyReset_hello_cypher128"]

PCODE = int(_LICENSE["pcode"])
LICENSE_KEY = bytes.fromhex(_LICENSE["secure_key_hex"])
LICENSE = str(_LICENSE["inputs"]["license"])
ONAME = str(_HELLO["inputs"]["oname"])
OID = int(_HELLO["inputs"]["oid"])
#: §3.0: the pack types an agent may send.
PACK_TYPES = {0x0100, 0x0700, 0x1400, 0x1601, 0x1603, 0x1604, 0x1606, 0x1607}
HEADER = struct.Struct(">BBqiii")  # src, code, pcode, oid, key, length (§6.2)
MAX_PAYLOAD = 8 * 1024 * 1024


class ProtocolViolation(Exception):
    """A frame the spec does not allow here."""


def aes(key: bytes, data: bytes, *, decrypt: bool) -> bytes:
    """§5: AES-128-ECB, key cut or zero-padded to 16 bytes, input zero-padded to blocks."""
    cipher = Cipher(algorithms.AES(key[:16].ljust(16, b"\0")), modes.ECB())
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data.ljust(-(-len(data) // 16) * 16, b"\0")) + op.finalize()


def xor(hide_key: int, data: bytes) -> bytes:
    """§5 Hide: XOR with the i32 key's 4 big-endian bytes, from index 0."""
    k = struct.pack(">i", hide_key)
    return bytes(b ^ k[i % 4] for i, b in enumerate(data))


def blob(data: bytes) -> bytes:
    """§1.3 Blob (the short forms this collector writes)."""
    return bytes([len(data)]) + data if len(data) < 254 else b"\xff" + struct.pack(">H", len(data))


def read_blob(data: bytes, at: int) -> tuple[bytes, int]:
    n, at = data[at], at + 1
    if n == 0xFF:
        n, at = struct.unpack_from(">H", data, at)[0], at + 2
    elif n == 0xFE:
        n, at = struct.unpack_from(">i", data, at)[0], at + 4
    return data[at : at + n], at + n


def read_decimal(data: bytes, at: int) -> tuple[int, int]:
    """§1.2: a length byte, then that many big-endian signed bytes (other lengths: 8)."""
    n = data[at]
    n = n if n <= 5 else 8
    return int.from_bytes(data[at + 1 : at + 1 + n], "big", signed=True), at + 1 + n


def frame(code: int, payload: bytes, *, key: int = 0, src: int = 3) -> bytes:
    return HEADER.pack(src, code, PCODE, OID, key, len(payload)) + payload


def time_sync_reply(agent_time: int, server_time: int) -> bytes:
    """The reply of vector ``server_frame_TIME_SYNC_reply``."""
    return frame(0xFE, struct.pack(">qq", agent_time, server_time))


@dataclass
class StrictCollector:
    """Listens on 127.0.0.1 (port 0); ``packs`` counts packs by type, ``errors`` says why a
    connection was refused or reset."""

    transfer_key: int = 0x075BCD15
    secure_key: bytes = b"StrictSession!16"
    hide_key: int = 0x5A17C3E1
    packs: dict[int, int] = field(default_factory=dict)
    time_syncs: int = 0
    errors: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _conns: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def pack_count(self) -> int:
        return sum(self.packs.values())

    async def __aenter__(self) -> StrictCollector:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            await self._handshake(reader, writer)
            while True:
                await self._frame(reader, writer)
        except asyncio.IncompleteReadError:
            pass  # the agent closed
        except ProtocolViolation as exc:
            self.errors.append(str(exc))
            writer.transport.abort()
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, int, int, bytes]:
        src, code, pcode, oid, key, length = HEADER.unpack(await reader.readexactly(HEADER.size))
        if src != 1:
            raise ProtocolViolation(f"frame with src {src}, not 1")
        if (pcode, oid) != (PCODE, OID):
            raise ProtocolViolation(f"frame for pcode {pcode} oid {oid}, not {PCODE} {OID}")
        if not 0 <= length <= MAX_PAYLOAD:
            raise ProtocolViolation(f"frame length {length}")
        return code, key, length, await reader.readexactly(length)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        code, key, _, payload = await self._read(reader)
        if code != 0xFF or key != 0:
            raise ProtocolViolation(f"first frame has code 0x{code:02x} key {key}: not a hello")
        message = aes(LICENSE_KEY, payload, decrypt=True)
        hello, at = read_blob(message, 0)
        oname, at = read_blob(message, at)
        if hello != b"hello" or oname.decode() != ONAME or len(message) < at + 4:
            raise ProtocolViolation(f"hello does not decrypt to hello/{ONAME}/ip")
        reply = (
            struct.pack(">i", self.transfer_key)
            + blob(self.secure_key)
            + struct.pack(">ii", self.hide_key, 0x7F000001)
        )
        writer.write(frame(0xFF, aes(LICENSE_KEY, reply, decrypt=False)))

    async def _frame(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        code, key, length, payload = await self._read(reader)
        if key != self.transfer_key:
            raise ProtocolViolation(f"frame with key {key}, not the transfer key")
        if code == 0xFE:
            if length != 8:
                raise ProtocolViolation(f"TIME_SYNC with a {length}-byte payload")
            self.time_syncs += 1
            agent_time = struct.unpack(">q", payload)[0]
            writer.write(time_sync_reply(agent_time, time.time_ns() // 1_000_000))
            return
        if code != 0x01:
            raise ProtocolViolation(f"data frame with code 0x{code:02x}, not HIDE")
        pack = xor(self.hide_key, payload)
        kind = struct.unpack_from(">H", pack)[0]
        if kind not in PACK_TYPES:
            raise ProtocolViolation(f"unknown pack type 0x{kind:04x}")
        at = 3 if pack[2] == 0x09 else 2  # §3.0: extended header, or legacy
        pcode, at = read_decimal(pack, at)
        oid = struct.unpack_from(">i", pack, at)[0]
        if (pcode, oid) != (PCODE, OID):
            raise ProtocolViolation(f"pack header for pcode {pcode} oid {oid}")
        self.packs[kind] = self.packs.get(kind, 0) + 1
