"""The jsonl sink's line format, including non-finite values, stale markers and native
histograms."""

from __future__ import annotations

import math
from pathlib import Path

import orjson

from openagent.model import HistogramSample, NativeHistogram, ScrapeResult, Series
from openagent.sinks.jsonl import JsonlSink, encode_result


def result() -> ScrapeResult:
    a = Series("gpu_util", (("gpu", "0"), ("job", "dcgm")))
    b = Series("temp", (("gpu", "1"),))
    gone = Series("old", ())
    return ScrapeResult(
        target_id="t",
        job="dcgm",
        instance="i",
        url="u",
        timestamp_ms=1000,
        series=[a, b, a],
        values=[87.5, math.nan, math.inf],
        stale=[gone],
        timestamps=[1000, 1000, 999],
    )


def test_lines_carry_name_labels_value_and_timestamp() -> None:
    lines = [orjson.loads(x) for x in encode_result(result()).splitlines()]
    assert lines[0] == {
        "name": "gpu_util",
        "labels": {"gpu": "0", "job": "dcgm"},
        "value": 87.5,
        "timestamp_ms": 1000,
    }
    assert lines[1]["value"] == "NaN"
    assert lines[2]["value"] == "+Inf" and lines[2]["timestamp_ms"] == 999
    assert lines[3] == {
        "name": "old",
        "labels": {},
        "value": "NaN",
        "timestamp_ms": 1000,
        "stale": True,
    }


def test_label_values_are_escaped_json() -> None:
    s = Series("m", (("path", 'a"b\\c\n한글'),))
    r = ScrapeResult(
        target_id="t", job="j", instance="i", url="u", timestamp_ms=1, series=[s], values=[1.0]
    )
    (line,) = encode_result(r).splitlines()
    assert orjson.loads(line)["labels"]["path"] == 'a"b\\c\n한글'


async def test_sink_appends_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(str(path))
    await sink.start()
    for batch in sink.encode(result()).batches:
        assert batch.samples == 4 and batch.oldest_ms == 1000
        await sink.send(batch)
    await sink.close()
    assert len(path.read_bytes().splitlines()) == 4


def test_native_histograms_are_one_line_each_after_the_samples() -> None:
    h = NativeHistogram(
        schema=3,
        zero_threshold=1e-128,
        zero_count=2,
        count=12,
        sum=math.inf,
        positive_spans=((-2, 2), (1, 1)),
        positive_deltas=(3, -1, 2),
        negative_spans=((0, 1),),
        negative_deltas=(2,),
    )
    r = result()
    r.histograms = [HistogramSample("lat", (("job", "api"),), 990, h)]
    r.stale_histograms = [Series("gone", (("job", "api"),))]
    sink = JsonlSink()
    [batch] = sink.encode(r).batches
    assert batch.samples == 6, "three samples, a stale marker, a histogram and its stale marker"
    lines = [orjson.loads(x) for x in batch.payload.splitlines()]
    assert lines[4] == {
        "name": "lat",
        "labels": {"job": "api"},
        "histogram": {
            "schema": 3,
            "zero_threshold": 1e-128,
            "zero_count": 2,
            "count": 12,
            "sum": "+Inf",
            "positive_spans": [[-2, 2], [1, 1]],
            "positive_deltas": [3, -1, 2],
            "negative_spans": [[0, 1]],
            "negative_deltas": [2],
        },
        "timestamp_ms": 990,
    }
    assert lines[5] == {
        "name": "gone",
        "labels": {"job": "api"},
        "histogram": None,
        "timestamp_ms": 1000,
        "stale": True,
    }
