"""Network frames (PROTOCOL §6.2-6.5): layout, key-reset handshake, TIME_SYNC, data frames.

A frame is ``u8 src ‖ u8 code ‖ i64 pcode ‖ i32 oid ‖ i32 key ‖ i32 length ‖ payload``.
Functions here build and parse frames for both sides (agent and collector), so
that the session and a collector emulator share one implementation.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from openagent.sinks.whatap.codec import I32, I64, DecodeError, EncodeError, Reader, Writer
from openagent.sinks.whatap.crypto import Cypher, zero_pad

HEADER = struct.Struct(">BBqiii")
HEADER_SIZE = HEADER.size  # 22

SRC_AGENT = 0x01  # NETSRC_AGENT_JAVA_EMBED

NET_SECURE_HIDE = 0x01
NET_SECURE_CYPHER = 0x02
NET_KEY_EXTENSION = 0xFD
NET_TIME_SYNC = 0xFE
NET_KEY_RESET = 0xFF

#: Payload limit of the Go agent's receiver.
DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024
#: Payload limit of a key-reset reply.
MAX_REPLY_PAYLOAD = 1024


class HandshakeError(DecodeError):
    """The collector's key-reset reply was unusable (wrong pcode/oid, bad payload)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. ``key`` is the TRANSFER_KEY on data frames, the trkey on a hello."""

    code: int
    pcode: int
    oid: int
    key: int
    payload: bytes = field(repr=False)
    src: int = SRC_AGENT

    def to_bytes(self) -> bytes:
        """Header and payload."""
        return encode_frame(self.code, self.pcode, self.oid, self.key, self.payload, self.src)


def encode_frame(
    code: int, pcode: int, oid: int, key: int, payload: bytes, src: int = SRC_AGENT
) -> bytes:
    """Build a frame."""
    try:
        return HEADER.pack(src, code, pcode, oid, key, len(payload)) + payload
    except struct.error as exc:
        raise EncodeError(f"frame field out of range (code {code}, pcode {pcode})") from exc


def parse_header(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[Frame, int]:
    """Parse 22 header bytes into a payload-less `Frame` plus the payload length (checked)."""
    if len(data) < HEADER_SIZE:
        raise DecodeError(f"truncated frame header: {len(data)} of {HEADER_SIZE} bytes")
    src, code, pcode, oid, key, length = HEADER.unpack_from(data)
    if length < 0:
        raise DecodeError(f"frame (code 0x{code:02x}) has negative payload length {length}")
    if length > max_payload:
        raise DecodeError(
            f"frame (code 0x{code:02x}) payload of {length} bytes exceeds the limit {max_payload}"
        )
    return Frame(code, pcode, oid, key, b"", src), length


def decode_frames(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[Frame]:
    """Split a buffer that holds whole frames only."""
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        head, length = parse_header(data[pos : pos + HEADER_SIZE], max_payload)
        start = pos + HEADER_SIZE
        if start + length > len(data):
            raise DecodeError(
                f"truncated frame at offset {pos}: payload needs {length} bytes, "
                f"{len(data) - start} left"
            )
        frames.append(
            Frame(head.code, head.pcode, head.oid, head.key, data[start : start + length], head.src)
        )
        pos = start + length
    return frames


def decode_frame(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Exactly one frame."""
    frames = decode_frames(data, max_payload)
    if len(frames) != 1:
        raise DecodeError(f"expected exactly one frame, found {len(frames)}")
    return frames[0]


async def read_frame(reader: asyncio.StreamReader, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Read one frame from a stream.

    Raises `EOFError` when the stream ends cleanly before a frame, and
    `DecodeError` when it ends inside one or the payload exceeds ``max_payload``.
    """
    try:
        head_bytes = await reader.readexactly(HEADER_SIZE)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EOFError("connection closed") from None
        raise DecodeError(
            f"connection closed inside a frame header ({len(exc.partial)} of {HEADER_SIZE} bytes)"
        ) from None
    head, length = parse_header(head_bytes, max_payload)
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise DecodeError(
            f"connection closed inside a frame payload ({len(exc.partial)} of {length} bytes)"
        ) from None
    return Frame(head.code, head.pcode, head.oid, head.key, payload, head.src)


# --- key reset (handshake) ------------------------------------------------------------


def trkey(cypher_level: int) -> int:
    """The hello's key slot: 0 for levels 0 and 128, else the bytes ``01, level/8, 00, 00``."""
    if cypher_level < 0 or cypher_level % 8 or cypher_level // 8 > 255:
        raise ValueError(f"unsupported cypher level {cypher_level}")
    if cypher_level in (0, 128):
        return 0
    return int(I32.unpack(bytes((1, cypher_level // 8, 0, 0)))[0])


def hello_message(oname: str, ip: int) -> bytes:
    """``Text "hello" ‖ Text ONAME ‖ i32 IP``, unencrypted."""
    return Writer().text("hello").text(oname).int32(ip).getvalue()


def encode_hello(
    *, pcode: int, oid: int, oname: str, ip: int, license_key: bytes, cypher_level: int = 128
) -> bytes:
    """The key-reset frame the agent sends after connecting (§6.3)."""
    key = trkey(cypher_level)
    msg = hello_message(oname, ip)
    if cypher_level > 0:
        msg = Cypher(license_key).encrypt(msg)
    code = NET_KEY_RESET if cypher_level == 128 else NET_KEY_EXTENSION
    return encode_frame(code, pcode, oid, key, msg)


def decode_hello(frame: Frame, *, license_key: bytes, cypher_level: int = 128) -> tuple[str, int]:
    """Collector side: the ONAME and IP of a hello frame."""
    if frame.code not in (NET_KEY_RESET, NET_KEY_EXTENSION):
        raise HandshakeError(f"expected a key-reset frame, got code 0x{frame.code:02x}")
    try:
        msg = Cypher(license_key).decrypt(frame.payload) if cypher_level > 0 else frame.payload
        r = Reader(msg)
        marker = r.text("hello marker")
        if marker == "hello":
            return r.text("oname"), r.int32("ip")
    except DecodeError as exc:
        raise HandshakeError(f"key-reset message does not parse (wrong license?): {exc}") from None
    raise HandshakeError("key-reset message does not start with 'hello' (wrong license?)")


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """What the collector's key-reset reply grants; secrets are kept out of ``repr``."""

    transfer_key: int
    secure_key: bytes = field(repr=False)
    hide_key: int = field(repr=False)
    public_ip: int = 0

    def cypher(self) -> Cypher:
        """The session cypher (secure key, hide key)."""
        return Cypher(self.secure_key, self.hide_key)


def encode_key_reset_reply(
    keys: SessionKeys,
    *,
    pcode: int,
    oid: int,
    license_key: bytes,
    cypher_level: int = 128,
    src: int = 3,
    code: int = NET_KEY_RESET,
) -> bytes:
    """Collector side: ``i32 TRANSFER_KEY ‖ Blob SECURE_KEY ‖ i32 HIDE_KEY ‖ i32 PUBLIC_IP``."""
    w = Writer().int32(keys.transfer_key).blob(keys.secure_key)
    msg = w.int32(keys.hide_key).int32(keys.public_ip).getvalue()
    if cypher_level > 0:
        msg = Cypher(license_key).encrypt(msg)
    return encode_frame(code, pcode, oid, 0, msg, src)


def parse_key_reset_reply(
    frame: Frame, *, pcode: int, oid: int, license_key: bytes, cypher_level: int = 128
) -> SessionKeys:
    """Agent side: the session keys from the reply; src, code and key slot are ignored."""
    if frame.pcode != pcode or frame.oid != oid:
        raise HandshakeError(
            f"key-reset reply is for pcode {frame.pcode} oid {frame.oid}, expected pcode {pcode} "
            f"oid {oid}: the collector rejected the license or the agent name"
        )
    if len(frame.payload) > MAX_REPLY_PAYLOAD:
        raise HandshakeError(f"key-reset reply payload of {len(frame.payload)} bytes is too long")
    try:
        msg = Cypher(license_key).decrypt(frame.payload) if cypher_level > 0 else frame.payload
        r = Reader(msg)
        transfer_key = r.int32("transfer key")
        secure_key = r.blob("secure key")
        hide_key = r.int32("hide key")
        public_ip = r.int32("public ip")
    except DecodeError as exc:
        raise HandshakeError(f"key-reset reply does not parse: {exc}") from None
    return SessionKeys(transfer_key, secure_key, hide_key, public_ip)


# --- TIME_SYNC ------------------------------------------------------------------------


def encode_time_sync(*, pcode: int, oid: int, transfer_key: int, now_ms: int) -> bytes:
    """Agent -> collector: payload = i64 agent time, never encrypted."""
    return encode_frame(NET_TIME_SYNC, pcode, oid, transfer_key, I64.pack(now_ms))


def decode_time_sync(frame: Frame) -> int:
    """Collector side: the agent time of a TIME_SYNC frame."""
    return Reader(frame.payload).long("agent time")


def encode_time_sync_reply(
    *, pcode: int, oid: int, agent_time: int, server_time: int, key: int = 0, src: int = 3
) -> bytes:
    """Collector -> agent: i64 echoed agent time ‖ i64 server time."""
    return encode_frame(
        NET_TIME_SYNC, pcode, oid, key, I64.pack(agent_time) + I64.pack(server_time), src
    )


def decode_time_sync_reply(frame: Frame) -> tuple[int, int]:
    """Agent side: (echoed agent time, server time)."""
    r = Reader(frame.payload)
    return r.long("echoed agent time"), r.long("server time")


# --- data frames ----------------------------------------------------------------------


def seal_payload(pack: bytes, flag: int, cypher: Cypher | None, cypher_level: int) -> bytes:
    """The payload for a pack: plain at level 0 or without a cypher, else hidden/encrypted."""
    if cypher_level == 0 or cypher is None:
        return pack
    mode = flag & 0x03
    if mode == NET_SECURE_HIDE:
        return cypher.hide(pack)
    if mode == NET_SECURE_CYPHER:
        return cypher.encrypt(zero_pad(pack, cypher_level // 8))
    return pack


def encode_data_frame(
    pack: bytes,
    *,
    pcode: int,
    oid: int,
    transfer_key: int,
    cypher: Cypher | None,
    flag: int = NET_SECURE_HIDE,
    cypher_level: int = 128,
    src: int = SRC_AGENT,
) -> bytes:
    """``src ‖ flag ‖ PCODE ‖ OID ‖ TRANSFER_KEY ‖ len ‖ payload`` (§6.4)."""
    payload = seal_payload(pack, flag, cypher, cypher_level)
    return encode_frame(flag, pcode, oid, transfer_key, payload, src)


def open_data_frame(
    frame: Frame,
    *,
    pcode: int,
    oid: int,
    transfer_key: int,
    cypher: Cypher | None,
    cypher_level: int = 128,
) -> bytes | None:
    """The pack bytes of a received data frame, or None where the Go receiver ignores it.

    Ignored: another pcode/oid, a TIME_SYNC frame, and (at level > 0) a wrong
    transfer key or a code whose low bits are neither HIDE nor CYPHER.
    """
    if frame.pcode != pcode or frame.oid != oid or frame.code == NET_TIME_SYNC:
        return None
    if cypher_level == 0:
        return frame.payload
    if frame.key != transfer_key or cypher is None:
        return None
    mode = frame.code & 0x03
    if mode == NET_SECURE_HIDE:
        return cypher.unhide(frame.payload)
    if mode == NET_SECURE_CYPHER:
        return cypher.decrypt(frame.payload)
    return None
