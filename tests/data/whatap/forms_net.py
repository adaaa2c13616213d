"""Hand-made vectors of the groups net and convert (number formatting only), for
``make_vectors_forms.py``; bytes from ``forms_wire`` only."""

from __future__ import annotations

from typing import Any

import forms_wire as w
from forms_packs import HEAD, OID, OTHER_KEY, OTHER_LICENSE, PCODE, REC, vec

Vector = dict[str, Any]
SESSION_KEY, HIDE_KEY, TRANSFER_KEY = b"SessionKey-16by!", 0x5A17C3E1, 123456789
OTHER_OID = w.hash_str("gpu-box-a")
SMALL_PACK = w.i16(0x1603) + w.header(HEAD) + w.records_body([w.openmx(REC)])[0]


def hellos() -> list[Vector]:
    msg = w.text("hello") + w.text("gpu-box-a") + w.i32(w.ip32("192.168.7.9"))
    out = []
    for level, code, trkey, payload in (
        (0, 0xFD, 0, msg),  # §6.3: code 0xff only at level 128
        (128, 0xFF, 0, w.aes(OTHER_KEY, msg)),
        (256, 0xFD, 0x01200000, w.aes(OTHER_KEY, msg)),
    ):
        inputs = {"cypher_level": level, "ip": "192.168.7.9", "license": OTHER_LICENSE,
                  "oid": OTHER_OID, "oname": "gpu-box-a", "pcode": "42"}  # fmt: skip
        data = w.frame(code, 42, OTHER_OID, trkey, payload)
        out.append(vec("net", f"keyReset_hello_other_license_{level}", inputs, data,
                       msg_plain_hex=msg.hex()))  # fmt: skip
    return out


def key_reset_replies() -> list[Vector]:
    secure, hide, tk, public = b"Other-Session-K!", -7, 99, "198.51.100.4"
    msg = w.i32(tk) + w.blob(secure) + w.i32(hide) + w.i32(w.ip32(public))
    out = []
    for level, payload in ((128, w.aes(OTHER_KEY, msg)), (0, msg)):
        inputs = {"pcode": "42", "oid": OTHER_OID, "license": OTHER_LICENSE,
                  "cypher_level": level, "public_ip": public}  # fmt: skip
        out.append(vec("net", f"server_keyReset_reply_level{level}", inputs,
                       w.frame(0xFF, 42, OTHER_OID, 0, payload, src=3),
                       parsed_transfer_key=tk, parsed_secure_key_hex=secure.hex(),
                       parsed_hide_key=hide, parsed_public_ip=w.ip32(public)))  # fmt: skip
    return out


def server_frames() -> list[Vector]:
    sync = w.i64(1000) + w.i64(2000)
    get = w.i16(0x0100) + w.header(HEAD) + w.i32(4) + w.dec(31) + w.dec(0) + w.dec(0)
    put = w.i16(0x0100) + w.header(HEAD) + w.i32(14) + w.dec(77) + w.dec(0) + w.dec(1)
    put += w.text("cypher_level") + w.text_value("0")
    put_padded = put + bytes(-len(put) % 16)
    base = {"pcode": str(PCODE), "oid": OID, "transfer_key": TRANSFER_KEY}
    return [
        vec("net", "server_frame_TIME_SYNC_reply_other_times",
            {"pcode": str(PCODE), "oid": OID, "prev_agent_time": "1000", "server_time": "2000"},
            w.frame(0xFE, PCODE, OID, 0, sync, src=3), parsed_code=254,
            parsed_data_hex=sync.hex(), parsed_transfer_key=0),
        vec("net", "server_frame_HIDE_ParamPack_CONFIGURE_GET",
            {**base, "hide_key": HIDE_KEY, "param_id": 4, "request": "31"},
            w.frame(0x01, PCODE, OID, TRANSFER_KEY, w.hide(HIDE_KEY, get), src=3),
            parsed_code=1, parsed_param_id=4, parsed_request="31",
            parsed_transfer_key=TRANSFER_KEY, decoded_pack_hex=get.hex()),
        vec("net", "server_frame_CYPHER_ParamPack_SET_CONFIG",
            {**base, "session_secure_key_ascii": SESSION_KEY.decode(), "param_id": 14,
             "request": "77"},
            w.frame(0x02, PCODE, OID, TRANSFER_KEY, w.aes(SESSION_KEY, put), src=3),
            parsed_code=2, parsed_param_id=14, parsed_request="77",
            parsed_transfer_key=TRANSFER_KEY, decoded_pack_hex=put_padded.hex()),
    ]  # fmt: skip


def data_frames() -> list[Vector]:
    base = {"pcode": str(PCODE), "oid": OID, "transfer_key": TRANSFER_KEY}
    other_key = b"Other-Session-K!"
    padded32 = SMALL_PACK + bytes(-len(SMALL_PACK) % 32)
    return [
        vec("net", "frame_cypher0_plain_OpenMxPack", {**base, "cypher_level": 0},
            w.frame(0x01, PCODE, OID, TRANSFER_KEY, SMALL_PACK),
            pack_plain_hex=SMALL_PACK.hex(), payload_plain_hex=SMALL_PACK.hex()),
        vec("net", "frame_HIDE_other_hide_key", {**base, "hide_key": 0x01020304},
            w.frame(0x01, PCODE, OID, TRANSFER_KEY, w.hide(0x01020304, SMALL_PACK)),
            pack_plain_hex=SMALL_PACK.hex(),
            payload_hidden_hex=w.hide(0x01020304, SMALL_PACK).hex()),
        vec("net", "frame_CYPHER_level256_other_key",
            {**base, "cypher_level": 256, "session_secure_key_ascii": other_key.decode()},
            w.frame(0x02, PCODE, OID, TRANSFER_KEY, w.aes(other_key, padded32)),
            pack_plain_hex=SMALL_PACK.hex(), payload_decrypted_hex=padded32.hex()),
        vec("net", "frame_TIME_SYNC_zero_other_key",
            {"pcode": str(PCODE), "oid": OID, "transfer_key": -5, "now_ms": "0"},
            w.frame(0xFE, PCODE, OID, -5, w.i64(0))),
    ]  # fmt: skip


def nets() -> list[Vector]:
    return [*hellos(), *key_reset_replies(), *server_frames(), *data_frames()]


#: Go's FormatFloat(x, 'g', -1, 64), worked out by hand from the §7.3 rule.
FORMATTED = {
    "4004000000000000": "2.5",
    "416312d000000000": "1e+07",
    "40fe240000000000": "123456",
    "4132d68700000000": "1.234567e+06",
    "3f50624dd2f1a9fc": "0.001",
    "3e7ad7f29abcaf48": "1e-07",
    "fff0000000000000": "-Inf",
    "0000000000000000": "0",
}


def converts() -> list[Vector]:
    return [
        vec("convert", f"formatLE_{text}", {"value_bits": bits}, text=text)
        for bits, text in FORMATTED.items()
    ]
