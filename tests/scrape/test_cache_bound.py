"""Each target's cache is bounded by what its last scrapes need, against a loopback exporter.

A churning exporter gives its series new label values on every scrape; the
cache must stay near twice one scrape's series (plus `PRUNE_SLACK`), whether
its scrapes succeed or fail after the parser met the new series, while a
stable exporter's cache never evicts anything, so its hot path keeps hitting.
"""

from __future__ import annotations

from itertools import pairwise

from openagent.exposition import Limits
from openagent.model import ScrapeResult, Series
from openagent.scrape.cache import PRUNE_SLACK
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from openagent.scrape.metrics import CACHE_SERIES
from openagent.telemetry import REGISTRY
from tests.scrape.test_loop import make_target
from tests.support import Exporter

SERIES = 2000
SCRAPES = 30
BOUND = 2 * SERIES + PRUNE_SLACK


def churning(generation: int, *, stable: int = 0, failing: bool = False) -> bytes:
    """``stable`` series that never change, then fresh ones named after ``generation``."""
    lines = [f'kept{{gpu="{i}"}} {i}\n' for i in range(stable)]
    lines += [f'churn{{id="{generation}-{i}"}} {i}\n' for i in range(SERIES - stable)]
    if failing:
        lines.append("churn{} not-a-number\n")
    return "".join(lines).encode()


def labelled(series: list[Series]) -> set[tuple[str, str]]:
    return {(s.name, dict(s.labels).get("id", "")) for s in series}


async def test_a_churning_target_keeps_its_cache_near_twice_one_scrape(
    exporter: Exporter, client: ScrapeClient
) -> None:
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=Limits())
    sizes = []
    for generation in range(SCRAPES):
        exporter.body = churning(generation)
        assert (await loop.scrape_once()).error is None
        sizes.append(loop.cache.size)
        assert loop.cache.builder.shared_blocks <= BOUND  # label tuples built for sharing
    assert max(sizes) <= BOUND, sizes
    assert sizes[-1] >= SERIES  # the last scrape's series stay cached


async def test_a_churning_target_whose_scrapes_fail_keeps_its_cache_bounded(
    exporter: Exporter, client: ScrapeClient
) -> None:
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=Limits())
    exporter.body = churning(0)
    assert (await loop.scrape_once()).error is None
    sizes = []
    for generation in range(1, SCRAPES):
        exporter.body = churning(generation, failing=True)
        assert (await loop.scrape_once()).error is not None
        sizes.append(loop.cache.size)
    assert max(sizes) <= BOUND, sizes


async def test_a_stable_target_never_evicts_and_reuses_its_series(
    exporter: Exporter, client: ScrapeClient
) -> None:
    loop = ScrapeLoop(make_target(exporter.port), client, lambda r: None, limits=Limits())
    exporter.body = churning(0, stable=SERIES)
    first = await loop.scrape_once()
    created = loop.cache.builder.created
    evicted = 0
    for _ in range(SCRAPES):
        again = await loop.scrape_once()
        evicted += loop.cache.evict()
        assert all(a is b for a, b in zip(again.series, first.series, strict=True))
    assert evicted == 0 and loop.cache.builder.created == created
    assert loop.cache.size == SERIES


async def test_series_go_stale_once_each_when_the_cache_evicts_under_churn(
    exporter: Exporter, client: ScrapeClient
) -> None:
    results: list[ScrapeResult] = []
    loop = ScrapeLoop(make_target(exporter.port), client, results.append, limits=Limits())
    sizes = []
    for generation in range(SCRAPES):
        exporter.body = churning(generation, stable=SERIES // 2)
        loop.emit(await loop.scrape_once())
        sizes.append(loop.cache.size)
    assert max(sizes) <= BOUND < SCRAPES * SERIES // 2  # so the cache did evict
    for before, after in pairwise(results):
        went = labelled(before.series) - labelled(after.series)
        assert len(after.stale) == len(went) == SERIES // 2
        assert labelled(after.stale) == went


async def test_the_cache_size_is_a_metric_of_the_target_until_it_goes(
    exporter: Exporter, client: ScrapeClient
) -> None:
    target = make_target(exporter.port)
    loop = ScrapeLoop(target, client, lambda r: None, limits=Limits())
    exporter.body = churning(0)
    await loop.scrape_once()
    labels = {"job": target.job, "instance": target.instance}
    name = "openagent_target_cache_series"
    assert REGISTRY.get_sample_value(name, labels) == loop.cache.size == SERIES
    await loop.stop(stale_markers=False)
    assert REGISTRY.get_sample_value(name, labels) is None
    assert CACHE_SERIES._labelnames == ("job", "instance")
