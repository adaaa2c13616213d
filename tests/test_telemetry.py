"""The log throttle: once per period per key, and a bounded memory of keys."""

from __future__ import annotations

from openagent.telemetry import Throttle


def test_a_key_is_let_through_once_per_period_and_its_repeats_are_counted() -> None:
    throttle = Throttle(3600)
    assert throttle.allow("a")
    assert not throttle.allow("a")
    assert not throttle.allow("a")
    assert throttle.allow("b")
    assert throttle.take_suppressed("a") == 2
    assert throttle.take_suppressed("a") == 0


def test_keys_from_data_cannot_grow_it_past_max_keys() -> None:
    throttle = Throttle(3600, max_keys=3)
    for key in ("a", "b", "c"):
        assert throttle.allow(key)
    assert not throttle.allow("a")  # remembered: within its period
    assert throttle.allow("d")  # a fourth key starts the memory over
    assert throttle.allow("a")  # so "a" was forgotten and goes once early
    assert not throttle.allow("d")
