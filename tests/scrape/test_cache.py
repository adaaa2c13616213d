"""The per-target cache: what a target keeps between scrapes and across a restart."""

from __future__ import annotations

from openagent.exposition import Limits
from openagent.model import Series
from openagent.scrape.cache import PRUNE_SLACK, Settled, TargetCache
from tests.scrape.test_loop import make_target

LIMITS = Limits(sample_limit=200_000)
RULE = """
        metricRelabelConfigs:
        - action: labeldrop
          regex: pod
"""


async def scrape(cache: TargetCache, body: str, ts: int = 1000) -> tuple[list[Series], Settled]:
    """One successful scrape of ``body`` through the cache, as the loop runs it."""
    before = cache.builder.created
    parsed = await cache.parse(body, openmetrics=False, default_ts_ms=ts)
    settled = cache.settle(parsed.series, parsed.values, None, before)
    cache.after_success(parsed, settled.changed)
    cache.evict()
    return settled.series, settled


async def test_a_restart_with_other_timing_keeps_the_parser_table_and_series() -> None:
    cache = TargetCache(make_target(9, interval="1s"), LIMITS)
    first, _ = await scrape(cache, 'm{gpu="0"} 1\nm{gpu="1"} 2\n')
    parser, created = cache.parser, cache.builder.created
    again = cache.retarget(make_target(9, interval="2s", timeout="2s"), LIMITS)
    assert again is cache and cache.parser is parser
    second, settled = await scrape(cache, 'm{gpu="0"} 3\nm{gpu="1"} 4\n')
    assert second == first and cache.builder.created == created
    assert settled.stale == []


async def test_a_restart_with_other_relabelling_keeps_the_series_that_go_on() -> None:
    cache = TargetCache(make_target(9), LIMITS)
    first, _ = await scrape(cache, 'm{gpu="0"} 1\nn{gpu="0",pod="p"} 2\n')
    parser = cache.parser
    cache.retarget(make_target(9, extra=RULE), LIMITS)
    assert cache.parser is not parser  # the table's series were built under other rules
    second, settled = await scrape(cache, 'm{gpu="0"} 1\nn{gpu="0",pod="p"} 2\n')
    assert second[0] is first[0]  # unchanged output: the same object, no stale marker
    assert second[1] is not first[1] and "pod" not in dict(second[1].labels)
    assert settled.stale == [first[1]]


async def test_a_repeated_series_keeps_its_first_sample_and_is_counted() -> None:
    cache = TargetCache(make_target(9), LIMITS)
    body = 'm{a="1",b="2"} 1\nm{b="2",a="1"} 2\n'
    parsed = await cache.parse(body, openmetrics=False, default_ts_ms=0)
    settled = cache.settle(parsed.series, parsed.values, None, 0)
    assert len(settled.series) == 1 and settled.values == [1.0]
    assert settled.duplicates == 1


async def test_a_vanished_series_is_stale_once() -> None:
    cache = TargetCache(make_target(9), LIMITS)
    first, _ = await scrape(cache, "m 1\nn 2\n")
    _, settled = await scrape(cache, "m 1\n")
    assert settled.stale == [first[1]] and settled.changed
    _, settled = await scrape(cache, "m 1\n")
    assert settled.stale == [] and not settled.changed


async def test_the_table_is_pruned_to_what_the_target_still_exposes() -> None:
    cache = TargetCache(make_target(9), LIMITS)
    for generation in range(3):
        body = "".join(f'm{{pod="{generation}-{i}"}} 1\n' for i in range(PRUNE_SLACK))
        kept, _ = await scrape(cache, body)
    assert cache.parser.cache_size <= 2 * PRUNE_SLACK + PRUNE_SLACK
    again, _ = await scrape(cache, body)
    assert again == kept  # what the last scrape had survived the pruning


async def test_with_honor_labels_an_exposed_up_does_not_replace_the_report() -> None:
    cache = TargetCache(make_target(9, extra="        honorLabels: true\n"), LIMITS)
    parsed = await cache.parse("up 0\nm 1\n", openmetrics=False, default_ts_ms=0)
    settled = cache.settle(parsed.series, parsed.values, None, 0)
    assert [s.name for s in settled.series] == ["m"]
    assert settled.duplicates == 1
    assert cache.report[0].name == "up"
