"""Cutting a ``WriteRequest`` into runs of series, over arbitrary requests (hypothesis).

Requests are built here with a writer of their own and read back with the
generic reader of `remote_write_support`, so the cutter is checked against
the wire format, not against the sink's encoder.
"""

from __future__ import annotations

import itertools

import cramjam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagent.sinks.remote_write.request_parts import cut_payload, cut_request
from tests.sinks.remote_write_support import wire_fields


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


label_text = st.text(max_size=12)
labels = st.dictionaries(label_text, label_text, max_size=4)
series_shape = st.tuples(
    labels,
    st.integers(0, 3),  # samples
    st.integers(0, 2),  # native histograms
    st.binary(max_size=20),  # bytes of an unknown field (exemplar-like), skipped
)


def encode_series(shape: tuple[dict[str, str], int, int, bytes]) -> bytes:
    names, samples, histograms, unknown = shape
    inner = b"".join(
        length_delimited(1, length_delimited(1, k.encode()) + length_delimited(2, v.encode()))
        for k, v in names.items()
    )
    inner += length_delimited(2, b"\x09" + bytes(8) + b"\x10\x01") * samples
    inner += length_delimited(4, b"\x08\x01") * histograms
    inner += length_delimited(3, unknown)
    return length_delimited(1, inner)


@st.composite
def write_requests(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], list[int], bytes]:
    """(series fields, metadata fields in the order they come, sample counts, the request
    with the metadata placed anywhere between the series)."""
    shapes = draw(st.lists(series_shape, min_size=1, max_size=30))
    series = [encode_series(s) for s in shapes]
    metadata = [length_delimited(3, b) for b in draw(st.lists(st.binary(max_size=10), max_size=3))]
    places = draw(
        st.lists(st.integers(0, len(series)), min_size=len(metadata), max_size=len(metadata))
    )
    in_order = [m for _, m in sorted(zip(places, metadata, strict=True), key=lambda p: p[0])]
    body = bytearray()
    for i, s in enumerate(series):
        body += b"".join(m for p, m in zip(places, metadata, strict=True) if p == i) + s
    body += b"".join(m for p, m in zip(places, metadata, strict=True) if p == len(series))
    counts = [s[1] + s[2] for s in shapes]
    return series, in_order, counts, bytes(body)


def top_fields(body: bytes) -> list[bytes]:
    """Each top-level field of ``body`` re-encoded (tag, length, value)."""
    return [length_delimited(number, value) for number, wire, value in wire_fields(body)]


@given(write_requests(), st.data())
def test_runs_put_together_give_every_series_once_in_order(
    request: tuple[list[bytes], list[bytes], list[int], bytes], data: st.DataObject
) -> None:
    series, metadata, counts, body = request
    parts = cut_payload(bytes(cramjam.snappy.compress_raw(body)))
    assert len(parts) == len(series)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(series) - 1))) if len(series) > 1 else [])
    bounds = [0, *cuts, len(series)]
    got_series, got_metadata = [], []
    for first, end in itertools.pairwise(bounds):
        sent = bytes(cramjam.snappy.decompress_raw(parts.payload(first, end)))
        for f in top_fields(sent):
            (got_series if f[0] == 0x0A else got_metadata).append((first, f))
        assert parts.samples(first, end) == sum(counts[first:end])
    assert [f for _, f in got_series] == series
    assert [f for _, f in got_metadata] == metadata
    assert all(first == 0 for first, _ in got_metadata)  # metadata goes with the first run


@given(st.lists(series_shape, min_size=1, max_size=10))
def test_labels_of_a_series_are_read_back(
    shapes: list[tuple[dict[str, str], int, int, bytes]],
) -> None:
    parts = cut_request(b"".join(encode_series(s) for s in shapes))
    assert [parts.labels(k) for k in range(len(parts))] == [s[0] for s in shapes]


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff\xff",  # not snappy
        bytes(cramjam.snappy.compress_raw(b"\x0a\x10short")),  # a field longer than the body
        bytes(cramjam.snappy.compress_raw(b"\x0b")),  # wire type 3 (groups): not used
        bytes(cramjam.snappy.compress_raw(b"\x0a\xff")),  # a length varint cut short
    ],
)
def test_a_payload_that_is_no_write_request_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        cut_payload(payload)


target_labels = st.fixed_dictionaries(
    {},
    optional={
        "job": st.sampled_from(["gpu", "dcgm", ""]),
        "instance": st.sampled_from(["a:1", "b:1"]),
    },
)


@given(st.lists(st.tuples(target_labels, labels), min_size=2, max_size=10))
def test_two_series_share_a_target_key_when_they_share_job_and_instance(
    shapes: list[tuple[dict[str, str], dict[str, str]]],
) -> None:
    series = [{**other, **target} for target, other in shapes]
    parts = cut_request(b"".join(encode_series((s, 1, 0, b"")) for s in series))

    def target(s: dict[str, str]) -> tuple[str, str]:
        return s.get("job", ""), s.get("instance", "")

    for a in range(len(series)):
        for b in range(len(series)):
            same = target(series[a]) == target(series[b])
            assert (parts.target_key(a) == parts.target_key(b)) == same
