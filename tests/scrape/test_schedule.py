"""Offsets and the adaptive timeout."""

from __future__ import annotations

import itertools

import pytest

from openagent.scrape.schedule import AdaptiveTimeout, grid_step, next_time, offset_for, wake_time


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


@pytest.mark.parametrize("quantum", [0.25, 0.05, 1.0])
def test_wake_time_is_the_next_tick_of_a_shared_grid(quantum: float) -> None:
    dues = [1_700_000_000.0 + i * 0.037 for i in range(100)]
    for due in dues:
        wake = wake_time(due, quantum)
        assert due - 1e-6 <= wake < due + quantum
        assert abs(wake / quantum - round(wake / quantum)) < 1e-4  # float error at 1.7e9 s
    assert len({wake_time(d, quantum) for d in dues}) < len(dues)  # dues share wake-ups


def test_without_a_quantum_a_scrape_wakes_when_due() -> None:
    assert wake_time(1_700_000_000.123, 0.0) == 1_700_000_000.123


@pytest.mark.parametrize(("quantum", "interval"), [(0.25, 15.0), (0.25, 10.1), (0.25, 1.0)])
def test_the_grid_divides_the_interval_so_a_target_keeps_its_spacing(
    quantum: float, interval: float
) -> None:
    q = grid_step(quantum, interval)
    assert 0 < q <= quantum and interval / 20 >= q - 1e-12
    assert abs(interval / q - round(interval / q)) < 1e-9
    offset = offset_for("target", interval)
    wakes = [wake_time(offset + k * interval + 1_700_000_000, q) for k in range(50)]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(wakes)}
    assert gaps == {round(interval, 6)}
