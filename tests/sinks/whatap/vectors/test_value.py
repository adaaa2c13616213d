"""Group ``value`` (PROTOCOL §1.5): tagged values, encoded and decoded.

Forms (§9): ``type`` + ``value`` for scalars, ``type`` MapValue +
``entries_in_order``. An entry's value is plain JSON (text, integer -> Decimal,
float -> Double, bool, null, a list of pairs -> nested Map) or a typed object
``{"type": ..., "value"|"entries_in_order": ...}`` — the way to say "Decimal"
for a 64-bit number that JSON carries as a string.
"""

from __future__ import annotations

import pytest

from openagent.sinks.whatap.values import (
    DoubleValue,
    FloatValue,
    MapValue,
    Value,
    decode_value,
    encode_value,
)
from tests.sinks.whatap.golden import Vector, bits64
from tests.sinks.whatap.vectors.builders import typed
from tests.sinks.whatap.vectors.harness import dispatch, expected_bytes, group_cases

pytestmark = pytest.mark.vectors


def same_order(a: Value, b: Value) -> bool:
    """Equal, with every Map's keys in the same order at every depth."""
    if isinstance(a, MapValue) and isinstance(b, MapValue):
        return list(a.entries) == list(b.entries) and all(
            same_order(a.entries[k], b.entries[k]) for k in a.entries
        )
    if isinstance(a, DoubleValue | FloatValue):
        return type(a) is type(b) and bits64(a.value) == bits64(b.value)  # type: ignore[union-attr]
    return a == b


def check(v: Vector) -> None:
    value = typed(v, v["inputs"])
    assert encode_value(value).hex() == v["hex"]
    assert same_order(decode_value(expected_bytes(v)), value)


FORMS = {"value": check, "entries_in_order": check, "type": check}


def form_of(v: Vector) -> str | None:
    inputs = v["inputs"]
    if "type" not in inputs:
        return None
    return next((f for f in ("entries_in_order", "value") if f in inputs), "type")


@pytest.mark.parametrize("vector", group_cases("value"))
def test_tagged_value_matches_go_and_reads_back(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
