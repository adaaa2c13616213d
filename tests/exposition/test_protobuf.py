"""The delimited protobuf exposition: flattening, native histograms, metadata, Go float labels,
malformed input."""

from __future__ import annotations

import math
import pickle
import re
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagent.exposition import ParseError
from openagent.exposition.protobuf import (
    CONTENT_TYPE,
    ProtobufError,
    decode_protobuf,
    format_go_float,
    is_protobuf,
    parse_protobuf,
)
from openagent.model import Metadata, NativeHistogram
from tests.exposition.protobuf_writer import (
    COUNTER,
    GAUGE,
    GAUGE_HISTOGRAM,
    HISTOGRAM,
    SUMMARY,
    UNTYPED,
    bucket,
    counter,
    delimited,
    f_bytes,
    f_double,
    f_str,
    f_varint,
    family,
    gauge,
    histogram,
    key,
    label,
    metric,
    native,
    summary,
    untyped,
    varint,
)
from tests.sinks.whatap.golden import by_name

TS = 1756912212000

# --- flattening ----------------------------------------------------------------------------


def test_scalar_types_one_series_each_labels_in_order() -> None:
    body = delimited(
        family("c_total", COUNTER, metric(counter(3), labels=(("z", "1"), ("a", "2")))),
        family("g", GAUGE, metric(gauge(-1.5), ts=TS - 100), metric(gauge(2), ts=0)),
        family("u", UNTYPED, metric(untyped(7), ts=-5)),
    )
    samples, meta = parse_protobuf(body, TS)
    assert samples == [
        ("c_total", (("z", "1"), ("a", "2")), 3.0, TS),
        ("g", (), -1.5, TS - 100),
        ("g", (), 2.0, TS),  # timestamp 0: the scrape's time
        ("u", (), 7.0, TS),  # negative: likewise
    ]
    assert meta == {
        "c_total": Metadata("counter", "", ""),
        "g": Metadata("gauge", "", ""),
        "u": Metadata("untyped", "", ""),
    }


def test_the_family_type_picks_the_value() -> None:
    # a gauge family whose metric carries a counter: the gauge value (absent) counts, as in Go
    samples, _ = parse_protobuf(delimited(family("g", GAUGE, metric(counter(5)))), TS)
    assert samples == [("g", (), 0.0, TS)]
    samples, _ = parse_protobuf(delimited(family("c", None, metric(counter(5)))), TS)
    assert samples == [("c", (), 5.0, TS)], "a family without type is a counter (proto default)"


def test_summary_quantiles_sum_and_count() -> None:
    m = metric(summary(42, 17.5, (0.5, 0.2), (0.99, 1.25), (1e-05, 0.0)), labels=(("svc", "a"),))
    samples, meta = parse_protobuf(delimited(family("rpc", SUMMARY, m, help_="RPC.")), TS)
    assert samples == [
        ("rpc", (("svc", "a"), ("quantile", "0.5")), 0.2, TS),
        ("rpc", (("svc", "a"), ("quantile", "0.99")), 1.25, TS),
        ("rpc", (("svc", "a"), ("quantile", "1e-05")), 0.0, TS),
        ("rpc_sum", (("svc", "a"),), 17.5, TS),
        ("rpc_count", (("svc", "a"),), 42.0, TS),
    ]
    assert meta["rpc"] == Metadata("summary", "RPC.", "")


def test_classic_histogram_buckets_and_synthesised_inf() -> None:
    no_inf = metric(
        histogram(bucket(0.1, 3), bucket(1e6, 7, 7.5), count=10, total=4.5), labels=(("c", "1"),)
    )
    with_inf = metric(histogram(bucket(math.inf, 2), count=2, total=0.5))
    float_count = metric(
        histogram(bucket(1, 1), f_double(4, 2.5), count=2, total=1.0), labels=(("c", "3"),)
    )
    body = delimited(family("h", HISTOGRAM, no_inf, with_inf, float_count))
    samples, _ = parse_protobuf(body, TS)
    assert samples == [
        ("h_bucket", (("c", "1"), ("le", "0.1")), 3.0, TS),
        ("h_bucket", (("c", "1"), ("le", "1e+06")), 7.5, TS),
        ("h_bucket", (("c", "1"), ("le", "+Inf")), 10.0, TS),
        ("h_sum", (("c", "1"),), 4.5, TS),
        ("h_count", (("c", "1"),), 10.0, TS),
        ("h_bucket", (("le", "+Inf"),), 2.0, TS),
        ("h_sum", (), 0.5, TS),
        ("h_count", (), 2.0, TS),
        ("h_bucket", (("c", "3"), ("le", "1")), 1.0, TS),
        ("h_bucket", (("c", "3"), ("le", "+Inf")), 2.5, TS),
        ("h_sum", (("c", "3"),), 1.0, TS),
        ("h_count", (("c", "3"),), 2.5, TS),
    ]


def test_native_histograms_come_out_with_spans_and_deltas_as_exposed() -> None:
    pos = (((-2, 2), (1, 1)), (3, -1, 2))
    neg = (((0, 1),), (2,))
    packed = native(schema=-1, zero_count=2, positive=pos, negative=neg, count=12, total=3.75)
    loose = native(schema=0, positive=pos, count=5, total=1.0, packed=False)
    body = delimited(
        family("lat", HISTOGRAM, metric(packed, labels=(("a", "1"),), ts=TS - 5), metric(loose))
    )
    decoded = decode_protobuf(body, TS)
    assert decoded.samples == [], "a native-only histogram has no flat series"
    first = NativeHistogram(
        schema=-1,
        zero_threshold=1e-128,
        zero_count=2,
        count=12,
        sum=3.75,
        positive_spans=((-2, 2), (1, 1)),
        positive_deltas=(3, -1, 2),
        negative_spans=((0, 1),),
        negative_deltas=(2,),
    )
    second = NativeHistogram(0, 1e-128, 0, 5, 1.0, ((-2, 2), (1, 1)), (3, -1, 2))
    assert decoded.histograms == [
        ("lat", (("a", "1"),), first, TS - 5),
        ("lat", (), second, TS),
    ]
    assert decoded.metadata == {"lat": Metadata("histogram")}


def test_native_with_classic_buckets_gives_both_and_float_natives_are_skipped() -> None:
    span_only = metric(histogram(f_bytes(9, f_varint(2, 1)), count=1))
    float_native = metric(native(f_double(4, 2.5), positive=(((0, 1),), ())), labels=(("f", "1"),))
    both = metric(native(bucket(1, 1), positive=(((0, 1),), (1,)), count=1, total=0.5))
    body = delimited(family("n", GAUGE_HISTOGRAM, span_only, float_native, both, help_="N."))
    decoded = decode_protobuf(body, TS)
    assert decoded.float_native_skipped == 1
    assert [h[2].count for h in decoded.histograms] == [1, 1]
    assert decoded.histograms[0][2].negative_spans == ((0, 1),)
    assert decoded.samples == [
        ("n_bucket", (("le", "1"),), 1.0, TS),
        ("n_bucket", (("le", "+Inf"),), 1.0, TS),
        ("n_sum", (), 0.5, TS),
        ("n_count", (), 1.0, TS),
    ]
    assert decoded.metadata == {"n": Metadata("gaugehistogram", "N.", "")}


def test_metadata_for_every_family_and_unknown_fields_skipped() -> None:
    unknown = (
        f_varint(99, 5) + key(98, 5) + b"\x01\x02\x03\x04" + f_double(97, 1.0) + f_str(96, "x")
    )
    m = f_bytes(4, label("a", "b") + unknown + f_bytes(2, f_double(1, 9) + unknown))
    body = delimited(
        family("empty", GAUGE, help_="No metrics.") + f_str(5, "seconds"),
        family("g", GAUGE) + unknown + m,
    )
    samples, meta = parse_protobuf(body, TS)
    assert samples == [("g", (("a", "b"),), 9.0, TS)]
    assert meta == {"empty": Metadata("gauge", "No metrics.", "seconds"), "g": Metadata("gauge")}


def test_empty_body_and_buffer_kinds() -> None:
    assert parse_protobuf(b"", TS) == ([], {})
    body = delimited(family("g", GAUGE, metric(gauge(1))))
    expected = parse_protobuf(body, TS)
    for kind in (bytearray(body), memoryview(body)):
        d = decode_protobuf(kind, TS)
        assert (d.samples, d.metadata) == expected


def test_the_go_vector_payload() -> None:
    v = by_name("ConvertProtobuf_delimited_all_types")
    assert v is not None
    decoded = decode_protobuf(bytes.fromhex(v["inputs"]["payload_hex"]), TS)
    assert len(decoded.samples) == len(v["openmx"]) == 19
    assert decoded.float_native_skipped == 1
    [want] = v["histograms"]
    [(name, labels, h, ts)] = decoded.histograms
    assert (name, labels, ts) == (want["metric"], tuple(map(tuple, want["labels"])), TS)
    assert h == NativeHistogram(
        schema=want["schema"],
        zero_threshold=struct.unpack(">d", bytes.fromhex(want["zero_threshold_bits"]))[0],
        zero_count=want["zero_count"],
        count=want["count"],
        sum=want["sum"],
        positive_spans=tuple((s["Offset"], s["Length"]) for s in want["positive_spans"]),
        positive_deltas=tuple(want["positive_buckets"]),
        negative_spans=tuple((s["Offset"], s["Length"]) for s in want["negative_spans"]),
        negative_deltas=tuple(want["negative_buckets"]),
    )


# --- malformed input -----------------------------------------------------------------------

GOOD = family("g", GAUGE, metric(gauge(1)))

MALFORMED: list[tuple[str, bytes, str]] = [
    ("truncated length", b"\x80", "length of metric family 1: truncated varint"),
    ("length overrun", varint(50) + GOOD, "claims 50 bytes"),
    ("varint too long", varint(11) + b"\xff" * 11, "varint longer than 10 bytes"),
    ("group wire type", delimited(key(1, 3)), "unsupported wire type 3"),
    ("field zero", delimited(key(0, 0) + b"\x00"), "field number 0"),
    ("name as varint", delimited(f_varint(1, 5)), "wire type 0, expected 2"),
    ("truncated double", delimited(f_str(1, "g") + key(7, 1) + b"\x00\x00"), "truncated 8-byte"),
    ("bad utf-8", delimited(f_bytes(1, b"\xff\xfe")), "invalid UTF-8"),
    ("empty name", delimited(f_str(2, "help only")), "invalid metric family name ''"),
    ("bad name", delimited(family("1abc", GAUGE)), "invalid metric family name '1abc'"),
    ("dash in name", delimited(family("a-b", GAUGE)), "invalid metric family name 'a-b'"),
    ("unknown type", delimited(family("g", 7)), "unknown metric type 7"),
    (
        "bad label name",
        delimited(family("g", GAUGE, metric(gauge(1), labels=(("a.b", "x"),)))),
        "invalid label name 'a.b'",
    ),
    (
        "reserved label",
        delimited(family("g", GAUGE, metric(gauge(1), labels=(("__name__", "x"),)))),
        "'__name__' is reserved",
    ),
    (
        "duplicate label",
        delimited(family("g", GAUGE, metric(gauge(1), labels=(("a", "1"), ("a", "2"))))),
        "duplicate label name 'a'",
    ),
    (
        "quantile label clash",
        delimited(
            family("s", SUMMARY, metric(summary(1, 1, (0.5, 1)), labels=(("quantile", "x"),)))
        ),
        "duplicate label name 'quantile'",
    ),
    (
        "le label clash",
        delimited(family("h", HISTOGRAM, metric(histogram(bucket(1, 1)), labels=(("le", "x"),)))),
        "duplicate label name 'le'",
    ),
    (
        "schema as a double",
        delimited(family("h", HISTOGRAM, metric(histogram(f_double(5, 1.0))))),
        "Histogram field 5 has wire type 1, expected 0",
    ),
    (
        "truncated packed deltas",
        delimited(family("h", HISTOGRAM, metric(histogram(f_bytes(13, b"\x80"))))),
        "truncated varint",
    ),
    ("metric as varint", delimited(f_str(1, "g") + f_varint(4, 1)), "wire type 0, expected 2"),
    (
        "bad utf-8 label value",
        delimited(family("g", GAUGE, f_bytes(4, f_bytes(1, f_str(1, "a") + f_bytes(2, b"\xc3"))))),
        "invalid UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_input_is_a_clear_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=re.escape(message)) as err:
        decode_protobuf(body, TS)
    assert isinstance(err.value, ParseError)
    assert str(err.value).startswith(f"byte {err.value.offset}: ")
    assert 0 <= err.value.offset <= len(body)


def test_error_pickles() -> None:
    err = ProtobufError(12, "truncated varint")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, ProtobufError)
    assert (back.offset, back.reason, str(back)) == (12, "truncated varint", str(err))


VECTOR_PAYLOAD = bytes.fromhex(
    (by_name("ConvertProtobuf_delimited_all_types") or {"inputs": {"payload_hex": ""}})["inputs"][
        "payload_hex"
    ]
)


def decode_or_parse_error(body: bytes) -> None:
    try:
        decoded = decode_protobuf(body, TS)
    except ProtobufError:
        return
    for name, labels, value, ts in decoded.samples:
        assert isinstance(name, str) and isinstance(value, float) and isinstance(ts, int)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in labels)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(body: bytes) -> None:
    decode_or_parse_error(body)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(VECTOR_PAYLOAD) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, len(VECTOR_PAYLOAD)),
)
def test_fuzz_mutated_vector(flips: list[tuple[int, int]], cut: int) -> None:
    body = bytearray(VECTOR_PAYLOAD)
    for pos, byte in flips:
        body[pos] = byte
    decode_or_parse_error(bytes(body))
    decode_or_parse_error(bytes(body[:cut]))


# --- Go's shortest 'g' formatting ---------------------------------------------------------------

GO_G = [
    (0.1, "0.1"),
    (1.0, "1"),
    (100000.0, "100000"),
    (123456.0, "123456"),
    (1e6, "1e+06"),
    (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (2.5e-7, "2.5e-07"),
    (1e21, "1e+21"),
    (1e100, "1e+100"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-0.5, "-0.5"),
    (-2e-9, "-2e-09"),
    (0.0, "0"),
    (-0.0, "-0"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (math.nan, "NaN"),
    (999999.0, "999999"),
    (999999.5, "999999.5"),
    (0.30000000000000004, "0.30000000000000004"),
]


@pytest.mark.parametrize(("x", "text"), GO_G, ids=[t for _, t in GO_G])
def test_format_go_float_table(x: float, text: str) -> None:
    assert format_go_float(x) == text


_PLAIN = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")
_SCI = re.compile(r"-?[1-9](\.[0-9]*[1-9])?e[+-][0-9]{2,3}")


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_go_float_round_trips_in_gos_form(x: float) -> None:
    text = format_go_float(x)
    assert float(text) == x
    if x == 0:
        return
    shortest = Decimal(repr(x)).normalize()  # Python's repr: the shortest round trip, as Go's
    exponent = shortest.adjusted()
    digits = "".join(map(str, shortest.as_tuple().digits))
    assert text.lstrip("-").split("e")[0].replace(".", "").strip("0") == digits.strip("0")
    if exponent < -4 or exponent >= 6:
        assert _SCI.fullmatch(text), text
    else:
        assert _PLAIN.fullmatch(text), text


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (CONTENT_TYPE, True),
        (
            'Application/Vnd.Google.Protobuf; encoding="delimited"; '
            "proto=io.prometheus.client.MetricFamily",
            True,
        ),
        ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily", False),
        ("application/vnd.google.protobuf; proto=other.Message; encoding=delimited", False),
        ("text/plain; version=0.0.4", False),
        (None, False),
    ],
)
def test_only_the_delimited_metric_family_type_is_protobuf(
    content_type: str | None, expected: bool
) -> None:
    assert is_protobuf(content_type) is expected
