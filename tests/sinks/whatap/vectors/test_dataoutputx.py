"""Group ``dataoutputx`` (PROTOCOL §1): every DataOutputX writer, byte for byte, and read back.

Forms (§9): ``method`` with ``value`` (int, decimal string for 64-bit numbers,
text, list, null), with ``value_len`` (bytes by ``value_gen``), with ``bits``
(authoritative for Double/Float, also per item of a float array); or
``sequence`` (a call sequence, ``sequence_openmx_like``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from openagent.sinks.whatap.codec import Reader, Writer
from tests.sinks.whatap.golden import Vector, bits64, f32, f64
from tests.sinks.whatap.vectors.harness import UnknownForm, dispatch, generated_bytes, group_cases

pytestmark = pytest.mark.vectors

#: Go writer -> our Writer/Reader method (same name on both).
METHODS = {
    "WriteByte": "byte",
    "WriteBool": "boolean",
    "WriteShort": "short",
    "WriteInt": "int32",
    "WriteInt3": "int3",
    "WriteLong5": "long5",
    "WriteLong": "long",
    "WriteDecimal": "decimal",
    "WriteFloat": "float32",
    "WriteDouble": "double",
    "WriteText": "text",
    "WriteBlob": "blob",
    "WriteIntBytes": "int_bytes",
    "WriteShortBytes": "short_bytes",
    "WriteTextShortLength": "text_short_length",
    "WriteShortArray": "short_array",
    "WriteIntArray": "int_array",
    "WriteLongArray": "long_array",
    "WriteFloatArray": "float_array",
    "WriteDoubleArray": "double_array",
    "WriteTextArray": "text_array",
}
INT_METHODS = {"WriteByte", "WriteShort", "WriteInt", "WriteInt3", "WriteLong5", "WriteLong"}
INT_METHODS |= {"WriteDecimal", "WriteShortArray", "WriteIntArray", "WriteLongArray"}
FLOAT_METHODS = {"WriteFloat", "WriteDouble", "WriteFloatArray", "WriteDoubleArray"}


def from_bits(method: str, bits: str) -> float:
    return f32(bits) if method.startswith("WriteFloat") else f64(bits)


def number(v: Vector, method: str, raw: Any) -> Any:
    """One number of a ``value``: 64-bit integers may come as decimal strings."""
    if method in INT_METHODS:
        return int(str(raw))
    if method in FLOAT_METHODS:
        return float(raw)
    raise UnknownForm(v, f"number for {method}")


def plain_argument(v: Vector, method: str, raw: Any) -> Any:
    """The argument of a ``method`` + ``value`` vector."""
    if raw is None or method in ("WriteBool", "WriteText", "WriteTextShortLength"):
        return raw
    if method == "WriteTextArray":
        return list(raw)
    if method.endswith("Array"):
        return [number(v, method, x) for x in raw]
    return number(v, method, raw)


def argument(v: Vector) -> Any:
    """The argument a single-call vector passed to its Go writer."""
    inputs = v["inputs"]
    method = inputs["method"]
    if "bits" in inputs:
        bits = inputs["bits"]
        return (
            [from_bits(method, b) for b in bits]
            if isinstance(bits, list)
            else from_bits(method, bits)
        )
    if "value_len" in inputs:
        return generated_bytes(v, inputs["value_len"])
    if "value" in inputs:
        return plain_argument(v, method, inputs["value"])
    raise UnknownForm(v, f"{method} without value, value_len or bits")


def sequence_calls(v: Vector) -> list[tuple[str, Any]]:
    """``WriteX(arg) WriteY(arg) ...`` as (method, argument) pairs."""
    calls = re.findall(r"(\w+)\(([^)]*)\)", v["inputs"]["sequence"])
    return [(m, plain_argument(v, m, json.loads(arg))) for m, arg in calls]


def same_read_back(method: str, written: Any, read: Any) -> bool:
    """Whether a decoded value equals what was written (floats by bit pattern)."""
    if method in ("WriteDouble", "WriteFloat"):
        return bool(bits64(read) == bits64(written))
    if method == "WriteByte":
        return bool(read == written & 0xFF)
    if method in ("WriteFloatArray", "WriteDoubleArray"):
        return [bits64(x) for x in read] == [bits64(x) for x in written or ()]
    if method.endswith("Array"):
        return list(read) == list(written or ())
    if written is None:
        return read in (b"", "")
    return bool(read == written)


def check_calls(v: Vector, calls: list[tuple[str, Any]]) -> None:
    """Write the calls, compare with the Go bytes, read them back."""
    unknown = [m for m, _ in calls if m not in METHODS]
    if unknown:
        raise UnknownForm(v, f"method {unknown[0]}")
    w = Writer()
    for method, arg in calls:
        getattr(w, METHODS[method])(arg)
    out = w.getvalue()
    assert len(out) == v["length"]
    if v.get("hex") is not None:
        assert out.hex() == v["hex"]
    else:
        assert out[:16].hex() == v["hex_head"]
        assert hashlib.sha256(out).hexdigest() == v["sha256"]
    r = Reader(out)
    for method, arg in calls:
        assert same_read_back(method, arg, getattr(r, METHODS[method])()), (method, arg)
    assert r.at_end()


FORMS = {
    "sequence": lambda v: check_calls(v, sequence_calls(v)),
    "method": lambda v: check_calls(v, [(v["inputs"]["method"], argument(v))]),
}


def form_of(v: Vector) -> str | None:
    return next((f for f in FORMS if f in v["inputs"]), None)


@pytest.mark.parametrize("vector", group_cases("dataoutputx"))
def test_writer_matches_go_and_reads_back(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
