"""What a key-reset reply vector says the agent parsed (PROTOCOL §6.3).

§9 names the form only loosely ("constructed server key-reset reply + what the
agent parsed"), so the parsed state is looked up by field name wherever the
vector gives it: in ``parsed_by_agent``, at top level, or in the inputs; names
match without case and without a ``parsed_`` prefix, and a ``_hex``/``_ascii``/
``_int32`` suffix says how the value is written. A vector giving none of the
names fails as an unknown form.
"""

from __future__ import annotations

from typing import Any

from openagent.sinks.whatap.frames import SessionKeys
from openagent.sinks.whatap.hashing import ip_to_int32
from tests.sinks.whatap.golden import Vector
from tests.sinks.whatap.vectors.harness import UnknownForm

SUFFIXES = ("", "_int32", "_hex", "_ascii")


def sources(v: Vector) -> list[dict[str, Any]]:
    parsed = v.get("parsed_by_agent")
    return [x for x in (parsed, v, v["inputs"]) if isinstance(x, dict)]


def normal(name: str) -> str:
    name = name.lower()
    return name.removeprefix("parsed_").removeprefix("session_")


def lookup(v: Vector, base: str) -> tuple[str, Any]:
    """(suffix, value) of the first field named like ``base``."""
    for where in sources(v):
        by_name = {normal(k): x for k, x in where.items()}
        for suffix in SUFFIXES:
            if base + suffix in by_name:
                return suffix, by_name[base + suffix]
    raise UnknownForm(v, f"key-reset reply without the parsed {base}")


def as_int(suffix: str, raw: Any) -> int:
    if suffix == "_hex":
        return int.from_bytes(bytes.fromhex(raw), "big", signed=True)
    if isinstance(raw, str) and "." in raw:
        return ip_to_int32(raw)
    return int(raw)


def expected_keys(v: Vector) -> SessionKeys:
    """The session keys the vector says the agent took from the reply."""
    suffix, key = lookup(v, "secure_key")
    secure = bytes.fromhex(key) if suffix == "_hex" else str(key).encode()
    return SessionKeys(
        transfer_key=as_int(*lookup(v, "transfer_key")),
        secure_key=secure,
        hide_key=as_int(*lookup(v, "hide_key")),
        public_ip=as_int(*lookup(v, "public_ip")),
    )
