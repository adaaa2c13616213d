"""The scrape loop against real loopback exporters: report series, staleness, limits."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

from openagent.config import parse_config
from openagent.discovery.static import static_targets
from openagent.exposition import Limits
from openagent.model import ScrapeResult, Target
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import REPORT_NAMES, ScrapeLoop
from tests.support import DCGM_FIXTURES, Exporter

FIXTURES = DCGM_FIXTURES
LIMITS = Limits(sample_limit=200_000)


@pytest.fixture
async def client() -> AsyncIterator[ScrapeClient]:
    c = ScrapeClient(default_body_limit=1 << 20, user_agent="openagent-test")
    yield c
    await c.close()


def make_target(port: int, extra: str = "", interval: str = "1s", timeout: str = "1s") -> Target:
    text = f"""
features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:{port}
        interval: {interval}
        timeout: {timeout}
{extra}
"""
    targets, dropped = static_targets(parse_config(text).config)
    assert not dropped
    return targets[0]


def by_name(result: ScrapeResult) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for s, v in zip(result.series, result.values, strict=True):
        out.setdefault(s.name, []).append(v)
    return out


def report(result: ScrapeResult) -> dict[str, float]:
    return {
        s.name: v
        for s, v in zip(result.series, result.values, strict=True)
        if s.name in REPORT_NAMES
    }


BODY = b"""# HELP a_metric A metric.
# TYPE a_metric gauge
a_metric{gpu="0"} 1
a_metric{gpu="1"} 2
# HELP b_metric B metric.
# TYPE b_metric counter
b_metric{gpu="0"} 10
"""


async def test_report_series_and_labels(exporter: Exporter, client: ScrapeClient) -> None:
    exporter.body = BODY
    target = make_target(exporter.port)
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert result.error is None
    rep = report(result)
    assert rep["up"] == 1
    assert rep["scrape_samples_scraped"] == 3
    assert rep["scrape_samples_post_metric_relabeling"] == 3
    assert rep["scrape_series_added"] == 3
    assert rep["scrape_duration_seconds"] > 0
    first = result.series[0]
    assert first.name == "a_metric"
    assert first.labels == (
        ("gpu", "0"),
        ("job", "dcgm"),
        ("instance", f"127.0.0.1:{exporter.port}"),
    )
    up = next(s for s in result.series if s.name == "up")
    assert up.labels == (("job", "dcgm"), ("instance", f"127.0.0.1:{exporter.port}"))
    assert set(result.metadata) == {"a_metric", "b_metric"}
    assert result.metadata["b_metric"].type == "counter"

    again = await loop.scrape_once()
    assert report(again)["scrape_series_added"] == 0
    assert again.series[0] is first  # series objects are reused across scrapes
    assert again.stale == []


async def test_vanished_series_and_failed_scrape_are_stale(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = BODY
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=LIMITS)
    first = await loop.scrape_once()
    b_series = next(s for s in first.series if s.name == "b_metric")

    exporter.body = BODY.replace(b'b_metric{gpu="0"} 10\n', b"")
    second = await loop.scrape_once()
    assert second.stale == [b_series]
    assert "b_metric" not in second.metadata  # no family without series keeps its metadata

    exporter.status = 503
    third = await loop.scrape_once()
    assert third.error is not None and third.error.startswith("http_status")
    assert report(third)["up"] == 0
    assert {s.name for s in third.stale} == {"a_metric"}
    assert len(third.stale) == 2
    assert [s.name for s in third.series] == list(REPORT_NAMES)


async def test_final_result_marks_everything_stale(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = BODY
    emitted: list[ScrapeResult] = []
    loop = ScrapeLoop(make_target(exporter.port), client, emitted.append, limits=LIMITS)
    await loop.scrape_once()
    await loop.stop(stale_markers=True)
    final = emitted[-1]
    assert final.final
    assert final.series == []
    assert {s.name for s in final.stale} == {"a_metric", "b_metric", *REPORT_NAMES}


async def test_duplicates_are_dropped_keeping_the_first(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = b'm{a="1"} 1\nm{a="1"} 2\nm{a="2"} 3\n'
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert by_name(result)["m"] == [1.0, 3.0]
    assert report(result)["scrape_samples_scraped"] == 3
    assert report(result)["scrape_samples_post_metric_relabeling"] == 2


async def test_sample_limit_fails_the_scrape(exporter: Exporter, client: ScrapeClient) -> None:
    exporter.body = b"".join(b'm{i="%d"} 1\n' % i for i in range(50))
    target = make_target(exporter.port, "        sampleLimit: 10")
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert result.error is not None and "sample_limit" in result.error
    assert report(result)["up"] == 0


async def test_metric_relabelling_runs_after_target_labels(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = BODY
    extra = """        metricRelabelConfigs:
        - {sourceLabels: [__name__], regex: a_.*, action: keep}
        - {sourceLabels: [instance], targetLabel: host, regex: '(.*):.*'}"""
    loop = ScrapeLoop(make_target(exporter.port, extra), client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert set(by_name(result)) == {"a_metric", *REPORT_NAMES}
    a = result.series[0]
    assert dict(a.labels)["host"] == "127.0.0.1"
    assert report(result)["scrape_samples_scraped"] == 3
    assert report(result)["scrape_samples_post_metric_relabeling"] == 2
    assert set(result.metadata) == {"a_metric"}


async def test_malformed_body_names_the_line(exporter: Exporter, client: ScrapeClient) -> None:
    exporter.body = b'ok 1\nbroken{a="1" 2\n'
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert result.error is not None
    assert "line 2" in result.error
    assert report(result)["up"] == 0


async def test_adaptive_timeout_grows_on_timeouts_and_resets(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = BODY
    exporter.delay = 0.5
    extra = "        adaptiveTimeout: {failureThreshold: 1, multiplier: 2}"
    target = make_target(exporter.port, extra, interval="10s", timeout="200ms")
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS)
    first = await loop.scrape_once()
    assert first.error is not None and first.error.startswith("timeout")
    assert loop.timeout.current == pytest.approx(0.4)
    second = await loop.scrape_once()
    assert second.error is not None and second.error.startswith("timeout")
    assert loop.timeout.current == pytest.approx(0.8)
    exporter.delay = 0
    third = await loop.scrape_once()
    assert third.error is None
    assert loop.timeout.current == pytest.approx(0.2)


async def test_running_loop_never_overlaps_scrapes(
    exporter: Exporter, client: ScrapeClient
) -> None:
    exporter.body = BODY
    exporter.delay = 0.9  # nearly the whole 1 s interval
    emitted: list[ScrapeResult] = []
    loop = ScrapeLoop(make_target(exporter.port), client, emitted.append, limits=LIMITS)
    loop.start()
    while exporter.requests < 3:
        await asyncio.sleep(0.1)
    await loop.stop(stale_markers=False)
    assert exporter.max_in_flight == 1
    assert all(r.error is None for r in emitted)
    gaps = [b - a for a, b in zip(exporter.hits, exporter.hits[1:], strict=False)]
    assert all(g > 0.5 for g in gaps)  # one scrape per tick, on the interval grid


async def test_real_dcgm_fixture_round_trip(exporter: Exporter, client: ScrapeClient) -> None:
    exporter.body = (FIXTURES / "l4-1gpu.txt").read_bytes()
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=LIMITS)
    result = await loop.scrape_once()
    assert result.error is None
    samples = [ln for ln in exporter.body.decode().splitlines() if ln and not ln.startswith("#")]
    assert report(result)["scrape_samples_scraped"] == len(samples)
    values = by_name(result)
    assert values["DCGM_FI_DEV_SM_CLOCK"] == [210.0]
    assert all(math.isfinite(v) for vs in values.values() for v in vs)
