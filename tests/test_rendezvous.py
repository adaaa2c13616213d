"""Rendezvous hashing: one owner per key, an even spread, and only a leaver's keys move."""

from __future__ import annotations

from collections import Counter

import pytest

from openagent.rendezvous import assign, numbered, owner
from openagent.shard import Ownership

KEYS = [f"{i:016x}" for i in range(3000)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_key_has_exactly_one_owner_and_the_spread_is_even(count: int) -> None:
    members = numbered(count, "worker-")
    shares = assign(KEYS, members, key=str)
    assert sorted(k for share in shares.values() for k in share) == sorted(KEYS)
    fair = len(KEYS) / count
    assert all(0.8 * fair < len(share) < 1.2 * fair for share in shares.values())
    assert all(owner(k, members) == m for m, share in shares.items() for k in share)


def test_the_owner_does_not_depend_on_the_members_order() -> None:
    members = numbered(5)
    assert all(owner(k, members) == owner(k, members[::-1]) for k in KEYS)


def test_removing_a_member_moves_only_its_keys() -> None:
    members = numbered(4, "worker-")
    before = {k: owner(k, members) for k in KEYS}
    fewer = tuple(m for m in members if m != "worker-2")
    after = {k: owner(k, fewer) for k in KEYS}
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "worker-2"}
    assert Counter(after[k] for k in moved).keys() == set(fewer)  # spread over the others


def test_adding_a_member_takes_keys_only_for_itself() -> None:
    members = numbered(3)
    before = {k: owner(k, members) for k in KEYS}
    after = {k: owner(k, (*members, "3")) for k in KEYS}
    assert {after[k] for k in KEYS if before[k] != after[k]} == {"3"}


def test_workers_split_a_shard_evenly() -> None:
    """Shards and worker processes use other member names, so their weights are independent."""
    shard = [k for k in KEYS if Ownership.static(1, 2).owns(k)]
    shares = assign(shard, numbered(2, "worker-"), key=str)
    assert all(0.4 * len(shard) < len(s) < 0.6 * len(shard) for s in shares.values())


def test_no_members_is_an_error() -> None:
    with pytest.raises(ValueError, match="no members"):
        owner("k", ())
