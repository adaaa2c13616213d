"""Group ``cypher`` (PROTOCOL §5): AES-128-ECB with zero padding, and the XOR hide.

Forms (§9): ``key_hex`` + ``plain_hex`` (expected ``hex`` and ``decrypt_hex``),
``hide_key_int32`` + ``plain_hex`` (expected ``hex``).
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.crypto import Cypher
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.harness import dispatch, expected_bytes, group_cases

pytestmark = pytest.mark.vectors


def check_aes(v: Vector) -> None:
    inputs = v["inputs"]
    c = Cypher(bytes.fromhex(inputs["key_hex"]))
    assert c.encrypt(bytes.fromhex(inputs["plain_hex"])).hex() == v["hex"]
    if "decrypt_hex" in v:
        assert c.decrypt(expected_bytes(v)).hex() == v["decrypt_hex"]
    assert len(expected_bytes(v)) == v.get("length", len(expected_bytes(v)))


def check_hide(v: Vector) -> None:
    inputs = v["inputs"]
    plain = bytes.fromhex(inputs["plain_hex"])
    c = Cypher(b"", inputs["hide_key_int32"])
    assert c.hide(plain).hex() == v["hex"]
    assert c.unhide(expected_bytes(v)) == plain


FORMS = {"hide_key_int32": check_hide, "key_hex": check_aes}


def form_of(v: Vector) -> str | None:
    return next((f for f in FORMS if f in v["inputs"]), None)


@pytest.mark.parametrize("vector", group_cases("cypher"))
def test_cypher_matches_go(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
