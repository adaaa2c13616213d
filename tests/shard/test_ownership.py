"""Who owns what: one owner per target, a leaver's targets only move, a joiner takes ~1/N."""

from __future__ import annotations

from collections import Counter

import pytest

from openagent.shard import Ownership

IDS = [f"{i:016x}" for i in range(3000)]
PODS = ("openagent-0", "openagent-1", "openagent-2")


def owners(members: tuple[str, ...]) -> dict[str, str]:
    """Each id's owner, as every member would see it; asserting exactly one member claims it."""
    views = [Ownership.of(me, members) for me in members]
    out = {}
    for tid in IDS:
        claimed = [v.me for v in views if v.owns(tid)]
        assert len(claimed) == 1, (tid, claimed)
        out[tid] = claimed[0]
    return out


@pytest.mark.parametrize("count", [2, 3, 5])
def test_every_target_is_owned_by_exactly_one_member_and_evenly(count: int) -> None:
    members = tuple(f"openagent-{i}" for i in range(count))
    got = Counter(owners(members).values())
    assert set(got) == set(members)
    fair = len(IDS) / count
    assert all(0.8 * fair < n < 1.2 * fair for n in got.values()), got


def test_a_member_leaving_moves_only_its_targets_spread_over_the_rest() -> None:
    before = owners(PODS)
    after = owners(PODS[:1] + PODS[2:])
    moved = {tid for tid in IDS if before[tid] != after[tid]}
    assert moved == {tid for tid in IDS if before[tid] == "openagent-1"}
    assert {after[tid] for tid in moved} == {"openagent-0", "openagent-2"}


def test_a_member_joining_takes_about_a_third_and_only_for_itself() -> None:
    before = owners(PODS[:2])
    after = owners(PODS)
    moved = {tid for tid in IDS if before[tid] != after[tid]}
    assert {after[tid] for tid in moved} == {"openagent-2"}
    assert moved == {tid for tid in IDS if after[tid] == "openagent-2"}
    assert 0.8 / 3 < len(moved) / len(IDS) < 1.2 / 3


def test_split_gives_this_members_targets_and_the_ids_of_the_others() -> None:
    from tests.scrape.test_loop import make_target

    targets = [make_target(port) for port in range(20000, 20030)]
    views = [Ownership.of(me, PODS) for me in PODS]
    splits = [v.split(targets) for v in views]
    mine = [{t.id for t in m} for m, _ in splits]
    every = {t.id for t in targets}
    assert sum(len(m) for m in mine) == len(every) and set().union(*mine) == every
    assert all(elsewhere == every - m for m, (_, elsewhere) in zip(mine, splits, strict=True))


def test_a_member_always_counts_itself_and_alone_owns_everything() -> None:
    alone = Ownership.of("openagent-3", ())
    assert alone.members == ("openagent-3",) and not alone.sharded
    assert all(alone.owns(tid) for tid in IDS)
    assert Ownership.of("b", ["c", "a", "c"]).members == ("a", "b", "c")
    assert all(Ownership.alone().owns(tid) for tid in IDS[:10])


def test_static_shards_are_the_numbered_members() -> None:
    shards = [Ownership.static(i, 3) for i in range(3)]
    for tid in IDS:
        assert sum(s.owns(tid) for s in shards) == 1
    assert shards[1] == Ownership.of("1", ("0", "1", "2"))
    assert not Ownership.static(0, 1).sharded
    with pytest.raises(ValueError, match="shard index 3 is not below the shard count 3"):
        Ownership.static(3, 3)
