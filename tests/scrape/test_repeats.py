"""The gate that keeps a target's repeated log line out of the log for a while."""

from __future__ import annotations

from openagent.scrape.repeats import RepeatGate


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_identical_lines_pass_once_and_the_next_after_the_period_counts_nine() -> None:
    clock = Clock()
    gate = RepeatGate(60.0, clock)
    admitted = []
    for _ in range(10):
        admitted.append(gate.admit("connect: refused"))
        clock.now += 5
    assert admitted == [0] + [None] * 9
    clock.now += 60
    assert gate.admit("connect: refused") == 9
    assert gate.admit("connect: refused") is None


def test_a_different_line_passes_at_once_and_carries_the_count_held_back() -> None:
    gate = RepeatGate(60.0, Clock())
    assert gate.admit("a") == 0
    assert gate.admit("a") is None
    assert gate.admit("b") == 1
    assert gate.admit("a") == 0


def test_reset_returns_what_was_held_back_and_lets_the_same_line_through_again() -> None:
    gate = RepeatGate(60.0, Clock())
    gate.admit("a")
    gate.admit("a")
    gate.admit("a")
    assert gate.reset() == 2
    assert gate.admit("a") == 0
