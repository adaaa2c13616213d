"""Write ``vectors_forms.json``: hand-made vectors for every input form of PROTOCOL §9.

Run ``python tests/data/whatap/make_vectors_forms.py`` from the repository root.

Each case is written out here by hand; its expected bytes come from
``forms_wire`` (helpers written from PROTOCOL.md alone, checked against the
Go-made public file), never from ``openagent``. The cases are ones the public
file lacks: other decimal boundaries, nested value maps, other identities,
another license and cypher key, packs of every type, every cypher level.
Vectors whose expected result needs Whatap's Go code itself (the converter
and processor output, the real sender capture) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import forms_net
import forms_packs
import forms_wire as w
from forms_packs import OTHER_KEY, OTHER_LICENSE

HERE = Path(__file__).parent
Vector = dict[str, Any]
GEN = "byte[i] = i % 251"


def vec(group: str, name: str, inputs: Vector, data: bytes | None = None, **extra: Any) -> Vector:
    v: Vector = {"group": group, "name": name, "inputs": inputs, **extra}
    if data is not None:
        v["hex"], v["length"] = data.hex(), len(data)
    return v


def dataoutputx() -> list[Vector]:
    def m(name: str, method: str, data: bytes, **inputs: Any) -> Vector:
        return vec("dataoutputx", name, {"method": method, **inputs}, data)

    return [
        m("WriteByte_200", "WriteByte", b"\xc8", value=200),
        m("WriteBool_true", "WriteBool", b"\x01", value=True),
        m("WriteShort_-2", "WriteShort", w.i16(-2), value=-2),
        m("WriteInt3_65536", "WriteInt3", bytes.fromhex("010000"), value=65536),
        m("WriteInt_min", "WriteInt", w.i32(-(2**31)), value=-(2**31)),
        m("WriteLong5_min", "WriteLong5", bytes.fromhex("8000000000"), value=str(-(2**39))),
        m("WriteLong_max", "WriteLong", w.i64(2**63 - 1), value=str(2**63 - 1)),
        *[
            m(f"WriteDecimal_{n}", "WriteDecimal", w.dec(n), value=str(n))
            for n in (0, 127, 32767, 32768, -32769, 2**31, -(2**39), -(2**63))
        ],
        m("WriteDouble_1.5", "WriteDouble", w.f64("3ff8000000000000"), bits="3ff8000000000000"),
        m("WriteDouble_+Inf", "WriteDouble", w.f64("7ff0000000000000"), bits="7ff0000000000000"),
        m("WriteFloat_max", "WriteFloat", bytes.fromhex("7f7fffff"), bits="7f7fffff"),
        m("WriteText_nul", "WriteText", bytes.fromhex("03610062"), value="a\x00b"),
        m("WriteBlob_len2", "WriteBlob", w.blob(w.gen(2)), value_len=2, value_gen=GEN),
        m("WriteBlob_len254", "WriteBlob", w.blob(w.gen(254)), value_len=254, value_gen=GEN),
        m("WriteBlob_nil", "WriteBlob", b"\x00", value=None),
        m("WriteShortBytes_len3", "WriteShortBytes", w.i16(3) + w.gen(3), value_len=3),
        m("WriteIntBytes_len5", "WriteIntBytes", w.i32(5) + w.gen(5), value_len=5),
        m(
            "WriteTextShortLength_korean",
            "WriteTextShortLength",
            w.i16(3) + "한".encode(),
            value="한",
        ),
        m("WriteShortArray_2", "WriteShortArray", w.i16(2) + w.i16(1) + w.i16(-1), value=[1, -1]),
        m("WriteIntArray_nil", "WriteIntArray", w.i16(0), value=None),
        m("WriteIntArray_1", "WriteIntArray", w.i16(1) + w.i32(7), value=[7]),
        m(
            "WriteLongArray_2",
            "WriteLongArray",
            w.longs(["1756912212000", "-1"]),
            value=["1756912212000", "-1"],
        ),
        m(
            "WriteFloatArray_2",
            "WriteFloatArray",
            bytes.fromhex("0002bf8000003e800000"),
            value=[-1, 0.25],
        ),
        m(
            "WriteDoubleArray_bits",
            "WriteDoubleArray",
            bytes.fromhex("00023ff0000000000000fff0000000000000"),
            bits=["3ff0000000000000", "fff0000000000000"],
        ),
        m("WriteTextArray_empty", "WriteTextArray", w.i16(0), value=[]),
        vec(
            "dataoutputx",
            "sequence_decimal_text_bool",
            {"sequence": 'WriteDecimal(300) WriteText("x") WriteBool(true)'},
            w.dec(300) + w.text("x") + b"\x01",
        ),
    ]


def values() -> list[Vector]:
    def v(name: str, data: bytes, **inputs: Any) -> Vector:
        return vec("value", name, inputs, data)

    nested = w.map_value(
        [
            ("n", b"\x14" + w.dec(5)),
            ("s", w.text_value("x")),
            ("m", w.map_value([("k", b"\x14" + w.dec(1756912212000)), ("t", w.text_value("y"))])),
            ("e", w.map_value([])),
        ]
    )
    entries = [
        ["n", 5],
        ["s", "x"],
        ["m", [["k", {"type": "DecimalValue", "value": "1756912212000"}], ["t", "y"]]],
        ["e", []],
    ]
    return [
        v("TextValue_empty", b"\x32\x00", type="TextValue", value=""),
        v("DecimalValue_-129", b"\x14" + w.dec(-129), type="DecimalValue", value="-129"),
        v("NullValue", b"\x00", type="NullValue"),
        v("BoolValue_false", b"\x0a\x00", type="BoolValue", value=False),
        v("DoubleValue_-2.5", b"\x28" + w.f64("c004000000000000"), type="DoubleValue", value=-2.5),
        v("FloatValue_1", b"\x1e" + bytes.fromhex("3f800000"), type="FloatValue", value=1),
        v("MapValue_nested_decimal_text_map", nested, type="MapValue", entries_in_order=entries),
        v("MapValue_empty", b"\x50\x00", type="MapValue", entries_in_order=[]),
    ]


def hashes() -> list[Vector]:
    out = []
    for s in ("abc", "openagent", "GPU 🚀"):
        h = w.hash_str(s)
        out.append(vec("hash", f"HashStr_{s}", {"value": s}, w.i32(h),
                       int32=h, uint32=h & 0xFFFFFFFF))  # fmt: skip
        h64 = w.hash64(s.encode())
        out.append(vec("hash", f"Hash64_{s}", {"value": s}, w.i64(h64), int64=str(h64)))
    for n in (10, 1023, -32, 2**63 - 1):
        text = w.hexa32(n)
        out.append(vec("hexa32", f"ToString32_{n}", {"value": str(n)},
                       text=text, roundtrip=str(n)))  # fmt: skip
    for text, n in (("x10vt", 33789), ("", 0), ("12", 12), ("X1", 0), ("-7", -7)):
        out.append(vec("hexa32", f"ToLong32_{text}", {"text": text}, value=str(n)))
    return out


def licenses() -> list[Vector]:
    raw = w.dec(42) + w.blob(OTHER_KEY) + b"\x00"
    # A token whose Decimal length byte is 8 but only 7 bytes follow: the Go parser panics.
    short = w.hexa32(int.from_bytes(b"\x08" + bytes(7), "big"))
    return [
        vec(
            "license",
            "Parse_other_license",
            {"license": OTHER_LICENSE},
            raw,
            pcode="42",
            secure_key_hex=OTHER_KEY.hex(),
        ),
        vec("license", "Parse_degenerate_empty", {"license": ""}, pcode="0", secure_key_hex=""),
        vec("license", "Parse_degenerate_short_decimal", {"license": short}, panics=True),
    ]


def cyphers() -> list[Vector]:
    key = b"OtherKey-0123456"
    plain = bytes(range(20))
    return [
        vec(
            "cypher",
            "AES128ECB_Encrypt_otherkey_len20",
            {"key_hex": key.hex(), "plain_hex": plain.hex()},
            w.aes(key, plain),
            decrypt_hex=(plain + bytes(12)).hex(),
        ),
        vec(
            "cypher",
            "Hide_xor_ffffffff_len5",
            {"hide_key_int32": -1, "plain_hex": "0102030405"},
            w.hide(-1, bytes.fromhex("0102030405")),
        ),
    ]


def main() -> None:
    w.check_helpers()
    vectors = [
        *dataoutputx(),
        *values(),
        *hashes(),
        *licenses(),
        *cyphers(),
        *forms_packs.identities(),
        *forms_packs.records(),
        *forms_packs.packs(),
        *forms_net.nets(),
        *forms_net.converts(),
    ]
    doc = {
        "generator": "by hand from PROTOCOL.md §9 forms (tests/data/whatap/make_vectors_forms.py)",
        "conventions": "as vectors.json",
        "spec": "shared/whatap/PROTOCOL.md (section 9)",
        "vectors": vectors,
    }
    out = HERE / "vectors_forms.json"
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
