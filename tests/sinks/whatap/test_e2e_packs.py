"""Scrape results -> delivery -> whatap sink -> collector emulator, over loopback: native
histograms as 0x1607 packs, and scrapes above the pack limit arriving whole."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence

import pytest

from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from openagent.delivery import Delivery, DeliveryOptions
from openagent.delivery.ledger import Ledger
from openagent.model import HistogramSample, Metadata, NativeHistogram, ScrapeResult, Series
from openagent.sinks.whatap.encoder import MAX_PACK_BYTES
from openagent.sinks.whatap.license import parse_license
from openagent.sinks.whatap.sink import WhatapOptions, WhatapSink, build_whatap_sink
from tests.support import eventually

PCODE = ("pcode", str(parse_license(FAKE_LICENSE).pcode))
TARGET = (("job", "triton"), ("instance", "10.0.3.17:8002"), ("node", "gpu-1"))
TS = 1_764_300_000_000
OPTIONS = DeliveryOptions(backoff_initial=0.05, backoff_max=0.2)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    async with Collector(drain_timeout=5.0) as c:
        yield c


def sink_for(collector: Collector) -> WhatapSink:
    return build_whatap_sink(
        WhatapOptions(
            license=FAKE_LICENSE,
            hosts=("127.0.0.1",),
            port=collector.port,
            identity_env={"WHATAP_ONAME": "packs-test"},
            connect_timeout=1.0,
            timeout=10.0,
        )
    )


async def deliver(sink: WhatapSink, results: list[ScrapeResult]) -> Ledger:
    """Submit ``results`` through the real delivery layer, wait until it drained, close."""
    delivery = Delivery([sink], OPTIONS)
    await delivery.start()
    for result in results:
        delivery.submit(result)
    lane = delivery.lane("whatap")
    await eventually(lambda: lane.fifo.idle.is_set(), within=30)
    await delivery.close(5.0)
    return lane.ledger


def scrape(series: list[Series], histograms: Sequence[HistogramSample] = ()) -> ScrapeResult:
    return ScrapeResult(
        target_id="triton", job="triton", instance="10.0.3.17:8002",
        url="http://10.0.3.17:8002/metrics", timestamp_ms=TS, series=series,
        values=[float(i) for i in range(len(series))], histograms=list(histograms),
        metadata={"request_duration_seconds": Metadata("histogram", "Request latency.")},
    )  # fmt: skip


async def test_native_histograms_reach_the_collector_as_histogram_packs(
    collector: Collector,
) -> None:
    wide = NativeHistogram(
        schema=2, zero_threshold=1e-9, zero_count=1, count=10, sum=3.25,
        positive_spans=((-3, 2), (1, 2)), positive_deltas=(2, 1, -1, 3),
        negative_spans=((0, 1),), negative_deltas=(1,),
    )  # fmt: skip
    empty = NativeHistogram(schema=0, zero_threshold=0.0, zero_count=0, count=0, sum=0.0)
    histograms = [
        HistogramSample("request_duration_seconds", (("model", "a"), *TARGET), TS - 7, wide),
        HistogramSample("request_duration_seconds", (("pcode", "x"), *TARGET), TS, empty),
    ]
    ledger = await deliver(sink_for(collector), [scrape([Series("up", TARGET)], histograms)])
    got = await collector.wait_for_histograms(2)
    assert ledger.handed_samples == ledger.sent_samples == 3  # one histogram, one sample
    assert ledger.dropped_samples == {}
    first, second = got
    assert first.record.labels == (("model", "a"), *TARGET, PCODE)
    assert second.record.labels == (("exported_pcode", "x"), *TARGET, PCODE)
    assert (first.record.timestamp, second.record.timestamp) == (TS - 7, TS)
    r = first.record
    assert (r.schema, r.zero_threshold, r.zero_count, r.count, r.sum) == (2, 1e-9, 1, 10, 3.25)
    assert first.positive == [(-3, 2), (-2, 3), (0, 2), (1, 5)]
    assert first.negative == [(0, 1)]
    assert (second.positive, second.negative, second.record.count) == ([], [], 0)
    kinds = [kind for _, kind in collector.sessions[0].frames if kind != "time_sync"]
    assert kinds == ["OpenMxHelpPack", "OpenMxPack", "OpenMxHistogramPack"]
    assert [r.name for r in collector.records] == ["up"]
    assert collector.errors == []


async def test_a_scrape_above_the_pack_limit_arrives_whole_across_packs(
    collector: Collector,
) -> None:
    rng = random.Random(11)
    # 900 records (one pack by count), 10.8 MB once gzipped (random hex shrinks little)
    series = [
        Series("DCGM_FI_DEV_FB_USED", (("blob", rng.randbytes(7000).hex()), *TARGET))
        for _ in range(900)
    ]
    sink = sink_for(collector)
    assert sink.session.config.max_pack_bytes == MAX_PACK_BYTES  # the default limit
    ledger = await deliver(sink, [scrape(series)])
    assert ledger.dropped_samples == {}
    assert ledger.handed_samples == ledger.sent_samples == 900
    await collector.wait_for_records(900)
    assert [(r.name, r.labels) for r in collector.records] == [
        (s.name, (*s.labels, PCODE)) for s in series
    ]
    packs = collector.received.pack_counts
    assert packs["OpenMxPack"] >= 2  # cut for size, not for count
    assert collector.received.events == []  # no pack was above the limit (no overflow)
    assert collector.errors == []
