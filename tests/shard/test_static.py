"""The static split: the index given or taken from the StatefulSet ordinal; each id once."""

from __future__ import annotations

import pytest

from openagent.shard import Ownership, statefulset_ordinal, static_index


@pytest.mark.parametrize(
    ("name", "ordinal"),
    [
        ("openagent-0", 0),
        ("openagent-12", 12),
        ("whatap-open-agent-3", 3),
        ("openagent-01", None),
        ("openagent-5d8f7c9b6-x7k2p", None),
        ("openagent", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_the_ordinal_is_the_number_a_statefulset_puts_last(
    name: str | None, ordinal: int | None
) -> None:
    assert statefulset_ordinal(name) == ordinal


def test_the_index_defaults_to_the_ordinal_and_must_be_below_the_count() -> None:
    assert static_index(None, 3, "openagent-2") == 2
    assert static_index(1, 3, "openagent-2") == 1  # given wins
    assert static_index(None, 1, None) == 0
    with pytest.raises(ValueError, match=r"POD_NAME \(unset\) does not end in a StatefulSet"):
        static_index(None, 3, None)
    with pytest.raises(ValueError, match="does not end in a StatefulSet ordinal"):
        static_index(None, 3, "openagent-5d8f7c9b6-x7k2p")
    with pytest.raises(ValueError, match="the ordinal of POD_NAME openagent-3, is not below"):
        static_index(None, 3, "openagent-3")
    with pytest.raises(ValueError, match="OPENAGENT_SHARD_INDEX 4 is not below"):
        static_index(4, 3, None)


def test_every_target_goes_to_exactly_one_index() -> None:
    ids = [f"target-{i}" for i in range(5000)]
    for count in (2, 3, 8):
        shards = [
            Ownership.static(static_index(None, count, f"agent-{i}"), count) for i in range(count)
        ]
        claims = [sum(s.owns(tid) for s in shards) for tid in ids]
        assert claims == [1] * len(ids)
        sizes = [sum(s.owns(tid) for tid in ids) for s in shards]
        assert all(0.8 * len(ids) / count < n < 1.2 * len(ids) / count for n in sizes), sizes
