"""License parsing: redaction of the secret and clear refusals of malformed licenses."""

from __future__ import annotations

import copy
import pickle

import pytest

from openagent.sinks.whatap.hashing import to_string32
from openagent.sinks.whatap.license import (
    License,
    LicenseError,
    LicenseKeys,
    decode_license,
    parse_license,
)

LICENSE = "x6043vk85eq31-x58obg8pgmmpab-x6au9160ojvokf"
TOKENS = LICENSE.split("-")


def license_from_bytes(data: bytes) -> str:
    """Build a license text from payload bytes (zero-padded to whole longs)."""
    data += bytes(-len(data) % 8)
    longs = [int.from_bytes(data[i : i + 8], "big", signed=True) for i in range(0, len(data), 8)]
    return "-".join(to_string32(n) for n in longs)


def test_license_does_not_show_itself() -> None:
    lic = License(f"  {LICENSE}\n")
    assert LICENSE not in repr(lic)
    assert LICENSE not in str(lic)
    assert LICENSE not in f"{lic}"
    assert lic.reveal() == LICENSE
    assert lic == License(LICENSE)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(lic)
    assert copy.deepcopy({"l": lic})["l"] is lic


def test_keys_repr_hides_the_security_key() -> None:
    keys = parse_license(License(LICENSE))
    assert keys == LicenseKeys(33789, b"WhaTapFakeKey!01")
    assert "WhaTapFakeKey" not in repr(keys)
    assert "33789" in repr(keys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "license is empty"),
        ("   ", "license is empty"),
        (LICENSE.replace("-x58", "-!58"), "token 2 of 3 is not a hexa32 number"),
        (LICENSE + "-", "token 4 of 4 is not a hexa32 number"),
        (LICENSE.upper(), "token 1 of 3 is not a hexa32 number"),
        ("x" + "v" * 13, "token 1 of 1 is out of range"),
        ("5-5", "invalid project code \\(0\\)"),
        (license_from_bytes(b"\x01\x07\x00"), "carries no security key"),
        (license_from_bytes(b"\x01\xf9\x03key"), "invalid project code \\(-7\\)"),
        (license_from_bytes(b"\x01\x07\x20abc"), "too short"),
        (license_from_bytes(b"\x08"), "too short"),
    ],
)
def test_malformed_licenses_are_refused_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(LicenseError, match=message) as err:
        parse_license(License(text))
    shown = str(err.value) + repr(err.value)
    for token in text.split("-"):
        if len(token) > 2:
            assert token not in shown


def test_go_compatible_decode_turns_garbage_into_pcode_zero() -> None:
    assert decode_license("garbage-!!") == LicenseKeys(0, b"")
    with pytest.raises(LicenseError, match="too short"):
        decode_license(license_from_bytes(b"\x01\x07\x20abc"))


def test_a_license_built_from_bytes_decodes_back() -> None:
    text = license_from_bytes(b"\x02\x01\x00\x05hello")
    assert parse_license(text) == LicenseKeys(256, b"hello")
