"""The report's arithmetic, on numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from benchmarks import compare_stats as cs


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert cs.percentile(values, 0.5) == 50.0
    assert cs.percentile(values, 0.99) == 99.0
    assert cs.percentile(values, 1.0) == 100.0
    assert cs.percentile([7.0], 0.99) == 7.0
    assert cs.percentile([], 0.5) is None


def test_counted_percentile_weighs_each_value_by_its_count() -> None:
    counts = {10: 98, 500: 1, 20: 1}
    assert cs.counted_percentile(counts, 0.5) == 10
    assert cs.counted_percentile(counts, 0.99) == 20
    assert cs.counted_percentile(counts, 1.0) == 500
    assert cs.counted_percentile({}, 0.5) is None
    assert cs.counted_percentile({-3: 2}, 0.5) == -3


def _exposition(observations: list[float], **labels: str) -> str:
    registry = CollectorRegistry()
    names = sorted(labels)
    hist = Histogram("lag_seconds", "lag", names, buckets=(0.001, 0.005, 0.01), registry=registry)
    for v in observations:
        (hist.labels(**labels) if labels else hist).observe(v)
    return generate_latest(registry).decode()


def test_parse_histogram_reads_a_real_exposition_and_adds_up_label_sets() -> None:
    one = _exposition([0.0005, 0.003, 0.02], job="a")
    two = _exposition([0.004], job="b")
    text = one + two.split("\n", 2)[2]  # the second family's samples under the same name
    buckets = cs.parse_histogram(text, "lag_seconds")
    assert buckets == {0.001: 1.0, 0.005: 3.0, 0.01: 3.0, math.inf: 4.0}
    assert cs.parse_histogram(text, "other_seconds") == {}


def test_quantile_from_bucket_deltas_interpolates_inside_the_bucket() -> None:
    before = {0.001: 5.0, 0.005: 5.0, 0.01: 5.0, math.inf: 5.0}
    after = {0.001: 5.0, 0.005: 55.0, 0.01: 95.0, math.inf: 105.0}
    deltas = cs.bucket_deltas(before, after)
    assert deltas == {0.001: 0.0, 0.005: 50.0, 0.01: 90.0, math.inf: 100.0}
    assert cs.histogram_quantile(0.5, deltas) == pytest.approx(0.005)
    assert cs.histogram_quantile(0.7, deltas) == pytest.approx(0.0075)
    assert cs.histogram_quantile(0.25, deltas) == pytest.approx(0.003)
    # In +Inf nothing is known beyond the highest finite bound.
    assert cs.histogram_quantile(0.99, deltas) == pytest.approx(0.01)


def test_quantile_in_the_first_bucket_starts_from_zero_and_none_without_observations() -> None:
    assert cs.histogram_quantile(0.5, {0.01: 4.0, math.inf: 4.0}) == pytest.approx(0.005)
    assert cs.histogram_quantile(0.99, {0.01: 0.0, math.inf: 0.0}) is None
    assert cs.histogram_quantile(0.99, {}) is None
    # A bucket that appeared after the first reading counts from zero.
    assert cs.bucket_deltas({}, {0.5: 2.0}) == {0.5: 2.0}


def test_bytes_per_series_is_the_rss_growth_over_the_series_added() -> None:
    mib = 2**20
    # 60 MiB at 1 node (320 series), 100 MiB at 10 nodes (3,200 series).
    assert cs.bytes_per_series(100 * mib, 3200, 60 * mib, 320) == pytest.approx(40 * mib / 2880)
    assert cs.bytes_per_series(50 * mib, 3200, 60 * mib, 320) < 0  # shown as measured
    assert cs.bytes_per_series(100 * mib, 3200, None, 320) is None
    assert cs.bytes_per_series(100 * mib, 320, 60 * mib, 320) is None


def test_ratio_needs_both_values_and_a_positive_reference() -> None:
    assert cs.ratio(3.0, 2.0) == 1.5
    assert cs.ratio(None, 2.0) is None
    assert cs.ratio(3.0, None) is None
    assert cs.ratio(3.0, 0.0) is None
    assert cs.ratio(float("nan"), 2.0) is None
