"""Offsets and the adaptive timeout."""

from __future__ import annotations

import pytest

from openagent.scrape.schedule import AdaptiveTimeout, next_time, offset_for


def test_offset_is_stable_and_inside_interval() -> None:
    a = offset_for("target-a", 15.0, seed="agent-1")
    assert a == offset_for("target-a", 15.0, seed="agent-1")
    assert 0 <= a < 15.0


def test_offsets_spread_targets_found_together() -> None:
    offsets = [offset_for(f"node-{i}", 60.0) for i in range(200)]
    buckets = {int(o // 6) for o in offsets}  # ten 6-second buckets
    assert len(buckets) == 10
    assert len(set(offsets)) == 200


def test_seed_changes_offsets() -> None:
    assert offset_for("t", 60.0, seed="a") != offset_for("t", 60.0, seed="b")


@pytest.mark.parametrize(
    ("now", "expected"),
    [(100.0, 103.0), (103.0, 103.0), (103.5, 113.0), (0.0, 3.0)],
)
def test_next_time_is_on_the_offset_grid(now: float, expected: float) -> None:
    assert next_time(now, 10.0, 3.0) == pytest.approx(expected)


def test_adaptive_timeout_follows_go_agent_example() -> None:
    # base 10 s, interval 60 s: max = min(50, 55) = 50; steps 10 -> 20 -> 40 -> 50
    t = AdaptiveTimeout(10, 60, failure_threshold=2, multiplier=2.0)
    seen = [t.current]
    for _ in range(8):
        t.on_timeout()
        seen.append(t.current)
    assert seen == [10, 10, 20, 20, 40, 40, 50, 50, 50]
    t.on_success()
    assert t.current == 10


def test_adaptive_timeout_ignores_other_errors_and_can_be_disabled() -> None:
    t = AdaptiveTimeout(5, 60, enabled=False)
    for _ in range(5):
        t.on_timeout()
    assert t.current == 5


def test_adaptive_timeout_never_exceeds_interval() -> None:
    # interval <= 5 s: the interval term is ignored by the Go agent; we still cap at the interval
    t = AdaptiveTimeout(2, 4, failure_threshold=1, multiplier=3.0)
    for _ in range(5):
        t.on_timeout()
    assert t.current == 4
    assert t.maximum == 4
