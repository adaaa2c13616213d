"""The harness' remote-write reader, on bodies built by openagent's own encoder."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest

from benchmarks import prompb_reader as pr
from openagent.model import STALE_NAN_BITS, Series
from openagent.sinks.remote_write.encodings import SeriesEncodings
from openagent.sinks.remote_write.prompb import WriteRequestBuilder, varint

NOW_MS = 1_760_000_000_123
GPU = (("gpu", "0"), ("UUID", "GPU-1"), ("Hostname", "gpu-node-0"), ("job", "dcgm"))


def _series(name: str, *extra: tuple[str, str]) -> Series:
    return Series(name, GPU + extra)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + varint(len(payload)) + payload


def _body() -> tuple[bytes, list[Series]]:
    """A request with plain samples, a scrape duration, a stale marker and two samples of
    one series with their own timestamps."""
    temp, power = _series("DCGM_FI_DEV_GPU_TEMP"), _series("DCGM_FI_DEV_POWER_USAGE")
    duration = Series("scrape_duration_seconds", (("job", "dcgm"), ("instance", "a:1")))
    builder = WriteRequestBuilder(SeriesEncodings("enc0"))
    builder.add_samples([temp, power, duration], [41.0, 250.5, 0.0125], NOW_MS)
    builder.add_stale([power], NOW_MS + 1000)
    builder.add_timestamped([temp, temp], [42.0, 43.0], [NOW_MS + 2000, NOW_MS + 3000])
    return bytes(builder.buf), [temp, power, duration]


def test_reads_what_the_encoder_wrote() -> None:
    raw, (temp, power, duration) = _body()
    got = pr.read_write_request(raw)
    assert [s.name for s in got] == [
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "scrape_duration_seconds",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_GPU_TEMP",
    ]
    assert got[0].labels == {"__name__": temp.name, **dict(temp.labels)}
    assert got[0].samples == [(41.0, NOW_MS)]
    assert got[2].labels == {"__name__": duration.name, **dict(duration.labels)}
    assert got[2].samples == [(0.0125, NOW_MS)]
    ((stale, stale_ts),) = got[3].samples
    assert math.isnan(stale) and stale_ts == NOW_MS + 1000
    assert struct.unpack("<Q", struct.pack("<d", stale))[0] == STALE_NAN_BITS
    assert got[4].samples == [(42.0, NOW_MS + 2000), (43.0, NOW_MS + 3000)]
    assert power.name == got[1].name


def test_timestamps_of_other_varint_lengths_and_negative_ones() -> None:
    builder = WriteRequestBuilder()
    builder.add_samples([_series("up")], [1.0], 5)
    builder.add_timestamped([_series("up", ("x", "y"))], [2.0], [-7])
    got = pr.read_write_request(bytes(builder.buf))
    assert [s.samples for s in got] == [[(1.0, 5)], [(2.0, -7)]]


def test_body_facts_count_every_sample_and_keep_durations_only() -> None:
    raw, _ = _body()
    facts = pr.BodyFacts()
    facts.add_body(bytes(cramjam.snappy.compress_raw(raw)), "snappy", NOW_MS + 4000)
    assert (facts.bodies, facts.samples, facts.errors) == (1, 6, 0)
    assert facts.scrape_durations_s == [0.0125]
    assert facts.delays_ms == {4000: 3, 3000: 1, 2000: 1, 1000: 1}


def test_fast_scan_agrees_with_the_full_reader() -> None:
    raw, _ = _body()
    full = pr.BodyFacts()
    full.add(pr.read_write_request(raw), NOW_MS)
    counts, durations = pr.scan_write_request(raw)
    assert durations == full.scrape_durations_s
    assert {NOW_MS - ts: n for ts, n in counts.items()} == full.delays_ms


def test_unknown_fields_are_skipped() -> None:
    raw, _ = _body()
    label = _field(0x0A, _field(0x0A, b"__name__") + _field(0x12, b"scrape_duration_seconds"))
    sample = _field(0x12, b"\x09" + struct.pack("<d", 0.5) + b"\x10" + varint(NOW_MS))
    exemplar = _field(0x1A, b"\x08\x01")  # TimeSeries field 3
    far_field = b"\x82\x01" + varint(2) + b"ab"  # TimeSeries field 16: not the plain layout
    metadata = _field(0x1A, _field(0x12, b"up"))  # WriteRequest field 3
    odd = _field(0x0A, label + exemplar + far_field + sample)
    for body in (raw + metadata, raw + odd):
        facts = pr.BodyFacts()
        facts.add_body(bytes(cramjam.snappy.compress_raw(body)), "snappy", NOW_MS)
        assert facts.errors == 0
    assert facts.samples == 7
    assert facts.scrape_durations_s == [0.0125, 0.5]
    with pytest.raises(pr.DecodeError):
        pr.scan_write_request(odd)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\x0a\x05abc", "identity"),  # length runs past the end
        (b"\x0a" + b"\xff" * 11, "identity"),  # varint longer than 64 bits
        (b"\x0b", "identity"),  # wire type 3 (groups) is not used by prompb
        (b"not snappy at all \xff\xff", "snappy"),
        (b"x", "br"),
    ],
)
def test_bad_bodies_are_counted_not_raised(body: bytes, encoding: str) -> None:
    facts = pr.BodyFacts()
    facts.add_body(body, encoding, NOW_MS)
    assert (facts.errors, facts.bodies, facts.samples) == (1, 0, 0)


def test_zstd_bodies_read_too() -> None:
    raw, _ = _body()
    assert pr.decompress(bytes(cramjam.zstd.compress(raw)), "zstd") == raw
    assert pr.decompress(bytes(cramjam.snappy.compress_raw(raw)), "") == raw
