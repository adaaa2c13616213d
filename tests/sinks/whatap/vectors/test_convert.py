"""Group ``convert`` (PROTOCOL §7): exposition -> records, through our real parser,
series builder and `OpenMxEncoder`.

Forms (§9): ``text`` (text converter), ``line_template`` (value tokens),
``target_labels`` (processor enrichment; with pack bytes also its OpenMxPack),
``payload_hex`` + ``content_type`` (protobuf converter), ``value_bits`` (label
number formatting), ``records`` with pack bytes or the pack bytes alone (a
converter output pack).
`convert_fixes` lists where we deliberately differ, and why.
"""

from __future__ import annotations

import math

import pytest

from openagent.exposition import ParseError
from openagent.exposition.protobuf import CONTENT_TYPE as PROTOBUF_CONTENT_TYPE
from openagent.exposition.protobuf import decode_protobuf, format_go_float
from openagent.model import Labels, Series
from openagent.scrape.series import EXPORTED_PREFIX, REPORT_NAMES, SeriesBuilder
from openagent.sinks.whatap.codec import Reader
from openagent.sinks.whatap.encoder import PackIdentity
from openagent.sinks.whatap.helpmeta import help_record
from openagent.sinks.whatap.openmx import OpenMxPack, read_help
from openagent.sinks.whatap.packs import decode_pack
from tests.sinks.whatap.golden import Vector, bits64, f64
from tests.sinks.whatap.vectors.convert_fixes import (
    HELP_FIXED,
    IDENTITY,
    NAN_NOTE,
    PROCESSOR_FIXES,
    PROTOBUF_FIXES,
    REPORT_NAME_FIX,
    TEXT_FIXED,
    TEXT_REJECTED,
    TOKEN_FIXES,
)
from tests.sinks.whatap.vectors.convert_support import (
    Flat,
    encode_all,
    flat,
    go_flat,
    on_wire,
    parse_text,
    scrape_result,
    starts_line,
    value_key,
)
from tests.sinks.whatap.vectors.harness import dispatch, group_cases
from tests.sinks.whatap.vectors.test_pack import assert_zipped_equal, check_pack

pytestmark = pytest.mark.vectors


def check_text_edge_cases(v: Vector) -> None:
    text = v["inputs"]["text"]
    ts = int(v["inputs"]["collection_time"])
    lines = text.split("\n")
    rejected = [i for i, line in enumerate(lines) if line in TEXT_REJECTED]
    if rejected:
        with pytest.raises(ParseError) as whole:
            parse_text(text, ts)
        assert whole.value.line == 1 + rejected[0]
    for line, (_, error) in TEXT_REJECTED.items():
        with pytest.raises(ParseError, match=error):
            parse_text(line + "\n", ts)
    go = go_flat(v)
    expected: list[Flat] = []
    gi = 0
    for line in lines:
        from_go = gi < len(go) and starts_line(line.strip(), go[gi][0])
        if from_go:
            gi += 1
        if line in TEXT_REJECTED:
            continue
        if line in TEXT_FIXED:
            expected += [(m, lb, value_key(x), ts) for m, lb, x in TEXT_FIXED[line][1]]
        elif from_go:
            expected.append(go[gi - 1])
    assert gi == len(go), "every Go record comes from a line of the body"
    result = parse_text("\n".join(x for x in lines if x not in TEXT_REJECTED), ts)
    assert flat(result) == expected
    records, helps, lost = encode_all(result)
    assert records == on_wire(expected)
    assert lost.get("non_finite", 0) == len(expected) - len(records)
    go_help = {h["metric"]: h["property"] for h in v["help_sorted_by_metric"]}
    fixed = {f: props for f, (_, props) in HELP_FIXED.items() if f"# TYPE {f} " in text}
    assert helps == go_help | fixed


def check_value_tokens(v: Vector) -> None:
    ts = int(v["inputs"]["collection_time"])
    template = v["inputs"]["line_template"]
    builder = SeriesBuilder(())
    series: list[Series] = []
    values: list[float] = []
    for i, r in enumerate(v["results"]):
        body = template.replace("<token>", r["token"]) + "\n"
        if r["token"] in TOKEN_FIXES or not r["accepted"]:
            assert r["accepted"] == (r["token"] in TOKEN_FIXES)
            with pytest.raises(ParseError, match=r"invalid value|out of range"):
                parse_text(body, ts)
            continue
        (_, _, got, got_ts), *more = flat(parse_text(body, ts))
        assert not more and got_ts == ts
        assert got == value_key(f64(r["value_bits"])), (r["token"], NAN_NOTE)
        series.append(builder.intern("m", (("token", str(i)),)))
        values.append(f64(r["value_bits"]))
    records, _, lost = encode_all(scrape_result(series, values, ts))
    sent = [x for x in values if math.isfinite(x)]
    assert [r[2] for r in records] == [bits64(x) for x in sent]
    assert lost.get("non_finite", 0) == len(values) - len(sent) > 0


def check_processor(v: Vector) -> None:
    inputs = v["inputs"]
    ts = int(inputs["collection_time"])
    target: Labels = tuple(inputs["target_labels"].items())
    appended = len(target) + 1  # the Go agent's: target labels, pcode, instance?, node?
    if "instance" not in inputs["target_labels"]:
        target += (("instance", inputs["target_url"]),)
        appended += 1
    if inputs["add_node_label"]:
        target += (("node", inputs["node_name"]),)
        appended += 1
    identity = PackIdentity(pcode=int(inputs["pcode"]), oid=IDENTITY.oid)
    result = parse_text(inputs["text"], ts, target)
    records, _, lost = encode_all(result, identity)
    go = go_flat(v)
    assert lost.get("non_finite", 0) == len(result.values) - len(go) == 1
    assert len(records) == len(go)
    for (m, labels, x, t), (go_m, go_labels, go_x, go_t) in zip(records, go, strict=True):
        if go_m in REPORT_NAMES and len(go_labels) == appended:
            go_m = EXPORTED_PREFIX + go_m  # see REPORT_NAME_FIX
        assert (m, x, t) == (go_m, go_x, go_t), REPORT_NAME_FIX
        exposed = len(go_labels) - appended
        assert labels[:exposed] == go_labels[:exposed]
        assert sorted(labels) == sorted(go_labels), PROCESSOR_FIXES
        assert labels[exposed:] == (*target, ("pcode", inputs["pcode"])), PROCESSOR_FIXES


def check_protobuf(v: Vector) -> None:
    inputs = v["inputs"]
    ts = int(inputs["collection_time"])
    assert inputs["content_type"] == PROTOBUF_CONTENT_TYPE
    decoded = decode_protobuf(bytes.fromhex(inputs["payload_hex"]), ts)
    ours = [(m, lb, value_key(x), t) for m, lb, x, t in decoded.samples]
    assert ours == go_flat(v)
    # native_latency_seconds (integer) and float_native_seconds (float): see PROTOBUF_FIXES
    assert len(v["histograms"]) == len(decoded.histograms) == 1, PROTOBUF_FIXES
    assert decoded.histograms[0][0] == "native_latency_seconds", PROTOBUF_FIXES
    assert decoded.float_native_skipped == 1, PROTOBUF_FIXES
    assert not {m for m, *_ in ours} & {"native_latency_seconds", "float_native_seconds"}
    helps = {}
    for family, meta in decoded.metadata.items():
        r = Reader(help_record(family, meta))
        h = read_help(r)
        assert r.at_end() and h.metric == family
        helps[family] = dict(h.properties)
    assert helps == {h["metric"]: h["property"] for h in v["help_sorted_by_metric"]}
    builder = SeriesBuilder(())
    series = [builder.intern(m, lb) for m, lb, _, _ in decoded.samples]
    values = [x for _, _, x, _ in decoded.samples]
    stamps = [t for _, _, _, t in decoded.samples]
    records, _, _ = encode_all(scrape_result(series, values, ts, stamps, decoded.metadata))
    assert records == on_wire(go_flat(v))


def check_format_le(v: Vector) -> None:
    x = f64(v["inputs"]["value_bits"])
    assert format_go_float(x) == v["text"]
    assert float(v["text"]) == x


def check_processor_pack(v: Vector) -> None:
    """The processor's output as the Go agent packs it: our reader and writer agree with it."""
    if "openmx" in v and "target_labels" in v["inputs"]:
        check_processor(v)
    go = bytes.fromhex(v["hex"])
    pack = decode_pack(go)
    assert isinstance(pack, OpenMxPack)
    if "openmx" in v:
        got = [(r.metric, r.labels, value_key(r.value), r.timestamp) for r in pack.records]
        assert got == go_flat(v)
    if v.get("zip") == 1:
        assert_zipped_equal(pack.to_bytes(), go, v["inner_hex"])
    else:
        assert pack.to_bytes() == go


def check_processor_form(v: Vector) -> None:
    if v.get("hex"):
        check_processor_pack(v)
    else:
        check_processor(v)


FORMS = {
    "pack": check_pack,
    "line_template": check_value_tokens,
    "payload_hex": check_protobuf,
    "target_labels": check_processor_form,
    "text": check_text_edge_cases,
    "value_bits": check_format_le,
    "pack_bytes": check_processor_pack,
}


def form_of(v: Vector) -> str | None:
    inputs = v["inputs"]
    if "records" in inputs and (v.get("hex") or v.get("hex_variants")):
        return "pack"
    form = next((f for f in FORMS if f in inputs), None)
    if form is None and v.get("hex"):
        return "pack_bytes"  # a converter output pack given by its bytes only
    return form


@pytest.mark.parametrize("vector", group_cases("convert"))
def test_conversion_matches_go_or_a_listed_fix(vector: Vector) -> None:
    dispatch(vector, FORMS, form_of(vector))
