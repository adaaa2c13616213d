"""Whatap license -> project code (PCODE) and security key (PROTOCOL §4.1).

A license is hexa32 tokens joined by ``-``; their 8-byte big-endian
concatenation holds ``Decimal pcode ‖ Blob security_key`` (the rest is
padding). The license is a secret: `License` keeps it out of ``repr``/``str``
and no error message here ever quotes it or any part of it.

`decode_license` reproduces the Go agent, which turns garbage into PCODE 0 and
then silently never connects. `parse_license` is what the agent uses: it
refuses anything that is not a well-formed license with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openagent.sinks.whatap.codec import I64, DecodeError, Reader
from openagent.sinks.whatap.hashing import is_canonical32, to_long32


class LicenseError(ValueError):
    """The license is malformed. The message never contains the license."""


class License:
    """A license string that does not show itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()

    def reveal(self) -> str:
        """The license text itself (only for decoding; never log it)."""
        return self._value

    def __repr__(self) -> str:
        return "License('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, License) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a License is not picklable (it must not reach disk)")

    def __copy__(self) -> License:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> License:
        return self


@dataclass(frozen=True, slots=True)
class LicenseKeys:
    """What a license decodes to. The security key is kept out of ``repr``."""

    pcode: int
    security_key: bytes = field(repr=False)


def _text(lic: License | str) -> str:
    return lic.reveal() if isinstance(lic, License) else lic.strip()


def license_bytes(lic: License | str) -> bytes:
    """The concatenated 8-byte big-endian longs of the license tokens (Go-lenient)."""
    return b"".join(I64.pack(to_long32(tok)) for tok in _text(lic).split("-"))


def _read_keys(data: bytes) -> LicenseKeys:
    r = Reader(data)
    try:
        pcode = r.decimal("project code")
        key = r.blob("security key")
    except DecodeError:
        # The message of the DecodeError would name offsets into secret bytes only,
        # but keep it generic anyway.
        raise LicenseError("license is too short for its project code and security key") from None
    return LicenseKeys(pcode, key)


def decode_license(lic: License | str) -> LicenseKeys:
    """Decode exactly as the Go agent does: malformed tokens count as 0 (-> PCODE 0).

    Raises `LicenseError` only where the Go parser panics (too few bytes).
    """
    return _read_keys(license_bytes(lic))


def parse_license(lic: License | str) -> LicenseKeys:
    """Decode a license, refusing anything the agent could not work with.

    Rejected: empty text, tokens that are not canonical hexa32, token values
    beyond 64 bits, too few bytes, PCODE <= 0 and an empty security key.
    """
    text = _text(lic)
    if not text:
        raise LicenseError("license is empty")
    tokens = text.split("-")
    for i, tok in enumerate(tokens, 1):
        if not is_canonical32(tok):
            raise LicenseError(
                f"license token {i} of {len(tokens)} is not a hexa32 number "
                "(expected x or z followed by 0-9a-v); check the license for typos"
            )
        if tok[0] in "xz" and to_long32(tok) == 0:
            raise LicenseError(f"license token {i} of {len(tokens)} is out of range")
    keys = _read_keys(license_bytes(text))
    if keys.pcode <= 0:
        raise LicenseError(f"license decodes to an invalid project code ({keys.pcode})")
    if not keys.security_key:
        raise LicenseError("license carries no security key")
    return keys
