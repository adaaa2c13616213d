"""Native histograms in remote-write requests, read back with the independent reader of
`tests.sinks.remote_write_support`: fields, stale histograms, batching and accounting."""

from __future__ import annotations

from openagent.model import (
    STALE_NAN_BITS,
    HistogramSample,
    NativeHistogram,
    ScrapeResult,
    Series,
)
from openagent.sinks.remote_write import RemoteWriteOptions, RemoteWriteSink
from tests.sinks.remote_write_support import decode_payload, make_result

URL = "http://127.0.0.1:9/api/v1/write"
NOW_MS = 1_764_300_000_000
LABELS = (("gpu", "0"), ("job", "j"), ("empty", ""))
H = NativeHistogram(
    schema=-2,
    zero_threshold=1e-128,
    zero_count=3,
    count=40,
    sum=-12.5,
    positive_spans=((-3, 2), (4, 1)),
    positive_deltas=(5, -2, 70),
    negative_spans=((0, 1),),
    negative_deltas=(-1,),
)


def sink(**kwargs: object) -> RemoteWriteSink:
    options = RemoteWriteOptions(URL, max_batch_delay=0.0, **kwargs)  # type: ignore[arg-type]
    return RemoteWriteSink(options)


def result_with(
    histograms: list[HistogramSample], gone: list[Series] | None = None, n: int = 0
) -> ScrapeResult:
    result = make_result(n, timestamp_ms=NOW_MS)
    result.histograms = histograms
    result.stale_histograms = gone or []
    return result


def test_a_native_histogram_is_one_timeseries_with_every_field() -> None:
    sample = HistogramSample("lat_seconds", LABELS, NOW_MS - 7, H)
    [batch] = sink().encode(result_with([sample], n=2)).batches
    assert batch.samples == 3 and batch.oldest_ms == NOW_MS - 7
    *flat, hist = decode_payload(batch.payload)
    assert [s.name for s in flat] == ["m_metric", "m_metric"]
    assert hist.labels == [("__name__", "lat_seconds"), ("gpu", "0"), ("job", "j")]
    assert hist.samples == []
    [h] = hist.histograms
    assert h == {
        "count_int": 40,
        "sum": -12.5,
        "sum_bits": h["sum_bits"],
        "schema": -2,
        "zero_threshold": 1e-128,
        "zero_count_int": 3,
        "negative_spans": [(0, 1)],
        "negative_deltas": [-1],
        "positive_spans": [(-3, 2), (4, 1)],
        "positive_deltas": [5, -2, 70],
        "timestamp": NOW_MS - 7,
    }


def test_an_empty_histogram_still_says_it_counts_integers() -> None:
    empty = NativeHistogram(schema=0, zero_threshold=0.0, zero_count=0, count=0, sum=0.0)
    [batch] = sink().encode(result_with([HistogramSample("e", (), NOW_MS, empty)])).batches
    [h] = decode_payload(batch.payload)[0].histograms
    assert h["count_int"] == 0 and h["zero_count_int"] == 0
    assert "positive_deltas" not in h and h["positive_spans"] == []


def test_a_vanished_histogram_is_a_histogram_with_the_stale_nan_sum() -> None:
    gone = Series("lat_seconds", LABELS)
    [batch] = sink().encode(result_with([], [gone])).batches
    assert batch.samples == 1
    [series] = decode_payload(batch.payload)
    assert series.samples == [], "not a float stale marker"
    [h] = series.histograms
    assert h["sum_bits"] == STALE_NAN_BITS
    assert (h["count_int"], h["timestamp"]) == (0, NOW_MS)


def test_histograms_count_toward_max_samples() -> None:
    samples = [HistogramSample("h", (("i", str(i)),), NOW_MS, H) for i in range(5)]
    batches = sink(max_samples=2).encode(result_with(samples, n=1)).batches
    assert [b.samples for b in batches] == [2, 2, 2]
    decoded = [decode_payload(b.payload) for b in batches]
    assert [len(s.histograms) for d in decoded for s in d] == [0, 1, 1, 1, 1, 1]
