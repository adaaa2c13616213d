"""OpenMx records and packs: the cached-prefix fast path, limits, zip rule, decoding."""

from __future__ import annotations

import gzip
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.whatap.codec import DecodeError, EncodeError, Reader, blob_bytes
from openagent.sinks.whatap.header import PackHeader
from openagent.sinks.whatap.openmx import (
    BucketSpan,
    OpenMx,
    OpenMxEndpointPack,
    OpenMxHelp,
    OpenMxHelpPack,
    OpenMxHistogram,
    OpenMxHistogramPack,
    OpenMxPack,
    build_openmx_pack,
    encode_help_record,
    encode_sample,
    encode_series_prefix,
    gunzip,
    gzip_compress,
    read_help,
    records_blob,
)
from openagent.sinks.whatap.packs import decode_pack

HEADER = PackHeader(pcode=33789, oid=1617387566, time=1756912212000, okind=-1108554816, onode=7)
DCGM_LABELS = (
    ("gpu", "0"),
    ("UUID", "GPU-9bd3b585-5b44-820f-5244-1b9e7486100f"),
    ("pci_bus_id", "00000000:20:1D.0"),
    ("device", "nvidia0"),
    ("modelName", "NVIDIA A100-SXM4-40GB"),
    ("Hostname", "whatap-node-agent-lpk7f"),
)


def test_record_is_prefix_plus_sample() -> None:
    rec = OpenMx("DCGM_FI_DEV_GPU_UTIL", DCGM_LABELS, 1756912212000, 87.0)
    prefix = encode_series_prefix(rec.metric, rec.labels)
    assert prefix + encode_sample(rec.timestamp, rec.value) == rec.to_bytes()
    assert rec.to_bytes().endswith(bytes.fromhex("000001991020d8204055c00000000000"))


def test_pack_from_encoded_records_equals_pack_object() -> None:
    recs = [OpenMx(f"m{i}", DCGM_LABELS, 1756912212000 + i, i / 3) for i in range(50)]
    encoded = [r.to_bytes() for r in recs]
    data = build_openmx_pack(HEADER, encoded, "http://10.0.0.1:9400/metrics")
    assert data == OpenMxPack(HEADER, recs, "http://10.0.0.1:9400/metrics").to_bytes()
    back = decode_pack(data)
    assert back == OpenMxPack(HEADER, recs, "http://10.0.0.1:9400/metrics")
    assert isinstance(back, OpenMxPack) and back.zipped is True


def test_255_labels_fit_and_256_raise() -> None:
    labels = tuple((f"k{i}", "v") for i in range(256))
    prefix = encode_series_prefix("m", labels[:255])
    assert prefix[3] == 255
    with pytest.raises(EncodeError, match=r"series 'm' has 256 labels; .* at most 255"):
        encode_series_prefix("m", labels)


def test_record_count_over_i16_raises() -> None:
    with pytest.raises(EncodeError, match="32768 records"):
        records_blob([b""] * 32768)


def test_invalid_sample_raises_encode_error() -> None:
    with pytest.raises(EncodeError, match="timestamp"):
        encode_sample(2**63, 1.0)


def test_nan_and_negative_zero_keep_their_bits() -> None:
    rec = OpenMx("m", (), -1, -0.0)
    back = decode_pack(build_openmx_pack(HEADER, [rec.to_bytes()]))
    assert isinstance(back, OpenMxPack)
    assert math.copysign(1, back.records[0].value) == -1
    nan = decode_pack(build_openmx_pack(HEADER, [OpenMx("m", (), 0, math.nan).to_bytes()]))
    assert isinstance(nan, OpenMxPack) and math.isnan(nan.records[0].value)


def test_zip_threshold_is_100_raw_bytes() -> None:
    def pack_for(blob_len: int) -> bytes:
        # blob = 3 + record; record = 1 + (1 + name) + 1 + 16
        name = "n" * (blob_len - 22)
        rec = OpenMx(name, (), 0, 0.5).to_bytes()
        assert len(records_blob([rec])) == blob_len
        return build_openmx_pack(HEADER, [rec])

    zip_flag_at = 2 + len(HEADER.to_bytes())
    assert pack_for(100)[zip_flag_at] == 0
    assert pack_for(101)[zip_flag_at] == 1


def test_gzip_header_matches_go_and_inflates_with_the_stdlib() -> None:
    data = bytes(range(256)) * 4
    gz = gzip_compress(data)
    assert gz[:10].hex() == "1f8b08000000000000ff"
    assert gzip.decompress(gz) == data


def test_gunzip_bounds_output_and_reports_truncation() -> None:
    gz = gzip_compress(bytes(10000))
    assert gunzip(gz, 10000) == bytes(10000)
    with pytest.raises(DecodeError, match="inflates beyond 9999 bytes"):
        gunzip(gz, 9999)
    with pytest.raises(DecodeError, match="truncated"):
        gunzip(gz[:-12])
    with pytest.raises(DecodeError, match="does not inflate"):
        gunzip(b"not gzip at all")


def test_zipped_pack_with_a_broken_stream_is_a_decode_error() -> None:
    blob = records_blob([OpenMx("m" * 200, (), 0, 1.0).to_bytes()])
    broken = gzip_compress(blob)[:-20]
    data = (0x1603).to_bytes(2, "big") + HEADER.to_bytes() + b"\x01" + blob_bytes(broken)
    with pytest.raises(DecodeError, match="zipped records blob"):
        decode_pack(data)


def test_stray_bytes_inside_the_records_blob_are_rejected() -> None:
    blob = records_blob([OpenMx("m", (), 0, 1.0).to_bytes()]) + b"\x00"
    data = (0x1603).to_bytes(2, "big") + HEADER.to_bytes() + b"\x00" + blob_bytes(blob)
    with pytest.raises(DecodeError, match="1 stray bytes after the records"):
        decode_pack(data)


def test_padding_after_a_pack_reads_as_an_empty_endpoint() -> None:
    data = build_openmx_pack(HEADER, [OpenMx("m", (), 0, 1.0).to_bytes()])
    back = decode_pack(data + bytes(11))
    assert isinstance(back, OpenMxPack) and back.endpoint == ""


def test_help_record_standard_map_and_go_nil_quirk() -> None:
    ours = encode_help_record("x", {"help": "nil", "type": "gauge"})
    assert ours.hex() == "000178500102" + "0468656c7032036e696c" + "04747970653205" + "6761756765"
    go = bytes.fromhex("00017850010104747970650032036e696c")
    assert read_help(Reader(go)) == OpenMxHelp("x", {"type": "nil"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("0001785101", "expected a Map \\(80\\)"),
        ("000178500101016b1400", "help property 'k' of 'x': expected Text \\(50\\)"),
        ("000178500101016b00", "expected Text"),
    ],
)
def test_help_record_errors(data: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        read_help(Reader(bytes.fromhex(data)))


def test_help_pack_round_trip_keeps_property_order() -> None:
    recs = [OpenMxHelp(f"m{i}", {"type": "counter", "help": f"h {i}"}) for i in range(10)]
    back = decode_pack(OpenMxHelpPack(HEADER, recs).to_bytes())
    assert isinstance(back, OpenMxHelpPack)
    assert back == OpenMxHelpPack(HEADER, recs)
    assert [list(r.properties) for r in back.records] == [["type", "help"]] * 10


def test_histogram_pack_round_trip() -> None:
    hist = OpenMxHistogram(
        "rpc_seconds",
        (("job", "x"),),
        1756912212000,
        schema=3,
        zero_threshold=1e-128,
        zero_count=2**64 - 1,
        count=10,
        sum=12.5,
        positive_spans=(BucketSpan(-2, 3), BucketSpan(1, 2**32 - 1)),
        positive_buckets=(1, 2, -1, 0, 5),
        negative_spans=(),
        negative_buckets=(),
    )
    pack = OpenMxHistogramPack(HEADER, [hist, hist])
    assert decode_pack(pack.to_bytes()) == pack
    with pytest.raises(EncodeError, match="unsigned 64-bit"):
        OpenMxHistogram("m", (), 0, 0, 0.0, -1, 0, 0.0).to_bytes()


def test_endpoint_pack_layout() -> None:
    pack = OpenMxEndpointPack(HEADER, ["http://a:1/metrics", "http://b:2/metrics"])
    data = pack.to_bytes()
    assert data[: 2 + len(HEADER.to_bytes()) + 2].hex().endswith("0002")
    assert decode_pack(data) == pack
    assert OpenMxEndpointPack(HEADER, []).to_bytes().endswith(b"\x00\x00")


U64 = st.integers(min_value=0, max_value=2**64 - 1)
SPANS = st.lists(
    st.builds(BucketSpan, st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**32 - 1)),
    max_size=4,
).map(tuple)
DELTAS = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8).map(tuple)
HISTOGRAMS = st.builds(
    OpenMxHistogram,
    metric=st.text(min_size=1, max_size=20),
    labels=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=4).map(tuple),
    timestamp=st.integers(-(2**63), 2**63 - 1),
    schema=st.integers(-(2**31), 2**31 - 1),
    zero_threshold=st.floats(allow_nan=False),
    zero_count=U64,
    count=U64,
    sum=st.floats(allow_nan=False),
    positive_spans=SPANS,
    positive_buckets=DELTAS,
    negative_spans=SPANS,
    negative_buckets=DELTAS,
)


@given(st.lists(HISTOGRAMS, max_size=5))
def test_any_histogram_records_round_trip_through_a_pack_zipped_or_not(
    hists: list[OpenMxHistogram],
) -> None:
    pack = OpenMxHistogramPack(HEADER, hists)
    back = decode_pack(pack.to_bytes())
    assert isinstance(back, OpenMxHistogramPack)
    assert back == pack
    assert back.zipped == (len(records_blob([h.to_bytes() for h in hists])) > 100)
