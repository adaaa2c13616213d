"""Groups ``hash`` and ``hexa32`` (PROTOCOL §2.1-2.3).

Forms (§9): the input string ``value``; the expected result says which
function: ``int32`` (HashStr), ``int64`` (Hash64); hexa32 ``value`` (a number ->
ToString32, with ``text`` and ``roundtrip``) or ``text`` (ToLong32, with ``value``).
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.hashing import hash64, hash_str, to_long32, to_string32
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.harness import dispatch, group_cases, int64

pytestmark = pytest.mark.vectors


def check_hash_str(v: Vector) -> None:
    h = hash_str(v["inputs"]["value"])
    assert h == v["int32"]
    if "uint32" in v:
        assert h & 0xFFFFFFFF == v["uint32"]
    if "hex" in v:
        assert (h & 0xFFFFFFFF).to_bytes(4, "big").hex() == v["hex"]


def check_hash64(v: Vector) -> None:
    h = hash64(v["inputs"]["value"].encode())
    assert h == int64(v["int64"])
    if "hex" in v:
        assert (h & (2**64 - 1)).to_bytes(8, "big").hex() == v["hex"]


def check_to_string32(v: Vector) -> None:
    n = int64(v["inputs"]["value"])
    assert to_string32(n) == v["text"]
    assert to_long32(v["text"]) == n == int64(v.get("roundtrip", n))


def check_to_long32(v: Vector) -> None:
    assert to_long32(v["inputs"]["text"]) == int64(v["value"])


HASH_FORMS = {"int32": check_hash_str, "int64": check_hash64}
HEXA32_FORMS = {"value": check_to_string32, "text": check_to_long32}


def hash_form_of(v: Vector) -> str | None:
    return next((f for f in HASH_FORMS if f in v), None)


def hexa32_form_of(v: Vector) -> str | None:
    return next((f for f in HEXA32_FORMS if f in v["inputs"]), None)


@pytest.mark.parametrize("vector", group_cases("hash"))
def test_hash_matches_go(vector: Vector) -> None:
    dispatch(vector, HASH_FORMS, hash_form_of(vector))


@pytest.mark.parametrize("vector", group_cases("hexa32"))
def test_hexa32_matches_go(vector: Vector) -> None:
    dispatch(vector, HEXA32_FORMS, hexa32_form_of(vector))
