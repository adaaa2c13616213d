"""Pack header, the non-metric packs, `decode_pack` dispatch and decoder robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagent.sinks.whatap.codec import DecodeError, EncodeError, Reader, text_bytes
from openagent.sinks.whatap.hashing import hash64, ip_to_int32
from openagent.sinks.whatap.header import PackHeader, read_header
from openagent.sinks.whatap.openmx import (
    OpenMx,
    OpenMxEndpointPack,
    OpenMxHelp,
    OpenMxHelpPack,
    OpenMxHistogram,
    OpenMxHistogramPack,
    OpenMxPack,
)
from openagent.sinks.whatap.packs import (
    AGENT_BOOT_ENV,
    DIV_ONAME,
    EVENT_FATAL,
    GET_ENV,
    EventPack,
    Pack,
    ParamPack,
    TagCountPack,
    TextPack,
    TextRecord,
    decode_pack,
    event_attributes,
    overflow_event,
    pack_type,
)
from openagent.sinks.whatap.values import DecimalValue, TextValue, to_value
from tests.sinks.whatap.golden import load_vectors

HEADER = PackHeader(pcode=33789, oid=1617387566, time=1756912212000, okind=-1108554816, onode=9)
LEGACY = PackHeader(pcode=7, oid=-5, time=0)


def test_header_forms() -> None:
    assert LEGACY.to_bytes().hex() == "0107fffffffb0000000000000000"
    assert HEADER.to_bytes()[0] == 9
    only_onode = PackHeader(pcode=0, oid=0, time=0, onode=1)
    assert only_onode.to_bytes()[0] == 9
    for h in (LEGACY, HEADER, only_onode):
        assert read_header(Reader(h.to_bytes())) == h


def test_unknown_header_version_is_rejected() -> None:
    with pytest.raises(DecodeError, match="unknown pack header version 10"):
        read_header(Reader(b"\x0a" + bytes(20)))


def test_tag_count_pack_hashes_the_encoded_tags() -> None:
    tags = {
        "otype": DecimalValue(22),
        "subType": DecimalValue(1),
        "hostIp": DecimalValue(ip_to_int32("10.21.11.76")),
        "startTime": DecimalValue(1756912200000),
        "cpuCores": DecimalValue(2),
    }
    pack = TagCountPack(HEADER, "common_agent_info", tags)
    data = pack.to_bytes()
    tag_bytes = pack.tag_bytes()
    assert tag_bytes[0] == 0x50
    assert pack.tag_hash == hash64(tag_bytes) != 0
    assert tag_bytes + b"\x50\x00" == data[-len(tag_bytes) - 2 :]
    assert decode_pack(data) == pack
    empty = TagCountPack(HEADER, "integrations_counter")
    assert empty.to_bytes().endswith(b"\x00" + b"\x50\x00" + b"\x50\x00")
    assert empty.tag_hash == 0


def test_tag_count_pack_with_a_wrong_hash_is_rejected() -> None:
    data = bytearray(TagCountPack(HEADER, "c", {"a": DecimalValue(1)}).to_bytes())
    hash_at = 2 + len(HEADER.to_bytes()) + 1 + 2
    assert data[hash_at] == 8
    data[hash_at + 8] ^= 1
    with pytest.raises(DecodeError, match=r"tag hash .* does not match"):
        decode_pack(bytes(data))


def test_param_pack_response_swaps_request() -> None:
    req = ParamPack(HEADER, GET_ENV, request=987654321)
    resp = req.to_response({"PATH": TextValue("/bin")})
    assert (resp.request, resp.response) == (0, 987654321)
    assert resp.entries == {"PATH": TextValue("/bin")}
    assert decode_pack(resp.to_bytes()) == resp
    boot = ParamPack(HEADER, AGENT_BOOT_ENV, entries={"whatap.pid": to_value("1")})
    assert boot.to_response() == boot


def test_event_attributes_follow_golib_order() -> None:
    attrs = event_attributes(uuid="u", escalation=True, status=2, otype=3, extra={"x": "y"})
    assert list(attrs.items()) == [
        ("x", "y"),
        ("_uuid_", "u"),
        ("_esca_", "true"),
        ("_status_", "2"),
        ("_otype_", "3"),
    ]
    event = overflow_event(HEADER, "OpenMxPack", 6_000_000)
    assert (event.level, event.title) == (EVENT_FATAL, "NEW_OVERFLOW")
    assert event.message == "Too big data: OpenMxPack (6000000 bytes)"
    assert decode_pack(event.to_bytes()) == event


def test_event_with_too_many_attributes_raises() -> None:
    attrs = {str(i): "v" for i in range(256)}
    with pytest.raises(EncodeError, match="256 attributes"):
        EventPack(HEADER, 0, "t", "m", attrs).to_bytes()


def test_unknown_pack_type_is_named() -> None:
    with pytest.raises(DecodeError, match="unknown pack type 0x6003"):
        decode_pack(b"\x60\x03" + LEGACY.to_bytes())
    with pytest.raises(DecodeError, match="no type code"):
        pack_type(b"\x16")


def sample_packs() -> list[Pack]:
    """One of each pack type, with content in every field."""
    recs = [
        OpenMx("DCGM_FI_DEV_GPU_UTIL", (("gpu", str(i)),), 1756912212000, 87.5) for i in range(3)
    ]
    hist = OpenMxHistogram("h", (("a", "b"),), 1, 0, 0.0, 1, 2, 3.0, (), (1,), (), ())
    return [
        OpenMxPack(HEADER, recs, "http://x:1/m"),
        OpenMxPack(LEGACY, recs * 5),  # zipped
        OpenMxHelpPack(HEADER, [OpenMxHelp("m", {"help": "h", "type": "gauge"})]),
        OpenMxHistogramPack(HEADER, [hist]),
        OpenMxEndpointPack(HEADER, ["http://x:1/m"]),
        TextPack(HEADER, [TextRecord(DIV_ONAME, 1617387566, "dcgm-openagent-node1")]),
        ParamPack(HEADER, GET_ENV, 5, 0, {"k": to_value({"n": 1, "s": "x"})}),
        TagCountPack(HEADER, "c", {"t": DecimalValue(1)}, {"d": TextValue("v")}),
        EventPack(HEADER, EVENT_FATAL, "T", "M", event_attributes()),
    ]


def vector_packs() -> list[bytes]:
    out = []
    for v in load_vectors():
        if v["group"] == "pack":
            out.append(bytes.fromhex(v.get("hex") or v["hex_variants"][0]))
        elif v["group"] == "net" and "pack_plain_hex" in v:
            out.append(bytes.fromhex(v["pack_plain_hex"]))
    return out


def all_pack_bytes() -> list[bytes]:
    return [p.to_bytes() for p in sample_packs()] + vector_packs()


def valid_prefix_lengths(data: bytes) -> set[int]:
    """Cut points that leave a complete pack: an OpenMxPack without its endpoint trailer."""
    pack = decode_pack(data)
    if isinstance(pack, OpenMxPack) and pack.endpoint:
        return {len(data) - len(text_bytes(pack.endpoint))}
    return set()


@pytest.mark.parametrize("data", all_pack_bytes(), ids=lambda d: f"{d[:2].hex()}-{len(d)}")
def test_every_truncation_of_a_pack_is_a_decode_error(data: bytes) -> None:
    ok = valid_prefix_lengths(data)
    for cut in range(len(data)):
        if cut in ok:
            decode_pack(data[:cut])
            continue
        with pytest.raises(DecodeError):
            decode_pack(data[:cut])


@pytest.mark.parametrize("pack", sample_packs(), ids=lambda p: type(p).__name__)
def test_sample_packs_round_trip(pack: Pack) -> None:
    assert decode_pack(pack.to_bytes()) == pack


TYPE_CODES = [p.to_bytes()[:2] for p in sample_packs()]


@settings(max_examples=400)
@given(st.sampled_from(TYPE_CODES), st.sampled_from([b"", b"\x09", b"\x02\x12\x34"]), st.binary())
def test_random_bodies_only_raise_decode_error(code: bytes, head: bytes, body: bytes) -> None:
    try:
        decode_pack(code + head + body)
    except DecodeError:
        pass


@settings(max_examples=300)
@given(st.sampled_from(all_pack_bytes()), st.data())
def test_corrupted_packs_only_raise_decode_error(data: bytes, draw: st.DataObject) -> None:
    buf = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(buf) - 1))
        buf[i] = draw.draw(st.integers(0, 255))
    try:
        decode_pack(bytes(buf))
    except DecodeError:
        pass
