"""Group ``license`` (PROTOCOL §4.1): license text -> PCODE and security key.

Form (§9): ``license``; expected ``pcode`` and ``secure_key_hex`` (and ``hex``,
the token longs). A degenerate license (PCODE 0 or no key, which the Go agent
runs with, silently never connecting) is refused by ``parse_license`` with an
error that does not echo the license. A vector with no ``pcode`` describes an
input the Go parser panics on (as does one marked ``panic``/``panics``); we
raise ``LicenseError`` there too.
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.license import (
    LicenseError,
    decode_license,
    license_bytes,
    parse_license,
)
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.harness import dispatch, group_cases, int64

pytestmark = pytest.mark.vectors


def assert_refused(lic: str) -> None:
    with pytest.raises(LicenseError) as err:
        parse_license(lic)
    message = str(err.value)
    assert message
    if lic:
        assert lic not in message


def check_license(v: Vector) -> None:
    lic = v["inputs"]["license"]
    if v.get("pcode") is None or v.get("panics") or v.get("panic"):
        with pytest.raises(LicenseError):
            decode_license(lic)
        assert_refused(lic)
        return
    keys = decode_license(lic)
    assert keys.pcode == int64(v["pcode"])
    assert keys.security_key.hex() == v["secure_key_hex"]
    if v.get("hex") is not None:
        assert license_bytes(lic).hex() == v["hex"]
    if keys.pcode > 0 and keys.security_key:
        assert parse_license(lic) == keys
    else:
        assert_refused(lic)


FORMS = {"license": check_license}


def form_of(v: Vector) -> str | None:
    return "license" if "license" in v["inputs"] else None


@pytest.mark.parametrize("vector", group_cases("license"))
def test_license_decodes_as_go(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
