"""golib tagged values: one type byte, then the body (PROTOCOL §1.5).

Only the types the open agent exchanges are modelled: Null (0), Bool (10),
Decimal (20), Float (30), Double (40), Text (50) and Map (80). A Map keeps
insertion order, like golib's linked map and like a Python dict (re-putting a
key keeps its position). Reading any other type code is a `DecodeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from openagent.sinks.whatap.codec import DecodeError, EncodeError, Reader, Writer

NULL = 0
BOOL = 10
DECIMAL = 20
FLOAT = 30
DOUBLE = 40
TEXT = 50
MAP = 80

#: Deepest Map nesting a reader accepts (untrusted input must not exhaust the stack).
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class NullValue:
    """golib NullValue (no body)."""

    TYPE: ClassVar[int] = NULL


@dataclass(frozen=True, slots=True)
class BoolValue:
    """golib BoolValue."""

    value: bool
    TYPE: ClassVar[int] = BOOL


@dataclass(frozen=True, slots=True)
class DecimalValue:
    """golib DecimalValue: a 64-bit integer in Decimal encoding."""

    value: int
    TYPE: ClassVar[int] = DECIMAL


@dataclass(frozen=True, slots=True)
class FloatValue:
    """golib FloatValue: IEEE binary32."""

    value: float
    TYPE: ClassVar[int] = FLOAT


@dataclass(frozen=True, slots=True)
class DoubleValue:
    """golib DoubleValue: IEEE binary64."""

    value: float
    TYPE: ClassVar[int] = DOUBLE


@dataclass(frozen=True, slots=True)
class TextValue:
    """golib TextValue."""

    value: str
    TYPE: ClassVar[int] = TEXT


@dataclass(slots=True)
class MapValue:
    """golib MapValue: string keys, tagged values, insertion order."""

    entries: Mapping[str, Value] = field(default_factory=dict)
    TYPE: ClassVar[int] = MAP


Value = NullValue | BoolValue | DecimalValue | FloatValue | DoubleValue | TextValue | MapValue


def to_value(obj: object) -> Value:
    """Wrap a Python value: None, bool, int, float (as Double), str, or a str-keyed mapping."""
    if obj is None:
        return NullValue()
    if isinstance(obj, NullValue | BoolValue | DecimalValue | FloatValue | DoubleValue):
        return obj
    if isinstance(obj, TextValue | MapValue):
        return obj
    if isinstance(obj, bool):
        return BoolValue(obj)
    if isinstance(obj, int):
        return DecimalValue(obj)
    if isinstance(obj, float):
        return DoubleValue(obj)
    if isinstance(obj, str):
        return TextValue(obj)
    if isinstance(obj, Mapping):
        entries: dict[str, Value] = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise EncodeError(f"map key must be a string, got {type(k).__name__}")
            entries[k] = to_value(v)
        return MapValue(entries)
    raise EncodeError(f"no tagged value type for {type(obj).__name__}")


def write_value(w: Writer, v: Value) -> None:
    """Write the type byte and body of ``v``."""
    w.byte(v.TYPE)
    if isinstance(v, NullValue):
        return
    if isinstance(v, BoolValue):
        w.boolean(v.value)
    elif isinstance(v, DecimalValue):
        w.decimal(v.value)
    elif isinstance(v, FloatValue):
        w.float32(v.value)
    elif isinstance(v, DoubleValue):
        w.double(v.value)
    elif isinstance(v, TextValue):
        w.text(v.value)
    else:
        write_map_body(w, v.entries)


def write_map_body(w: Writer, entries: Mapping[str, Value]) -> None:
    """A Map body without the type byte: Decimal count, then Text key and tagged value."""
    w.decimal(len(entries))
    for key, value in entries.items():
        w.text(key)
        write_value(w, value)


def encode_value(v: Value) -> bytes:
    """The bytes of one tagged value."""
    w = Writer()
    write_value(w, v)
    return w.getvalue()


def read_value(r: Reader, depth: int = 0) -> Value:
    """Read one tagged value."""
    pos = r.pos
    code = r.byte("value type")
    if code == TEXT:
        return TextValue(r.text("text value"))
    if code == DECIMAL:
        return DecimalValue(r.decimal("decimal value"))
    if code == MAP:
        return MapValue(read_map_body(r, depth + 1))
    if code == NULL:
        return NullValue()
    if code == BOOL:
        return BoolValue(r.boolean())
    if code == DOUBLE:
        return DoubleValue(r.double("double value"))
    if code == FLOAT:
        return FloatValue(r.float32())
    raise DecodeError(f"unsupported value type code {code} at offset {pos}")


def read_map_body(r: Reader, depth: int = 0) -> dict[str, Value]:
    """A Map body (count and entries) without the type byte."""
    if depth > MAX_DEPTH:
        raise DecodeError(f"map nesting deeper than {MAX_DEPTH} at offset {r.pos}")
    n = r.check_count(r.decimal("map size"), "map entry", 2)
    entries: dict[str, Value] = {}
    for _ in range(n):
        key = r.text("map key")
        entries[key] = read_value(r, depth)
    return entries


def decode_value(data: bytes) -> Value:
    """Decode exactly one tagged value; trailing bytes are an error."""
    r = Reader(data)
    v = read_value(r)
    if not r.at_end():
        raise DecodeError(f"{r.remaining} trailing bytes after value at offset {r.pos}")
    return v
