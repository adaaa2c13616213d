"""Tagged values: map order, nesting, Python conversion and decode errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.whatap.codec import DecodeError, EncodeError, Reader
from openagent.sinks.whatap.values import (
    MAX_DEPTH,
    BoolValue,
    DecimalValue,
    DoubleValue,
    FloatValue,
    MapValue,
    NullValue,
    TextValue,
    Value,
    decode_value,
    encode_value,
    read_value,
    to_value,
)


def test_map_keeps_insertion_order_and_reput_keeps_position() -> None:
    entries = {"b": to_value(1), "a": to_value("x")}
    entries["b"] = to_value(2)
    data = encode_value(MapValue(entries))
    assert data.hex() == "500102" + "0162" + "140102" + "0161" + "320178"
    back = decode_value(data)
    assert isinstance(back, MapValue)
    assert list(back.entries) == ["b", "a"]


def test_nested_and_empty_maps_round_trip() -> None:
    v = to_value({"outer": {"inner": {}, "n": None, "f": 1.5, "t": True}})
    assert decode_value(encode_value(v)) == v
    assert encode_value(MapValue()) == b"\x50\x00"


def test_to_value_maps_python_types() -> None:
    assert to_value(None) == NullValue()
    assert to_value(True) == BoolValue(True)
    assert to_value(7) == DecimalValue(7)
    assert to_value(0.25) == DoubleValue(0.25)
    assert to_value("s") == TextValue("s")
    assert to_value(FloatValue(0.5)) == FloatValue(0.5)
    with pytest.raises(EncodeError, match="no tagged value type for bytes"):
        to_value(b"x")
    with pytest.raises(EncodeError, match="map key must be a string"):
        to_value({1: 2})


def test_unknown_type_code_is_named() -> None:
    with pytest.raises(DecodeError, match="unsupported value type code 60 at offset 0"):
        decode_value(b"\x3c\x00")


def test_trailing_bytes_after_a_value_are_an_error() -> None:
    with pytest.raises(DecodeError, match="1 trailing bytes"):
        decode_value(b"\x00\x00")


def test_map_count_larger_than_the_input_is_rejected_before_looping() -> None:
    with pytest.raises(DecodeError, match="map entry"):
        decode_value(b"\x50\x08" + (2**62).to_bytes(8, "big"))


def test_deep_nesting_is_bounded() -> None:
    data = b"\x50\x01\x01\x01k" * (MAX_DEPTH + 2) + b"\x00"
    with pytest.raises(DecodeError, match="nesting deeper"):
        read_value(Reader(data))


def test_every_truncation_of_a_map_is_a_decode_error() -> None:
    data = encode_value(to_value({"help": "GPU util", "n": 123456789, "d": 2.5, "z": None}))
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode_value(data[:cut])


SCALARS = st.one_of(
    st.just(NullValue()),
    st.builds(BoolValue, st.booleans()),
    st.builds(DecimalValue, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    st.builds(FloatValue, st.floats(width=32, allow_nan=False)),
    st.builds(DoubleValue, st.floats(allow_nan=False)),
    st.builds(TextValue, st.text(max_size=20)),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.dictionaries(st.text(max_size=8), children, max_size=5).map(MapValue),
    max_leaves=20,
)


def shape(v: Value) -> object:
    """A value as nested tuples, Map keys in order and floats by repr (keeps -0.0)."""
    if isinstance(v, MapValue):
        return tuple((k, shape(x)) for k, x in v.entries.items())
    if isinstance(v, FloatValue | DoubleValue):
        return (type(v).__name__, repr(v.value))
    return v


@given(VALUES)
def test_any_value_and_nested_map_round_trips_in_order(value: Value) -> None:
    assert shape(decode_value(encode_value(value))) == shape(value)
