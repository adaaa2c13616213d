"""Frames: layout, handshake both ways, data frame sealing rules, the stream reader."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.codec import DecodeError
from openagent.sinks.whatap.crypto import Cypher
from openagent.sinks.whatap.hashing import ip_to_int32
from tests.sinks.whatap.conftest import ConnectTo

LICENSE_KEY = b"WhaTapFakeKey!01"
PCODE, OID = 33789, 1617387566
KEYS = fr.SessionKeys(123456789, b"SessionKey-16by!", 0x5A17C3E1, ip_to_int32("203.0.113.7"))
PACK = bytes.fromhex("1603030083fd6067602e000001991020d8200003000000")


@pytest.mark.parametrize(("level", "key"), [(0, 0), (128, 0), (256, 0x01200000), (192, 0x01180000)])
def test_trkey(level: int, key: int) -> None:
    assert fr.trkey(level) == key


@pytest.mark.parametrize("level", [-8, 100, 4096])
def test_unsupported_cypher_levels_are_rejected(level: int) -> None:
    with pytest.raises(ValueError, match="unsupported cypher level"):
        fr.trkey(level)


@pytest.mark.parametrize("level", [0, 128, 256])
def test_hello_round_trip(level: int) -> None:
    data = fr.encode_hello(
        pcode=PCODE, oid=OID, oname="n1", ip=-5, license_key=LICENSE_KEY, cypher_level=level
    )
    frame = fr.decode_frame(data)
    assert frame.code == (fr.NET_KEY_RESET if level == 128 else fr.NET_KEY_EXTENSION)
    assert fr.decode_hello(frame, license_key=LICENSE_KEY, cypher_level=level) == ("n1", -5)


def test_hello_with_another_license_is_a_handshake_error() -> None:
    frame = fr.decode_frame(
        fr.encode_hello(pcode=PCODE, oid=OID, oname="n1", ip=1, license_key=LICENSE_KEY)
    )
    with pytest.raises(fr.HandshakeError, match="wrong license"):
        fr.decode_hello(frame, license_key=b"other")


@pytest.mark.parametrize("level", [0, 128])
def test_key_reset_reply_round_trip(level: int) -> None:
    data = fr.encode_key_reset_reply(
        KEYS, pcode=PCODE, oid=OID, license_key=LICENSE_KEY, cypher_level=level
    )
    frame = fr.decode_frame(data)
    assert (frame.src, frame.code) == (3, fr.NET_KEY_RESET)
    got = fr.parse_key_reset_reply(
        frame, pcode=PCODE, oid=OID, license_key=LICENSE_KEY, cypher_level=level
    )
    assert got == KEYS
    assert "16by" not in repr(got) and "hide" not in repr(got)
    assert got.cypher().hide(b"\x00" * 4) == bytes.fromhex("5a17c3e1")


def test_reply_for_another_agent_means_rejected() -> None:
    frame = fr.decode_frame(
        fr.encode_key_reset_reply(KEYS, pcode=PCODE, oid=1, license_key=LICENSE_KEY)
    )
    with pytest.raises(fr.HandshakeError, match="rejected the license"):
        fr.parse_key_reset_reply(frame, pcode=PCODE, oid=OID, license_key=LICENSE_KEY)


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"", "does not parse"), (bytes(17), "not a multiple of 16"), (bytes(1040), "too long")],
)
def test_bad_reply_payloads(payload: bytes, message: str) -> None:
    frame = fr.Frame(fr.NET_KEY_RESET, PCODE, OID, 0, payload, 3)
    with pytest.raises(fr.HandshakeError, match=message):
        fr.parse_key_reset_reply(frame, pcode=PCODE, oid=OID, license_key=LICENSE_KEY)


def test_time_sync_both_ways() -> None:
    sync = fr.decode_frame(
        fr.encode_time_sync(pcode=PCODE, oid=OID, transfer_key=7, now_ms=1756912212000)
    )
    assert (sync.code, sync.key) == (fr.NET_TIME_SYNC, 7)
    assert fr.decode_time_sync(sync) == 1756912212000
    reply = fr.decode_frame(
        fr.encode_time_sync_reply(pcode=PCODE, oid=OID, agent_time=1, server_time=2)
    )
    assert fr.decode_time_sync_reply(reply) == (1, 2)
    with pytest.raises(DecodeError):
        fr.decode_time_sync_reply(sync)


def open_frame(data: bytes, **kw: object) -> bytes | None:
    args: dict[str, object] = {
        "pcode": PCODE,
        "oid": OID,
        "transfer_key": KEYS.transfer_key,
        "cypher": KEYS.cypher(),
        "cypher_level": 128,
    }
    args.update(kw)
    return fr.open_data_frame(fr.decode_frame(data), **args)  # type: ignore[arg-type]


def seal(flag: int, level: int = 128, cypher: Cypher | None = None) -> bytes:
    return fr.encode_data_frame(
        PACK,
        pcode=PCODE,
        oid=OID,
        transfer_key=KEYS.transfer_key,
        cypher=cypher or KEYS.cypher(),
        flag=flag,
        cypher_level=level,
    )


def test_hide_and_cypher_frames_open_again() -> None:
    assert open_frame(seal(fr.NET_SECURE_HIDE)) == PACK
    opened = open_frame(seal(fr.NET_SECURE_CYPHER))
    assert opened is not None and opened.startswith(PACK) and len(opened) == 32


def test_cypher_level_256_pads_to_32_bytes_before_aes() -> None:
    frame = fr.decode_frame(seal(fr.NET_SECURE_CYPHER, level=256))
    assert len(frame.payload) == 32
    assert KEYS.cypher().decrypt(frame.payload) == PACK + bytes(32 - len(PACK))


def test_level_zero_and_plain_flags_send_the_pack_as_is() -> None:
    assert fr.decode_frame(seal(fr.NET_SECURE_HIDE, level=0)).payload == PACK
    assert fr.decode_frame(seal(0x04)).payload == PACK
    no_cypher = fr.encode_data_frame(PACK, pcode=PCODE, oid=OID, transfer_key=1, cypher=None)
    assert fr.decode_frame(no_cypher).payload == PACK


def test_receiver_ignores_what_the_go_receiver_ignores() -> None:
    hidden = seal(fr.NET_SECURE_HIDE)
    assert open_frame(hidden, pcode=PCODE + 1) is None
    assert open_frame(hidden, oid=OID + 1) is None
    assert open_frame(hidden, transfer_key=1) is None
    assert open_frame(seal(0x04)) is None
    sync = fr.encode_time_sync(pcode=PCODE, oid=OID, transfer_key=KEYS.transfer_key, now_ms=1)
    assert open_frame(sync) is None
    assert open_frame(seal(fr.NET_SECURE_HIDE, level=0), cypher_level=0) == PACK


def test_decode_frames_errors() -> None:
    data = seal(fr.NET_SECURE_HIDE)
    assert len(fr.decode_frames(data * 3)) == 3
    with pytest.raises(DecodeError, match="exactly one frame, found 2"):
        fr.decode_frame(data * 2)
    for cut in range(1, len(data)):
        with pytest.raises(DecodeError, match="truncated"):
            fr.decode_frames(data[:cut])
    negative = fr.HEADER.pack(1, 1, PCODE, OID, 0, -1)
    with pytest.raises(DecodeError, match="negative payload length -1"):
        fr.decode_frames(negative)
    with pytest.raises(DecodeError, match="exceeds the limit 10"):
        fr.decode_frames(data, max_payload=10)


async def test_read_frame_over_tcp(stream_of: ConnectTo) -> None:
    frames = [
        seal(fr.NET_SECURE_HIDE),
        fr.encode_time_sync(pcode=1, oid=2, transfer_key=3, now_ms=4),
    ]
    reader = await stream_of(b"".join(frames))
    assert (await fr.read_frame(reader)).to_bytes() == frames[0]
    second = await fr.read_frame(reader)
    assert (second.code, second.pcode, second.oid, second.key) == (fr.NET_TIME_SYNC, 1, 2, 3)
    with pytest.raises(EOFError):
        await fr.read_frame(reader)


async def test_read_frame_of_an_empty_payload(stream_of: ConnectTo) -> None:
    reader = await stream_of(fr.encode_frame(fr.NET_SECURE_HIDE, 1, 2, 3, b""))
    assert (await fr.read_frame(reader)).payload == b""


@pytest.mark.parametrize(("cut", "where"), [(5, "header \\(5 of 22"), (30, "payload \\(8 of")])
async def test_read_frame_reports_a_cut_connection(
    stream_of: ConnectTo, cut: int, where: str
) -> None:
    reader = await stream_of(seal(fr.NET_SECURE_HIDE)[:cut])
    with pytest.raises(DecodeError, match=f"connection closed inside a frame {where}"):
        await fr.read_frame(reader)


async def test_read_frame_refuses_oversize_payloads(stream_of: ConnectTo) -> None:
    reader = await stream_of(seal(fr.NET_SECURE_HIDE))
    with pytest.raises(DecodeError, match="exceeds the limit 16"):
        await fr.read_frame(reader, max_payload=16)


@given(
    pack=st.binary(min_size=2, max_size=200),
    flag=st.sampled_from([fr.NET_SECURE_HIDE, fr.NET_SECURE_CYPHER, 0x00, 0x04, 0x05]),
    level=st.sampled_from([0, 128, 256]),
    hide_key=st.integers(-(2**31), 2**31 - 1),
)
def test_data_frames_open_to_the_pack_at_every_cypher_level_and_flag(
    pack: bytes, flag: int, level: int, hide_key: int
) -> None:
    cypher = Cypher(b"SessionKey-16by!", hide_key)
    common: dict[str, Any] = {"pcode": PCODE, "oid": OID, "transfer_key": 7, "cypher": cypher}
    frame = fr.decode_frame(fr.encode_data_frame(pack, flag=flag, cypher_level=level, **common))
    assert (frame.code, frame.key) == (flag, 7)
    opened = fr.open_data_frame(frame, cypher_level=level, **common)
    mode = flag & 0x03  # only the low two bits select the sealing (§6.2)
    if level and mode == fr.NET_SECURE_CYPHER:
        # zero padding to level/8 bytes stays; pack readers ignore it (§3.9)
        assert opened == pack + bytes(-len(pack) % (level // 8))
    elif level and mode != fr.NET_SECURE_HIDE:
        # sent plain, but the Go receiver drops such frames at level > 0 (§6.5)
        assert (frame.payload, opened) == (pack, None)
    else:
        assert opened == pack
