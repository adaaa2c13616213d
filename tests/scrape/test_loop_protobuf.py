"""The scrape loop with the protobuf exposition: what it asks for, how it parses the answer,
and native histograms built, relabelled, counted and marked stale like flat series."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from openagent.exposition import Limits
from openagent.model import ScrapeResult
from openagent.scrape.http import ACCEPT, PROTOBUF_ACCEPT, ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from openagent.telemetry import REGISTRY
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
from tests.protobuf_exporter import NegotiatingExporter, serving
from tests.scrape.test_loop import by_name, make_target, report

LIMITS = Limits(sample_limit=1000)
TS = 1756912212000
TEXT = b'# TYPE temp gauge\ntemp{gpu="0"} 40\n'
POSITIVE = (((0, 2), (3, 1)), (4, -1, 5))
LATENCY = native(positive=POSITIVE, zero_count=1, count=17, total=2.5)


def protobuf_body(*, with_latency: bool = True, labels: tuple[tuple[str, str], ...] = ()) -> bytes:
    families = [family("temp", GAUGE, metric(gauge(40), labels=(("gpu", "0"),)))]
    if with_latency:
        families.append(family("lat", HISTOGRAM, metric(LATENCY, labels=(("gpu", "0"), *labels))))
    return delimited(*families)


@pytest.fixture
async def exporter() -> AsyncIterator[NegotiatingExporter]:
    async with serving(NegotiatingExporter(text=TEXT, protobuf=protobuf_body())) as exp:
        yield exp


async def scrape(
    exporter: NegotiatingExporter, *, protobuf: bool = True, extra: str = ""
) -> tuple[ScrapeLoop, ScrapeResult]:
    client = ScrapeClient(default_body_limit=1 << 20, user_agent="t", enable_protobuf=protobuf)
    loop = ScrapeLoop(make_target(exporter.port, extra), client, lambda r: None, limits=LIMITS)
    return loop, await loop.scrape_once()


def instance(exporter: NegotiatingExporter) -> tuple[tuple[str, str], ...]:
    return (("job", "dcgm"), ("instance", f"127.0.0.1:{exporter.port}"))


async def test_without_the_setting_the_agent_asks_for_text_only(
    exporter: NegotiatingExporter,
) -> None:
    loop, result = await scrape(exporter, protobuf=False)
    await loop.client.close()
    assert exporter.accepts == [ACCEPT]
    assert "protobuf" not in ACCEPT
    assert result.ok and result.histograms == []
    assert [s.name for s in result.series][:1] == ["temp"]


async def test_with_the_setting_a_protobuf_target_gives_native_histograms(
    exporter: NegotiatingExporter,
) -> None:
    loop, result = await scrape(exporter)
    await loop.client.close()
    assert exporter.accepts == [PROTOBUF_ACCEPT]
    assert result.ok, result.error
    [h] = result.histograms
    assert (h.name, h.labels) == ("lat", (("gpu", "0"), *instance(exporter)))
    assert h.timestamp_ms == result.timestamp_ms
    assert (h.histogram.count, h.histogram.sum, h.histogram.zero_count) == (17, 2.5, 1)
    assert h.histogram.positive_spans == ((0, 2), (3, 1))
    assert h.histogram.positive_deltas == (4, -1, 5)
    rep = report(result)
    assert rep["scrape_samples_scraped"] == 2, "one gauge and one native histogram"
    assert rep["scrape_samples_post_metric_relabeling"] == 2
    assert rep["scrape_series_added"] == 2
    assert loop.state.samples == 2
    assert set(result.metadata) == {"temp", "lat"}


async def test_with_the_setting_a_text_only_target_still_works() -> None:
    async with serving(NegotiatingExporter(text=TEXT)) as exporter:
        loop, result = await scrape(exporter)
        await loop.client.close()
    assert exporter.accepts == [PROTOBUF_ACCEPT]
    assert result.ok and result.histograms == []
    assert result.series[0].name == "temp" and result.values[0] == 40.0


async def test_classic_buckets_beside_native_ones_give_both(
    exporter: NegotiatingExporter,
) -> None:
    both = native(bucket(1, 3), positive=POSITIVE, count=17, total=2.5)
    exporter.protobuf = delimited(family("lat", HISTOGRAM, metric(both)))
    loop, result = await scrape(exporter)
    await loop.client.close()
    assert [h.name for h in result.histograms] == ["lat"]
    names = [s.name for s in result.series]
    assert names[:4] == ["lat_bucket", "lat_bucket", "lat_sum", "lat_count"]
    assert report(result)["scrape_samples_scraped"] == 5


async def test_metric_relabelling_drops_and_rewrites_native_histograms(
    exporter: NegotiatingExporter,
) -> None:
    drop = (
        "        metricRelabelConfigs:\n"
        "        - {sourceLabels: [__name__], regex: lat, action: drop}"
    )
    loop, dropped = await scrape(exporter, extra=drop)
    await loop.client.close()
    assert dropped.histograms == []
    assert report(dropped)["scrape_samples_scraped"] == 2
    assert report(dropped)["scrape_samples_post_metric_relabeling"] == 1
    rewrite = (
        "        metricRelabelConfigs:\n"
        "        - {sourceLabels: [gpu], targetLabel: device, replacement: 'gpu$1'}\n"
        "        - {sourceLabels: [__name__], regex: lat, targetLabel: __name__, "
        "replacement: latency_seconds}"
    )
    loop, rewritten = await scrape(exporter, extra=rewrite)
    await loop.client.close()
    [h] = rewritten.histograms
    assert h.name == "latency_seconds"
    assert dict(h.labels)["device"] == "gpu0"


@pytest.mark.parametrize(("honor", "expected"), [(False, "exported_job"), (True, "job")])
async def test_honor_labels_decides_for_native_histograms(
    exporter: NegotiatingExporter, honor: bool, expected: str
) -> None:
    exporter.protobuf = protobuf_body(labels=(("job", "exposed"),))
    extra = "        honorLabels: true" if honor else ""
    loop, result = await scrape(exporter, extra=extra)
    await loop.client.close()
    [h] = result.histograms
    assert dict(h.labels)[expected] == "exposed"
    if not honor:
        assert dict(h.labels)["job"] == "dcgm"


async def test_explicit_timestamps_are_honoured_unless_disabled(
    exporter: NegotiatingExporter,
) -> None:
    recent = int(time.time() * 1000) - 60_000  # within the bounds on exposed timestamps
    body = delimited(family("lat", HISTOGRAM, metric(LATENCY, ts=recent)))
    exporter.protobuf = body
    loop, result = await scrape(exporter)
    assert [h.timestamp_ms for h in result.histograms] == [recent]
    await loop.client.close()
    loop, result = await scrape(exporter, extra="        honorTimestamps: false")
    await loop.client.close()
    assert [h.timestamp_ms for h in result.histograms] == [result.timestamp_ms]


async def test_a_native_histogram_stamped_out_of_bounds_is_dropped_and_counted(
    exporter: NegotiatingExporter,
) -> None:
    exporter.protobuf = delimited(
        family("temp", GAUGE, metric(gauge(40), labels=(("gpu", "0"),))),
        family("lat", HISTOGRAM, metric(LATENCY, ts=TS)),  # months old
    )
    dropped = {
        "job": "dcgm",
        "instance": f"127.0.0.1:{exporter.port}",
        "result": "dropped_timestamp_out_of_bounds",
    }
    before = REGISTRY.get_sample_value("openagent_target_samples_total", dropped) or 0.0
    loop, result = await scrape(exporter)
    await loop.client.close()
    assert result.histograms == [] and by_name(result)["temp"] == [40.0]
    after = REGISTRY.get_sample_value("openagent_target_samples_total", dropped)
    assert after == before + 1


async def test_vanished_and_final_native_histograms_go_stale(
    exporter: NegotiatingExporter,
) -> None:
    emitted: list[ScrapeResult] = []
    loop, first = await scrape(exporter)
    loop.emit = emitted.append
    series = loop.cache.previous_histograms[0]
    exporter.protobuf = protobuf_body(with_latency=False)
    second = await loop.scrape_once()
    assert second.histograms == [] and second.stale_histograms == [series]
    assert second.stale == []
    assert "lat" not in second.metadata
    exporter.protobuf = protobuf_body()
    third = await loop.scrape_once()
    assert loop.cache.previous_histograms == [series], "the same series comes back"
    assert third.stale_histograms == []
    await loop.stop(stale_markers=True)
    await loop.client.close()
    final = emitted[-1]
    assert final.final and final.stale_histograms == [series]
    assert first.histograms[0].labels == series.labels
