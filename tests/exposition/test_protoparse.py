"""The per-target protobuf parser: output series through the builder, once per series; native
histograms beside flat samples; drops, limits and timestamps as on the text path."""

from __future__ import annotations

import asyncio

import pytest

from openagent.exposition import LimitExceeded, Limits, ProtobufParser
from openagent.exposition.protowire import ProtobufError
from tests.exposition.conftest import CountingBuilder
from tests.exposition.protobuf_writer import (
    GAUGE,
    HISTOGRAM,
    bucket,
    delimited,
    family,
    gauge,
    metric,
    native,
)

TS = 1756912212000
GPU0 = (("gpu", "0"),)
POSITIVE = (((0, 2),), (4, -1))


def body(*, ts: int | None = None) -> bytes:
    return delimited(
        family("temp", GAUGE, metric(gauge(40), labels=GPU0), metric(gauge(41), ts=ts)),
        family(
            "lat",
            HISTOGRAM,
            metric(native(positive=POSITIVE, count=7, total=2.5), labels=GPU0),
            metric(native(bucket(1, 3), positive=POSITIVE, count=7, total=2.5)),
        ),
    )


def test_series_and_histograms_are_built_once_and_reused(builder: CountingBuilder) -> None:
    parser = ProtobufParser(builder)
    first = parser.parse(body(), default_ts_ms=TS)
    assert [(s.name, s.labels) for s in first.series] == [
        ("temp", GPU0),
        ("temp", ()),
        ("lat_bucket", (("le", "1"),)),
        ("lat_bucket", (("le", "+Inf"),)),
        ("lat_sum", ()),
        ("lat_count", ()),
    ]
    assert first.values == [40.0, 41.0, 3.0, 7.0, 2.5, 7.0]
    assert [(s.name, s.labels) for s in first.histograms] == [("lat", GPU0), ("lat", ())]
    assert [h.count for h in first.histogram_values] == [7, 7]
    assert first.samples == 8, "six flat samples and two native histograms"
    assert first.timestamps is None and first.histogram_timestamps is None
    calls = builder.calls
    second = parser.parse(body(), default_ts_ms=TS + 1000)
    assert builder.calls == calls, "known series cost no builder call"
    assert all(a is b for a, b in zip(first.series, second.series, strict=True))
    assert all(a is b for a, b in zip(first.histograms, second.histograms, strict=True))


def test_a_dropped_histogram_counts_as_scraped_not_kept() -> None:
    parsed = ProtobufParser(CountingBuilder(drop=frozenset({"lat"}))).parse(
        body(), default_ts_ms=TS
    )
    assert parsed.histograms == [] and parsed.histogram_values == []
    assert parsed.samples == 8 and len(parsed.values) == 6


def test_explicit_timestamps_are_kept_per_sample(builder: CountingBuilder) -> None:
    parsed = ProtobufParser(builder).parse(body(ts=TS - 500), default_ts_ms=TS)
    assert parsed.timestamps == [TS, TS - 500, TS, TS, TS, TS]


def test_sample_limit_counts_native_histograms(builder: CountingBuilder) -> None:
    assert ProtobufParser(builder, Limits(sample_limit=8)).parse(body(), default_ts_ms=TS)
    with pytest.raises(LimitExceeded, match="6 samples and 2 native histograms, limit 7"):
        ProtobufParser(builder, Limits(sample_limit=7)).parse(body(), default_ts_ms=TS)


def test_label_limits_apply_to_histogram_series() -> None:
    only_native = delimited(family("lat", HISTOGRAM, metric(native(), labels=GPU0)))
    parser = ProtobufParser(CountingBuilder(extra=(("a", "b"),)), Limits(label_limit=2))
    with pytest.raises(LimitExceeded, match="lat has 3 labels"):
        parser.parse(only_native, default_ts_ms=TS)


def test_metadata_changed_only_when_it_changes(builder: CountingBuilder) -> None:
    parser = ProtobufParser(builder)
    assert parser.parse(body(), default_ts_ms=TS).metadata_changed
    again = parser.parse(body(), default_ts_ms=TS)
    assert not again.metadata_changed
    assert again.metadata["lat"].type == "histogram"


def test_prune_keeps_only_what_is_asked(builder: CountingBuilder) -> None:
    parser = ProtobufParser(builder)
    parsed = parser.parse(body(), default_ts_ms=TS)
    keep = {id(parsed.histograms[0])}
    parser.prune(lambda entry: id(entry) in keep)
    assert parser.cache_size == 1


def test_malformed_body_is_a_protobuf_error(builder: CountingBuilder) -> None:
    with pytest.raises(ProtobufError):
        ProtobufParser(builder).parse(b"\x05\x0a", default_ts_ms=TS)


async def test_the_async_parse_lets_the_loop_run_and_gives_the_same(
    builder: CountingBuilder,
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    many = delimited(
        family("g", GAUGE, *(metric(gauge(i), labels=(("i", str(i)),)) for i in range(50)))
    )
    expected = ProtobufParser(CountingBuilder()).parse(many, default_ts_ms=TS)
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    parsed = await ProtobufParser(builder).parse_async(many, default_ts_ms=TS, chunk=10)
    task.cancel()
    assert ticks - before >= 5, "the loop ran between chunks"
    assert parsed.values == expected.values
    assert [(s.name, s.labels) for s in parsed.series] == [
        (s.name, s.labels) for s in expected.series
    ]
