"""Backoff: growth, cap, jitter bounds, Retry-After."""

from __future__ import annotations

import itertools

import pytest

from openagent.delivery.retry import Backoff


def test_waits_double_within_the_jitter_and_stop_at_the_cap() -> None:
    b = Backoff(0.5, 4.0, jitter=0.2)
    waits = [b.next() for _ in range(7)]
    for wait, base in zip(waits, [0.5, 1, 2, 4, 4, 4, 4], strict=True):
        assert base * 0.8 <= wait <= base * 1.2
    assert all(later > earlier for earlier, later in itertools.pairwise(waits[:4]))
    b.reset()
    assert 0.4 <= b.next() <= 0.6


def test_retry_after_is_honoured_and_capped() -> None:
    b = Backoff(0.01, 1.0, retry_after_max=60.0)
    assert 7.0 <= b.next(7.0) <= 7.7
    assert 60.0 <= b.next(3600.0) <= 66.0
    assert b.next(0.0) < 0.1  # a zero hint is no hint


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
    with pytest.raises(ValueError):
        Backoff(1, 2, jitter=1.5)
