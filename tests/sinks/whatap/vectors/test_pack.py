"""Group ``pack`` (PROTOCOL §3): every pack the agent sends or reads, encoded and read back.

Forms (§9): header fields (``pcode``, ``oid``, ``okind``, ``onode``, ``time``)
and the pack-specific fields (`builders.PACK_BUILDERS`, chosen by the type code
of the Go bytes). Zipped packs compare outside the gzip stream and after
inflating (``inner_hex``); random-order encodings match one of ``hex_variants``.
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.codec import Reader
from openagent.sinks.whatap.header import read_header
from openagent.sinks.whatap.openmx import (
    OpenMxHelpPack,
    OpenMxHistogramPack,
    OpenMxPack,
    gunzip,
)
from openagent.sinks.whatap.packs import TagCountPack, decode_pack, pack_type
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.builders import PACK_BUILDERS, build_pack
from tests.sinks.whatap.vectors.harness import UnknownForm, dispatch, group_cases, int64

pytestmark = pytest.mark.vectors

RECORD_PACKS = (OpenMxPack, OpenMxHelpPack, OpenMxHistogramPack)


def split_zipped(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(type ‖ header ‖ zip byte, records blob, trailer) of a records pack."""
    r = Reader(data)
    r.short()
    read_header(r)
    r.byte()
    prefix_end = r.pos
    blob = r.blob()
    return data[:prefix_end], blob, r.rest()


def assert_zipped_equal(ours: bytes, go: bytes, inner_hex: str) -> None:
    """Zipped packs: equal outside the gzip stream, equal after inflating."""
    our_prefix, our_gz, our_tail = split_zipped(ours)
    go_prefix, go_gz, go_tail = split_zipped(go)
    assert our_prefix == go_prefix
    assert our_tail == go_tail
    assert our_gz[:10] == go_gz[:10], "gzip header differs from Go's"
    assert gunzip(our_gz).hex() == inner_hex
    assert gunzip(go_gz).hex() == inner_hex


def go_variants(v: Vector) -> list[bytes]:
    hexes = v.get("hex_variants") or [v.get("hex")]
    if None in hexes:
        raise UnknownForm(v, "pack without full hex")
    return [bytes.fromhex(h) for h in hexes]


def check_tag_count(v: Vector, pack: TagCountPack) -> None:
    """The tag hash and the tagged tags Map it is taken over (§3.7)."""
    if "tag_hash" in v:
        assert pack.tag_hash == int64(v["tag_hash"])
    if "tags_value_hex" in v:
        assert pack.tag_bytes().hex() == v["tags_value_hex"]


def check_pack(v: Vector) -> None:
    variants = go_variants(v)
    pack = build_pack(v, pack_type(variants[0]))
    ours = pack.to_bytes()
    if v.get("zip") == 1:
        assert_zipped_equal(ours, variants[0], v["inner_hex"])
    else:
        assert ours in variants, ours.hex()
        if "inner_hex" in v:
            assert split_zipped(ours)[1].hex() == v["inner_hex"]
    if "length" in v:
        assert len(variants[0]) == v["length"]
    if isinstance(pack, TagCountPack):
        check_tag_count(v, pack)
    for data in [*variants, ours]:
        back = decode_pack(data)
        assert back == pack
        if isinstance(back, RECORD_PACKS):
            assert back.zipped == (v.get("zip") == 1)


#: One form per pack type: the header fields and the fields of that pack.
FORMS = {f"0x{code:04x}": check_pack for code in PACK_BUILDERS}


def form_of(v: Vector) -> str | None:
    """The pack type of the Go bytes."""
    return f"0x{pack_type(go_variants(v)[0]) & 0xFFFF:04x}"


@pytest.mark.parametrize("vector", group_cases("pack"))
def test_pack_matches_go_and_reads_back(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
