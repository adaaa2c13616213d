"""Remote-write encoding and batching, checked with an independent protobuf reader.

Everything here runs without a network: the payloads are decompressed with
``cramjam.snappy.decompress_raw`` and parsed by `tests.sinks.remote_write_support`.
"""

from __future__ import annotations

import math
import struct
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagent import cli
from openagent.model import STALE_NAN_BITS, ScrapeResult, Series
from openagent.settings import SettingsError, load_settings
from openagent.sinks.remote_write import (
    RemoteWriteOptions,
    RemoteWriteSink,
    RemoteWriteTLS,
    parse_retry_after,
)
from openagent.sinks.remote_write.encodings import BlockEncoding, label_field
from openagent.sinks.remote_write.prompb import sorted_labels, varint
from openagent.wiring import build_sinks
from tests.sinks.remote_write_support import (
    decode_payload,
    make_result,
    read_varint,
)

URL = "http://127.0.0.1:9/api/v1/write"
NOW_MS = 1_764_300_000_000


def bits(x: float) -> int:
    return int.from_bytes(struct.pack("<d", x), "little")


def one_batch(sink: RemoteWriteSink, *results: ScrapeResult) -> bytes:
    batches = [b for r in results for b in sink.encode(r).batches] + sink.flush()
    assert len(batches) == 1
    return batches[0].payload


# -- protobuf primitives --------------------------------------------------------


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varint_round_trips_int64(n: int) -> None:
    value, end = read_varint(varint(n), 0)
    assert end == len(varint(n))
    assert (value - (1 << 64) if value >= 1 << 63 else value) == n


def test_varint_known_bytes() -> None:
    assert varint(0) == b"\x00"
    assert varint(1) == b"\x01"
    assert varint(300) == b"\xac\x02"
    assert len(varint(NOW_MS)) == 6
    assert len(varint(-1)) == 10


def test_labels_are_sorted_with_name_among_them_and_empty_values_left_out() -> None:
    s = Series(
        "DCGM_FI_DEV_GPU_UTIL",
        (("gpu", "0"), ("UUID", "GPU-1"), ("pod", ""), ("Hostname", "h"), ("a", "1")),
    )
    result = ScrapeResult("t", "j", "i", "u", NOW_MS, series=[s], values=[1.0])
    (decoded,) = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    assert decoded.labels == [
        ("Hostname", "h"),
        ("UUID", "GPU-1"),
        ("__name__", "DCGM_FI_DEV_GPU_UTIL"),
        ("a", "1"),
        ("gpu", "0"),
    ]
    assert [n for n, _ in decoded.labels] == sorted(n for n, _ in decoded.labels)


def test_unicode_and_long_label_values_survive() -> None:
    long = "x" * 300
    s = Series("m", (("path", 'a"b\\c\n한글'), ("long", long)))
    result = ScrapeResult("t", "j", "i", "u", NOW_MS, series=[s], values=[2.5])
    (decoded,) = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    assert dict(decoded.labels) == {"__name__": "m", "path": 'a"b\\c\n한글', "long": long}
    assert decoded.samples == [(bits(2.5), NOW_MS)]


# -- samples, NaN and stale markers ---------------------------------------------


def test_values_and_timestamps_decode_back() -> None:
    result = make_result(50)
    decoded = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    assert len(decoded) == 50
    for i, ts in enumerate(decoded):
        assert dict(ts.labels) == {"__name__": "m_metric", "i": str(i), "job": "j"}
        assert ts.samples == [(bits(float(i)), NOW_MS)]


def test_stale_markers_carry_the_stale_nan_and_real_nan_keeps_its_bits() -> None:
    gone = [Series("gone", (("k", str(i)),)) for i in range(3)]
    alive = [Series("a", ()), Series("b", ()), Series("c", ())]
    values = [math.nan, math.inf, -math.inf]
    result = ScrapeResult("t", "j", "i", "u", NOW_MS, series=alive, values=values, stale=gone)
    decoded = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    by_name = {(d.name, dict(d.labels).get("k")): d.samples for d in decoded}
    assert by_name[("a", None)] == [(bits(math.nan), NOW_MS)]
    assert bits(math.nan) != STALE_NAN_BITS
    assert by_name[("b", None)] == [(bits(math.inf), NOW_MS)]
    assert by_name[("c", None)] == [(bits(-math.inf), NOW_MS)]
    for i in range(3):
        assert by_name[("gone", str(i))] == [(STALE_NAN_BITS, NOW_MS)]


def test_final_result_marks_every_series_stale() -> None:
    series = make_result(5).series
    final = ScrapeResult("t", "j", "i", "u", NOW_MS + 1, stale=series, final=True)
    sink = RemoteWriteSink(RemoteWriteOptions(URL))
    (batch,) = sink.encode(final).batches + sink.flush()
    assert batch.samples == 5 and batch.oldest_ms == NOW_MS + 1
    assert {s for d in decode_payload(batch.payload) for s, _ in d.samples} == {STALE_NAN_BITS}


def test_explicit_timestamps_and_consecutive_samples_share_a_timeseries() -> None:
    a, b = Series("a", (("x", "1"),)), Series("b", ())
    result = ScrapeResult(
        "t",
        "j",
        "i",
        "u",
        NOW_MS,
        series=[a, a, b, a],
        values=[1.0, 2.0, 3.0, 4.0],
        timestamps=[NOW_MS - 2000, NOW_MS - 1000, -5, 1000],
    )
    sink = RemoteWriteSink(RemoteWriteOptions(URL))
    sink.encode(result)
    (batch,) = sink.flush()
    assert batch.samples == 4 and batch.oldest_ms == -5
    decoded = decode_payload(batch.payload)
    assert [(d.name, d.samples) for d in decoded] == [
        ("a", [(bits(1.0), NOW_MS - 2000), (bits(2.0), NOW_MS - 1000)]),
        ("b", [(bits(3.0), -5)]),
        ("a", [(bits(4.0), 1000)]),
    ]


@pytest.mark.parametrize("ts", [0, 1, 1000, -1, 2**50, NOW_MS])
def test_timestamps_of_any_varint_length(ts: int) -> None:
    result = make_result(3, timestamp_ms=ts, stale=[Series("gone", ())])
    decoded = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    assert [d.samples[0][1] for d in decoded] == [ts] * 4
    assert decoded[-1].samples[0][0] == STALE_NAN_BITS
    assert [d.values[0] for d in decoded[:3]] == [0.0, 1.0, 2.0]


def test_labels_are_encoded_once_and_shared_through_the_given_series_slot() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL))
    sink.use_series_slot("enc2")
    block = (("gpu", "0"), ("Hostname", "n1"), ("job", "j"))
    shared = [Series("DCGM_FI_DEV_GPU_UTIL", block), Series("DCGM_FI_DEV_FB_USED", block)]
    sink.encode(ScrapeResult("t", "j", "i", "u", NOW_MS, series=shared, values=[1.0, 2.0]))
    cached = shared[0].enc2
    assert isinstance(cached, BlockEncoding) and shared[1].enc2 is cached
    assert cached.pre == label_field("Hostname", "n1")
    assert cached.post == label_field("gpu", "0") + label_field("job", "j")
    decoded = decode_payload(sink.flush()[0].payload)
    assert [d.labels for d in decoded] == [sorted_labels(s) for s in shared]
    result = make_result(2)
    sink.encode(result)
    cached = result.series[0].enc2
    assert isinstance(cached, BlockEncoding)
    assert result.series[0].enc0 is None and result.series[0].enc1 is None
    sink.encode(make_result(0))
    again = ScrapeResult("t", "j", "i", "u", NOW_MS + 1000, series=result.series, values=[5, 6])
    sink.encode(again)
    assert result.series[0].enc2 is cached
    (batch,) = sink.flush()
    decoded = decode_payload(batch.payload)
    assert [d.samples for d in decoded] == [
        [(bits(0.0), NOW_MS)],
        [(bits(1.0), NOW_MS)],
        [(bits(5.0), NOW_MS + 1000)],
        [(bits(6.0), NOW_MS + 1000)],
    ]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(
                st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True).filter(
                    lambda k: k != "__name__"
                ),
                st.text(max_size=20),
                max_size=6,
            ),
            st.floats(allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=-(2**62), max_value=2**62),
)
def test_random_series_round_trip(items: list[tuple[dict[str, str], float]], ts: int) -> None:
    series = [Series("rt", tuple(labels.items())) for labels, _ in items]
    values = [v for _, v in items]
    result = ScrapeResult("t", "j", "i", "u", ts, series=series, values=values)
    decoded = decode_payload(one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), result))
    assert len(decoded) == len(items)
    for d, (labels, value) in zip(decoded, items, strict=True):
        expected = {k: v for k, v in labels.items() if v} | {"__name__": "rt"}
        assert dict(d.labels) == expected
        assert [n for n, _ in d.labels] == sorted(expected)
        assert d.samples == [(bits(value), ts)]


# -- compression and batching ---------------------------------------------------


def test_payload_is_snappy_block_format_not_framed() -> None:
    payload = one_batch(RemoteWriteSink(RemoteWriteOptions(URL)), make_result(10))
    assert not payload.startswith(b"\xff\x06\x00\x00sNaPpY")
    raw = bytes(cramjam.snappy.decompress_raw(payload))
    assert read_varint(payload, 0)[0] == len(raw)


def test_batches_close_at_max_samples() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL, max_samples=100))
    batches = sink.encode(make_result(250, stale=[Series("gone", ())])).batches
    assert [b.samples for b in batches] == [100, 100]
    assert [b.samples for b in sink.flush()] == [51]
    assert sink.flush() == []
    assert [len(decode_payload(b.payload)) for b in batches] == [100, 100]


def test_batches_fill_across_results() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL, max_samples=100, max_batch_delay=60))
    out = []
    for k in range(7):
        out += sink.encode(make_result(30, timestamp_ms=NOW_MS + k * 1000)).batches
    assert [b.samples for b in out] == [100, 100]
    assert out[0].oldest_ms == NOW_MS and out[1].oldest_ms == NOW_MS + 3000
    (rest,) = sink.flush()
    assert rest.samples == 10
    decoded = [d for b in [*out, rest] for d in decode_payload(b.payload)]
    assert len(decoded) == 210
    assert [d.samples[0][1] for d in decoded] == sorted(d.samples[0][1] for d in decoded)


def test_batches_close_at_max_bytes() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL, max_bytes=1))
    batches = sink.encode(make_result(5)).batches
    assert [b.samples for b in batches] == [5]
    big = RemoteWriteSink(RemoteWriteOptions(URL, max_bytes=20_000))
    batches = big.encode(make_result(3000)).batches
    assert len(batches) >= 2 and all(b.samples == 1000 for b in batches)
    raw_sizes = [len(cramjam.snappy.decompress_raw(b.payload)) for b in batches]
    assert all(size >= 20_000 for size in raw_sizes)
    assert sum(b.samples for b in batches + big.flush()) == 3000


def test_an_open_batch_closes_after_the_batch_delay() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL, max_batch_delay=0.05))
    assert sink.encode(make_result(3)).batches == []
    time.sleep(0.06)
    (late,) = sink.encode(make_result(2, timestamp_ms=NOW_MS + 1)).batches
    assert late.samples == 3 and late.oldest_ms == NOW_MS
    (rest,) = sink.flush()
    assert rest.samples == 2


def test_no_batch_delay_holds_nothing_back() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL, max_batch_delay=0, max_samples=100))
    assert [b.samples for b in sink.encode(make_result(250)).batches] == [100, 100, 50]
    assert [b.samples for b in sink.encode(make_result(3)).batches] == [3]
    assert sink.flush() == []


def test_empty_results_make_no_batches() -> None:
    sink = RemoteWriteSink(RemoteWriteOptions(URL))
    assert sink.encode(make_result(0)).batches == []
    assert sink.flush() == []


# -- Retry-After ----------------------------------------------------------------


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now.timestamp()) == 7.0
    assert parse_retry_after(" 1.5 ", now.timestamp()) == 1.5
    assert parse_retry_after("-3", now.timestamp()) == 0.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(90.0)
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now.timestamp()) == 0.0
    for bad in (None, "", "soon", "nan", "inf", "Wed, 99 Foo 2026 00:00:00"):
        assert parse_retry_after(bad, now.timestamp()) is None


# -- construction from settings -------------------------------------------------


@pytest.mark.parametrize("spelling", ["remote-write", "remote_write", "Remote-Write"])
def test_both_spellings_build_the_sink(spelling: str) -> None:
    s = load_settings(
        sinks=[spelling],
        remote_write_url="http://127.0.0.1:9090/api/v1/write",
        remote_write_max_samples="500",
        remote_write_max_bytes="1MiB",
        remote_write_batch_delay="250ms",
        remote_write_timeout="5s",
    )
    (sink,) = build_sinks(s)
    assert isinstance(sink, RemoteWriteSink)
    assert (sink.max_samples, sink.max_bytes) == (500, 1024 * 1024)
    assert (sink.max_batch_delay, sink.timeout) == (0.25, 5.0)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAGENT_SINKS", "jsonl,remote-write")
    monkeypatch.setenv("OPENAGENT_REMOTE_WRITE_URL", "https://127.0.0.1:9090/api/v1/write")
    monkeypatch.setenv("OPENAGENT_REMOTE_WRITE_INSECURE_SKIP_VERIFY", "true")
    monkeypatch.setenv("OPENAGENT_REMOTE_WRITE_SERVER_NAME", "prom.example")
    s = load_settings()
    assert s.sinks == ["jsonl", "remote_write"]
    sink = build_sinks(s)[1]
    assert isinstance(sink, RemoteWriteSink)


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="OPENAGENT_REMOTE_WRITE_URL or --remote-write-url"):
        build_sinks(load_settings(sinks=["remote-write"]))


def test_bad_settings_name_the_setting_and_flag() -> None:
    with pytest.raises(SettingsError, match=r"remote_write_max_samples .*--remote-write-max-"):
        load_settings(remote_write_max_samples="0")
    with pytest.raises(SettingsError, match=r"remote_write_url"):
        load_settings(remote_write_url="ftp://x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": "u", "bearer_token_file": "/t"}, "not both"),
        ({"tls": RemoteWriteTLS(cert_file="/c")}, "both cert and key"),
        ({"tls": RemoteWriteTLS(ca_file="/ca")}, "https://"),
        ({"timeout": 0}, "positive"),
        ({"max_samples": 0}, "at least 1"),
    ],
)
def test_contradictory_sink_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RemoteWriteSink(RemoteWriteOptions(URL, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://h/x", "http://u:p@h/x", "http://"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="remote write URL"):
        RemoteWriteSink(RemoteWriteOptions(url))


def test_command_line_flags_reach_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``openagent run`` refuses bad remote-write flags before starting anything."""
    # keep this process's logging as the suite configured it
    monkeypatch.setattr("openagent.agent.setup_logging", lambda *args: None)
    config = tmp_path / "scrape_config.yaml"  # a config named with --config must load
    config.write_text("features:\n  openAgent:\n    enabled: true\n")
    base = ["run", "--listen", "127.0.0.1:0", "--config", str(config)]
    assert cli.main([*base, "--sink", "remote-write"]) == 2
    assert "--remote-write-url" in capsys.readouterr().err
    flags = ["--sink", "remote_write", "--remote-write-url", URL, "--remote-write-max-samples", "0"]
    assert cli.main([*base, *flags]) == 2
    err = capsys.readouterr().err
    assert "remote_write_max_samples" in err and "--remote-write-max-samples" in err
