"""Group ``net`` (PROTOCOL §6): hello, key-reset reply, TIME_SYNC, data and server frames.

Forms (§9), told apart by their fields:

* ``capture``: ``frames_hex_with_time_masked`` (the real sender: TIME_SYNC then data);
* ``hello``: ``cypher_level`` + ``oname`` (+ ``msg_plain_hex``);
* ``time_sync``: ``now_ms``;
* ``key_reset_reply``: a 0xff/0xfd frame from the collector; what the agent
  parsed is given as ``parsed_*`` fields or the session inputs;
* ``server_frame``: ``parsed_code`` (TIME_SYNC reply or a sealed ParamPack);
* ``data_frame``: ``pack_plain_hex`` at any ``cypher_level``, HIDE or CYPHER.
"""

from __future__ import annotations

from typing import Any

import pytest

from openagent.sinks.whatap import frames as fr
from openagent.sinks.whatap.crypto import Cypher
from openagent.sinks.whatap.hashing import ip_to_int32
from openagent.sinks.whatap.license import decode_license
from openagent.sinks.whatap.openmx import OpenMxPack
from openagent.sinks.whatap.packs import ParamPack, decode_pack
from tests.sinks.whatap.golden import Vector, header_of, records_of
from tests.sinks.whatap.vectors.harness import (
    SESSION_HIDE_KEY,
    SESSION_SECURE_KEY,
    TRANSFER_KEY,
    dispatch,
    expected_bytes,
    group_cases,
    int64,
)
from tests.sinks.whatap.vectors.session_keys import expected_keys
from tests.sinks.whatap.vectors.test_pack import assert_zipped_equal

pytestmark = pytest.mark.vectors

FIXED_LICENSE = "x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf"


def session_cypher(inputs: Vector) -> Cypher:
    """The session cypher of a vector: its own key/hide key, else the generator's."""
    if "session_secure_key_hex" in inputs:
        key = bytes.fromhex(inputs["session_secure_key_hex"])
    else:
        key = inputs.get("session_secure_key_ascii", SESSION_SECURE_KEY.decode()).encode()
    return Cypher(key, inputs.get("hide_key", SESSION_HIDE_KEY))


def check_hello(v: Vector) -> None:
    inputs = v["inputs"]
    key = decode_license(inputs["license"]).security_key
    pcode, oid, level = int64(inputs["pcode"]), inputs["oid"], inputs["cypher_level"]
    ip = ip_to_int32(inputs["ip"])
    ours = fr.encode_hello(
        pcode=pcode, oid=oid, oname=inputs["oname"], ip=ip, license_key=key, cypher_level=level
    )
    assert ours.hex() == v["hex"]
    if "msg_plain_hex" in v:
        assert fr.hello_message(inputs["oname"], ip).hex() == v["msg_plain_hex"]
    frame = fr.decode_frame(expected_bytes(v))
    assert (frame.pcode, frame.oid, frame.key) == (pcode, oid, fr.trkey(level))
    assert fr.decode_hello(frame, license_key=key, cypher_level=level) == (inputs["oname"], ip)


def check_key_reset_reply(v: Vector) -> None:
    inputs = v["inputs"]
    go = expected_bytes(v)
    frame = fr.decode_frame(go)
    pcode, oid = int64(inputs["pcode"]), inputs["oid"]
    level = inputs.get("cypher_level", 128)
    license_key = decode_license(inputs.get("license", FIXED_LICENSE)).security_key
    got = fr.parse_key_reset_reply(
        frame, pcode=pcode, oid=oid, license_key=license_key, cypher_level=level
    )
    keys = expected_keys(v)
    assert got == keys and got.secure_key == keys.secure_key and got.hide_key == keys.hide_key
    ours = fr.encode_key_reset_reply(
        keys, pcode=pcode, oid=oid, license_key=license_key, cypher_level=level,
        src=frame.src, code=frame.code,
    )  # fmt: skip
    # Only the int after the oid (ignored by the agent, §6.3) may differ.
    assert (ours[:14], ours[18:]) == (go[:14], go[18:])


def vector_pack(inputs: Vector, plain: bytes) -> bytes:
    """The pack a data-frame vector carries: from its records, else its plain bytes."""
    if "records" in inputs:
        return OpenMxPack(header_of(inputs), records_of(inputs["records"])).to_bytes()
    return decode_pack(plain).to_bytes()


def check_data_frame(v: Vector) -> None:
    inputs = v["inputs"]
    go = expected_bytes(v)
    go_frame = fr.decode_frame(go)
    cypher = session_cypher(inputs)
    level = inputs.get("cypher_level", 128)
    plain = bytes.fromhex(v["pack_plain_hex"])
    common: dict[str, Any] = {
        "pcode": int64(inputs["pcode"]),
        "oid": inputs["oid"],
        "transfer_key": inputs["transfer_key"],
        "cypher": cypher,
        "cypher_level": level,
    }
    pack = vector_pack(inputs, plain)
    ours = fr.encode_data_frame(pack, flag=go_frame.code, **common)
    # The seal step alone is byte-exact even where the pack holds Go's gzip bytes.
    assert fr.seal_payload(plain, go_frame.code, cypher, level) == go_frame.payload
    for key in ("payload_hidden_hex", "payload_encrypted_hex", "payload_plain_hex"):
        if key in v:
            assert go_frame.payload.hex() == v[key]
    for data in (go, ours):
        opened = fr.open_data_frame(fr.decode_frame(data), **common)
        assert opened is not None
        assert decode_pack(opened) == decode_pack(pack)
        if data is go and "payload_decrypted_hex" in v:
            assert opened.hex() == v["payload_decrypted_hex"]
    if "inner_hex" in v:
        assert_zipped_equal(pack, plain, v["inner_hex"])
        assert ours[: fr.HEADER_SIZE - 4] == go[: fr.HEADER_SIZE - 4]
    else:
        assert ours.hex() == v["hex"]


def check_capture(v: Vector) -> None:
    before, after = v["frames_hex_with_time_masked"].split("<8-byte now>")
    now = 1756912212345
    expected = bytes.fromhex(before + now.to_bytes(8, "big").hex() + after)
    assert len(expected) == v["length"]
    sync, data = fr.decode_frames(expected)
    cypher = Cypher(SESSION_SECURE_KEY, SESSION_HIDE_KEY)
    common = {"pcode": data.pcode, "oid": data.oid, "transfer_key": TRANSFER_KEY}
    plain = fr.open_data_frame(data, cypher=cypher, **common)
    assert plain is not None
    ours = fr.encode_time_sync(now_ms=now, **common) + fr.encode_data_frame(
        decode_pack(plain).to_bytes(), cypher=cypher, **common
    )
    assert ours == expected
    assert fr.decode_time_sync(sync) == now


def check_time_sync_reply(v: Vector, frame: fr.Frame) -> None:
    inputs = v["inputs"]
    prev, server = int64(inputs["prev_agent_time"]), int64(inputs["server_time"])
    if "parsed_data_hex" in v:
        assert frame.payload.hex() == v["parsed_data_hex"]
    assert fr.decode_time_sync_reply(frame) == (prev, server)
    ours = fr.encode_time_sync_reply(
        pcode=int64(inputs["pcode"]), oid=inputs["oid"], agent_time=prev, server_time=server,
        key=frame.key, src=frame.src,
    )  # fmt: skip
    assert ours.hex() == v["hex"]


def check_server_pack(v: Vector, frame: fr.Frame) -> None:
    inputs = v["inputs"]
    cypher = session_cypher(inputs)
    level = inputs.get("cypher_level", 128)
    common = {"pcode": int64(inputs["pcode"]), "oid": inputs["oid"]}
    common["transfer_key"] = inputs["transfer_key"]
    plain = fr.open_data_frame(frame, cypher=cypher, cypher_level=level, **common)
    assert plain is not None
    if "decoded_pack_hex" in v:
        assert plain.hex() == v["decoded_pack_hex"]
    pack = decode_pack(plain)
    assert isinstance(pack, ParamPack)
    assert pack.id == v.get("parsed_param_id", pack.id) == inputs.get("param_id", pack.id)
    assert pack.request == int64(v.get("parsed_request", pack.request))
    assert pack.request == int64(inputs.get("request", pack.request))
    ours = fr.encode_data_frame(
        pack.to_bytes(), cypher=cypher, flag=frame.code, src=frame.src, cypher_level=level,
        **common,
    )  # fmt: skip
    assert ours.hex() == v["hex"]


def check_server_frame(v: Vector) -> None:
    frame = fr.decode_frame(expected_bytes(v))
    assert frame.code == v["parsed_code"]
    assert frame.key == v.get("parsed_transfer_key", frame.key)
    if frame.code == fr.NET_TIME_SYNC:
        check_time_sync_reply(v, frame)
    else:
        check_server_pack(v, frame)


def check_time_sync(v: Vector) -> None:
    inputs = v["inputs"]
    now = int64(inputs["now_ms"])
    ours = fr.encode_time_sync(
        pcode=int64(inputs["pcode"]), oid=inputs["oid"], transfer_key=inputs["transfer_key"],
        now_ms=now,
    )  # fmt: skip
    assert ours.hex() == v["hex"]
    assert fr.decode_time_sync(fr.decode_frame(ours)) == now


FORMS = {
    "capture": check_capture,
    "hello": check_hello,
    "time_sync": check_time_sync,
    "key_reset_reply": check_key_reset_reply,
    "server_frame": check_server_frame,
    "data_frame": check_data_frame,
}
KEY_RESET_CODES = (fr.NET_KEY_RESET, fr.NET_KEY_EXTENSION)


def key_reset_src(v: Vector) -> int | None:
    """The src byte of a key-reset frame (1: the agent's hello; else the collector's reply)."""
    if not v.get("hex"):
        return None
    frame = fr.decode_frames(bytes.fromhex(v["hex"]))
    if len(frame) != 1 or frame[0].code not in KEY_RESET_CODES:
        return None
    return frame[0].src


def form_of(v: Vector) -> str | None:
    inputs = v["inputs"]
    if "frames_hex_with_time_masked" in v:
        return "capture"
    key_reset = key_reset_src(v)
    if key_reset is not None:
        return "hello" if key_reset == fr.SRC_AGENT else "key_reset_reply"
    if "now_ms" in inputs:
        return "time_sync"
    if "parsed_code" in v:
        return "server_frame"
    if "pack_plain_hex" in v:
        return "data_frame"
    return None


@pytest.mark.parametrize("vector", group_cases("net"))
def test_frame_matches_go_and_reads_back(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
