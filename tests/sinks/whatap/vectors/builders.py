"""Our values, records and packs from the ``value``/``record``/``pack`` input forms of §9.

A tagged value is given with its type name (``{"type": ..., "value"|
"entries_in_order": ...}``) or, inside a Map, as plain JSON: text, integer ->
Decimal, float -> Double, bool, null, a list of pairs -> nested Map. The typed
form is how a Decimal that JSON carries as a decimal string is told from Text.

A form this module does not know fails the case (`harness.UnknownForm`) instead of
being read some likely way.
"""

from __future__ import annotations

from typing import Any

from openagent.sinks.whatap.openmx import (
    BucketSpan,
    OpenMxEndpointPack,
    OpenMxHelp,
    OpenMxHelpPack,
    OpenMxHistogram,
    OpenMxHistogramPack,
    OpenMxPack,
)
from openagent.sinks.whatap.packs import (
    EventPack,
    Pack,
    ParamPack,
    TagCountPack,
    TextPack,
    TextRecord,
)
from openagent.sinks.whatap.values import (
    BoolValue,
    DecimalValue,
    DoubleValue,
    FloatValue,
    MapValue,
    NullValue,
    TextValue,
    Value,
)
from tests.sinks.whatap.golden import Vector, f32, f64, header_of, properties_of, record_of
from tests.sinks.whatap.vectors.harness import UnknownForm, first_field, int64

#: Go bugs we fix when encoding: vector name -> (reason, our bytes).
ENCODER_FIXES: dict[str, tuple[str, str]] = {
    "OpenMxHelp_record_value_literal_nil_quirk": (
        "the Go agent writes an extra 00 before a help value that is the literal text "
        "'nil', which a standard Map reader misparses; we write the standard Map encoding",
        "0001785001010474797065" + "32036e696c",
    ),
}


def scalar(v: Vector, spec: dict[str, Any]) -> Value:
    """A typed scalar: ``bits``/``value_bits`` beat ``value`` for floats."""
    kind, raw = spec["type"], spec.get("value")
    bits = spec.get("bits", spec.get("value_bits"))
    if kind == "TextValue":
        return TextValue(raw)
    if kind == "DecimalValue":
        return DecimalValue(int(str(raw)))
    if kind == "BoolValue":
        return BoolValue(bool(raw))
    if kind == "NullValue":
        return NullValue()
    if kind == "DoubleValue":
        return DoubleValue(f64(bits) if bits else float(raw))
    if kind == "FloatValue":
        return FloatValue(f32(bits) if bits else float(raw))
    raise UnknownForm(v, f"value type {kind!r}")


def typed(v: Vector, spec: dict[str, Any]) -> Value:
    """A value given with its type name."""
    if spec.get("type") == "MapValue":
        return MapValue({k: entry(v, x) for k, x in spec.get("entries_in_order") or ()})
    return scalar(v, spec)


def entry(v: Vector, raw: Any) -> Value:
    """A Map entry's value, plain JSON or typed."""
    if isinstance(raw, dict) and "type" in raw:
        return typed(v, raw)
    if raw is None:
        return NullValue()
    if isinstance(raw, bool):
        return BoolValue(raw)
    if isinstance(raw, int):
        return DecimalValue(raw)
    if isinstance(raw, float):
        return DoubleValue(raw)
    if isinstance(raw, str):
        return TextValue(raw)
    if isinstance(raw, list):
        return MapValue({k: entry(v, x) for k, x in raw})
    raise UnknownForm(v, f"map entry value {raw!r}")


def double_of(v: Vector, rec: Vector, name: str) -> float:
    """A double given by ``<name>_bits`` (authoritative) or as a number ``<name>``."""
    if f"{name}_bits" in rec:
        return f64(rec[f"{name}_bits"])
    return float(first_field(v, rec, name))


def spans_of(v: Vector, raw: list[Any] | None) -> tuple[BucketSpan, ...]:
    """Spans as ``[offset, length]`` pairs or ``{"offset", "length"}`` objects."""
    spans = []
    for s in raw or ():
        if isinstance(s, dict):
            by_name = {k.lower(): x for k, x in s.items()}
            spans.append(BucketSpan(int(by_name["offset"]), int(by_name["length"])))
        elif isinstance(s, list) and len(s) == 2:
            spans.append(BucketSpan(int(s[0]), int(s[1])))
        else:
            raise UnknownForm(v, f"bucket span {s!r}")
    return tuple(spans)


def buckets_of(v: Vector, rec: Vector, sign: str) -> tuple[int, ...]:
    raw = first_field(v, rec, f"{sign}_buckets", f"{sign}_deltas")
    return tuple(int64(x) for x in raw or ())


def histogram_of(v: Vector, rec: Vector) -> OpenMxHistogram:
    """An OpenMxHistogram record (§3.3) from its description."""
    return OpenMxHistogram(
        metric=rec["metric"],
        labels=tuple((k, x) for k, x in rec.get("labels") or ()),
        timestamp=int64(rec["timestamp"]),
        schema=int(rec["schema"]),
        zero_threshold=double_of(v, rec, "zero_threshold"),
        zero_count=int64(rec["zero_count"]),
        count=int64(rec["count"]),
        sum=double_of(v, rec, "sum"),
        positive_spans=spans_of(v, rec.get("positive_spans")),
        positive_buckets=buckets_of(v, rec, "positive"),
        negative_spans=spans_of(v, rec.get("negative_spans")),
        negative_buckets=buckets_of(v, rec, "negative"),
    )


def help_of(rec: Vector) -> OpenMxHelp:
    return OpenMxHelp(rec["metric"], properties_of(rec["property"]))


def param_entries(v: Vector, inputs: Vector) -> dict[str, Value]:
    """ParamPack entries: ``entries_text_in_order`` (all Text) or ``entries`` (any value)."""
    if "entries_text_in_order" in inputs:
        return {k: TextValue(x) for k, x in inputs["entries_text_in_order"]}
    raw = inputs.get("entries")
    pairs = raw.items() if isinstance(raw, dict) else raw or ()
    return {k: entry(v, x) for k, x in pairs}


def tags_of(v: Vector, inputs: Vector) -> dict[str, Value]:
    if "tags_decimal_in_order" in inputs:
        return {k: DecimalValue(int64(x)) for k, x in inputs["tags_decimal_in_order"] or ()}
    return {k: entry(v, x) for k, x in inputs.get("tags_in_order") or ()}


def openmx_pack(v: Vector) -> Pack:
    inputs = v["inputs"]
    return OpenMxPack(
        header_of(inputs),
        [record_of(r) for r in inputs.get("records") or ()],
        inputs.get("endpoint", ""),
    )


def help_pack(v: Vector) -> Pack:
    return OpenMxHelpPack(header_of(v["inputs"]), [help_of(r) for r in v["inputs"]["records"]])


def histogram_pack(v: Vector) -> Pack:
    recs = v["inputs"].get("records") or ()
    return OpenMxHistogramPack(header_of(v["inputs"]), [histogram_of(v, r) for r in recs])


def endpoint_pack(v: Vector) -> Pack:
    return OpenMxEndpointPack(header_of(v["inputs"]), list(v["inputs"]["endpoints"] or ()))


def text_pack(v: Vector) -> Pack:
    texts = [TextRecord(r["div"], r["hash"], r["text"]) for r in v["inputs"]["records"]]
    return TextPack(header_of(v["inputs"]), texts)


def param_pack(v: Vector) -> Pack:
    inputs = v["inputs"]
    return ParamPack(
        header_of(inputs),
        int(inputs["id"]),
        int64(inputs["request"]),
        int64(inputs["response"]),
        param_entries(v, inputs),
    )


def tag_count_pack(v: Vector) -> Pack:
    inputs = v["inputs"]
    data = {k: entry(v, x) for k, x in inputs.get("data_in_order") or ()}
    return TagCountPack(header_of(inputs), inputs["category"], tags_of(v, inputs), data)


def event_pack(v: Vector) -> Pack:
    inputs = v["inputs"]
    attrs = dict(inputs.get("attr_in_order") or ())
    return EventPack(header_of(inputs), inputs["level"], inputs["title"], inputs["message"], attrs)


#: pack type code -> builder from the vector's inputs
PACK_BUILDERS = {
    OpenMxPack.TYPE: openmx_pack,
    OpenMxHelpPack.TYPE: help_pack,
    OpenMxHistogramPack.TYPE: histogram_pack,
    OpenMxEndpointPack.TYPE: endpoint_pack,
    TextPack.TYPE: text_pack,
    ParamPack.TYPE: param_pack,
    TagCountPack.TYPE: tag_count_pack,
    EventPack.TYPE: event_pack,
}


def build_pack(v: Vector, code: int) -> Pack:
    """Our pack object for a pack vector of type ``code``."""
    builder = PACK_BUILDERS.get(code)
    if builder is None:
        raise UnknownForm(v, f"pack type 0x{code & 0xFFFF:04x}")
    return builder(v)
