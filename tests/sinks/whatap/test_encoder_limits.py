"""OpenMxEncoder: native histograms in 0x1607 packs, and packs cut to the size limit."""

from __future__ import annotations

import random

from structlog.testing import capture_logs

from openagent.model import HistogramSample, NativeHistogram, ScrapeResult, Series
from openagent.sinks.whatap.encoder import MAX_PACK_BYTES, OpenMxEncoder, PackIdentity
from openagent.sinks.whatap.openmx import BucketSpan, OpenMxHistogram, OpenMxHistogramPack
from openagent.sinks.whatap.packs import decode_pack
from tests.sinks.whatap.test_encoder import IDENTITY, NOW, TARGET, TS, gpu_series, records_of

H = NativeHistogram(
    schema=0, zero_threshold=0.001, zero_count=1, count=6, sum=9.0,
    positive_spans=((0, 2),), positive_deltas=(2, 1),
)  # fmt: skip


def result(series: list[Series], histograms: list[HistogramSample]) -> ScrapeResult:
    return ScrapeResult(
        target_id="t1", job="dcgm-exporter", instance="10.0.3.17:9400",
        url="http://10.0.3.17:9400/metrics", timestamp_ms=TS, series=series,
        values=[float(i) for i in range(len(series))], histograms=histograms,
    )  # fmt: skip


def hist(i: int, ts: int = TS) -> HistogramSample:
    return HistogramSample("latency_seconds", (("le_set", str(i)), *TARGET), ts, H)


def test_histograms_go_in_histogram_packs_after_the_openmx_packs() -> None:
    enc = OpenMxEncoder(IDENTITY, records_per_pack=2)
    batches = enc.encode(result(gpu_series(3), [hist(0, TS - 5), hist(1), hist(2)]), NOW).batches
    assert [b.payload[:2].hex() for b in batches] == ["1603", "1603", "1607", "1607"]
    assert [(b.samples, b.oldest_ms) for b in batches] == [(2, TS), (1, TS), (2, TS - 5), (1, TS)]
    assert len(records_of([b.payload for b in batches[:2]])) == 3
    got: list[OpenMxHistogram] = []
    for b in batches[2:]:
        pack = decode_pack(b.payload)
        assert isinstance(pack, OpenMxHistogramPack)
        assert pack.header == IDENTITY.header(NOW)
        got += pack.records
    labels = [(("le_set", str(i)), *TARGET, ("pcode", "33789")) for i in range(3)]
    spans = (BucketSpan(0, 2),)
    assert got == [
        OpenMxHistogram("latency_seconds", lab, ts, 0, 0.001, 1, 6, 9.0, spans, (2, 1))
        for lab, ts in zip(labels, [TS - 5, TS, TS], strict=True)
    ]


def test_a_result_with_only_histograms_sends_only_histogram_packs() -> None:
    encoded = OpenMxEncoder(IDENTITY).encode(result([], [hist(0)]), NOW)
    assert [(b.payload[:2].hex(), b.samples) for b in encoded.batches] == [("1607", 1)]
    assert encoded.losses == ()


def test_unsendable_histograms_are_losses_of_the_result() -> None:
    wide = HistogramSample("wide", tuple((f"l{i}", "v") for i in range(300)), TS, H)
    encoded = OpenMxEncoder(IDENTITY).encode(result(gpu_series(1), [wide, hist(0)]), NOW)
    assert {(x.reason, x.samples) for x in encoded.losses} == {("too_many_labels", 1)}
    assert sum(b.samples for b in encoded.batches) == 2


def big_series(n: int, chars: int) -> list[Series]:
    rng = random.Random(5)
    return [
        Series("DCGM_FI_DEV_FB_USED", (("blob", rng.randbytes(chars // 2).hex()), *TARGET))
        for _ in range(n)
    ]


def test_a_scrape_above_the_default_pack_limit_is_split_and_nothing_is_lost() -> None:
    series = big_series(900, 14_000)  # under 1000 records, 10.8 MB once gzipped
    encoded = OpenMxEncoder(IDENTITY).encode(result(series, []), NOW)
    assert encoded.losses == ()
    assert len(encoded.batches) >= 2
    assert all(len(b.payload) <= MAX_PACK_BYTES for b in encoded.batches)
    got = records_of([b.payload for b in encoded.batches])
    assert [r.labels[0] for r in got] == [s.labels[0] for s in series]
    assert sum(b.samples for b in encoded.batches) == 900


def test_a_record_alone_above_the_limit_is_lost_as_oversize_and_named() -> None:
    series = [*gpu_series(4), *big_series(1, 20_000), *gpu_series(2, "DCGM_FI_DEV_SM_CLOCK")]
    enc = OpenMxEncoder(PackIdentity(33789, 1), max_pack_bytes=4000)
    with capture_logs() as logs:
        first = enc.encode(result(series, []), NOW)
        second = enc.encode(result(series, []), NOW + 30_000)
    for encoded in (first, second):
        assert [(x.reason, x.samples) for x in encoded.losses] == [("oversize", 1)]
        assert [r.metric for r in records_of([b.payload for b in encoded.batches])] == (
            ["DCGM_FI_DEV_GPU_UTIL"] * 4 + ["DCGM_FI_DEV_SM_CLOCK"] * 2
        )
    named = [x for x in logs if x["log_level"] == "error"]
    assert [x["metric"] for x in named] == ["DCGM_FI_DEV_FB_USED"]  # once, not per scrape
