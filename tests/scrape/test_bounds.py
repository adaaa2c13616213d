"""Samples whose exposed timestamp lies out of bounds are dropped at scrape time, counted, named.

The loop tests scrape a real loopback exporter; the clock of the log gate is
a test clock, so "once per interval" is checked without sleeping.
"""

from __future__ import annotations

import time

import pytest
from structlog.testing import capture_logs

from openagent.exposition import Limits
from openagent.model import Series
from openagent.scrape.bounds import TimestampBounds, TimestampGuard, in_bounds
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from openagent.telemetry import REGISTRY
from tests.scrape.test_loop import by_name, make_target, report
from tests.support import Exporter

HOUR_MS = 3600 * 1000
S = [Series(f"m{i}", ()) for i in range(4)]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_sample_in_bounds_leaves_the_lists_as_they_are() -> None:
    window = TimestampBounds().window(10 * HOUR_MS)
    assert in_bounds(S[:2], [1.0, 2.0], [10 * HOUR_MS, 10 * HOUR_MS - 60_000], window) is None


def test_old_and_future_samples_are_dropped_and_the_first_is_named() -> None:
    now = 10 * HOUR_MS
    stamps = [now, now - 2 * HOUR_MS, now + HOUR_MS, now - 1000]
    out = in_bounds(S, [0.0, 1.0, 2.0, 3.0], stamps, TimestampBounds().window(now))
    assert out is not None
    assert (out.series, out.values, out.timestamps) == ([S[0], S[3]], [0.0, 3.0], [now, now - 1000])
    assert (out.dropped, out.first, out.first_ms) == (2, S[1], now - 2 * HOUR_MS)


@pytest.mark.parametrize(
    ("bounds", "kept"),
    [
        (TimestampBounds(max_age=0), ["m0", "m1", "m3"]),
        (TimestampBounds(max_ahead=0), ["m0", "m2", "m3"]),
        (TimestampBounds(0, 0), ["m0", "m1", "m2", "m3"]),
    ],
)
def test_a_bound_of_zero_leaves_that_side_open(bounds: TimestampBounds, kept: list[str]) -> None:
    now = 10 * HOUR_MS
    stamps = [now, now - 2 * HOUR_MS, now + HOUR_MS, now - 1000]
    out = in_bounds(S, [0.0] * 4, stamps, bounds.window(now))
    names = [s.name for s in (S if out is None else out.series)]
    assert names == kept


def test_the_default_age_is_below_prometheus_head_window_and_the_future_is_ten_minutes() -> None:
    bounds = TimestampBounds()
    assert 0 < bounds.max_age < 3600 and bounds.max_ahead == 600


def test_drops_are_logged_once_per_period_with_all_the_samples_since_the_last_line() -> None:
    clock = Clock()
    guard = TimestampGuard(TimestampBounds(), 15.0, {"job": "j"}, clock)
    now = 10 * HOUR_MS
    with capture_logs() as logs:
        for _ in range(3):  # three scrapes within one interval, two old samples each
            guard.samples(S[:2], [1.0, 2.0], [now - 2 * HOUR_MS] * 2, now)
            assert guard.done(now) == 2
            clock.now += 5.0
        clock.now += 15.0
        guard.samples(S[:2], [1.0, 2.0], [now - 2 * HOUR_MS] * 2, now)
        guard.done(now)
        guard.samples(S[:2], [1.0, 2.0], [now, now], now)
        assert guard.done(now) == 0
    assert [(e["event"], e["samples"], e["series"]) for e in logs] == [
        ("samples with out-of-bounds timestamps dropped", 2, "m0"),
        ("samples with out-of-bounds timestamps dropped", 6, "m0"),
    ]


def body(now_ms: int) -> bytes:
    return (
        "# TYPE healthy gauge\n"
        'healthy{gpu="0"} 1\n'
        'healthy{gpu="1"} 2\n'
        f'stamped{{when="recent"}} 3 {now_ms - 60_000}\n'
        f'stamped{{when="old"}} 4 {now_ms - 3 * HOUR_MS}\n'
        f'stamped{{when="ahead"}} 5 {now_ms + HOUR_MS}\n'
    ).encode()


def counted(target_job: str, instance: str, result: str) -> float:
    labels = {"job": target_job, "instance": instance, "result": result}
    return REGISTRY.get_sample_value("openagent_target_samples_total", labels) or 0.0


async def test_out_of_bounds_samples_are_not_sent_and_are_counted_with_their_reason(
    exporter: Exporter, client: ScrapeClient
) -> None:
    target = make_target(exporter.port)
    loop = ScrapeLoop(target, client, lambda r: None, limits=Limits())
    exporter.body = body(int(time.time() * 1000))
    before = counted(target.job, target.instance, "dropped_timestamp_out_of_bounds")
    with capture_logs() as logs:
        result = await loop.scrape_once()
    assert result.error is None
    sent = {(s.name, dict(s.labels).get("when", "")) for s in result.series}
    assert ("stamped", "recent") in sent and ("healthy", "") in sent
    assert not {("stamped", "old"), ("stamped", "ahead")} & sent
    assert by_name(result)["healthy"] == [1.0, 2.0]
    assert result.timestamps is not None and len(result.timestamps) == len(result.series)
    rep = report(result)
    assert rep["scrape_samples_scraped"] == 5
    assert rep["scrape_samples_post_metric_relabeling"] == 5  # as Prometheus counts them
    after = counted(target.job, target.instance, "dropped_timestamp_out_of_bounds")
    assert after - before == 2
    assert counted(target.job, target.instance, "dropped_relabel") == 0
    (line,) = [e for e in logs if e["event"].startswith("samples with out-of-bounds")]
    assert line["samples"] == 2 and line["series"] == "stamped"


async def test_without_honor_timestamps_nothing_is_dropped(
    exporter: Exporter, client: ScrapeClient
) -> None:
    target = make_target(exporter.port, extra="        honorTimestamps: false\n")
    loop = ScrapeLoop(target, client, lambda r: None, limits=Limits())
    exporter.body = body(int(time.time() * 1000))
    result = await loop.scrape_once()
    assert len(by_name(result)["stamped"]) == 3 and result.timestamps is None


async def test_bounds_of_zero_send_every_sample(exporter: Exporter, client: ScrapeClient) -> None:
    loop = ScrapeLoop(
        make_target(exporter.port),
        client,
        lambda r: None,
        limits=Limits(),
        bounds=TimestampBounds(0, 0),
    )
    exporter.body = body(int(time.time() * 1000))
    result = await loop.scrape_once()
    assert len(by_name(result)["stamped"]) == 3
