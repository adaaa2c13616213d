"""The assigner: nothing before the members are known, then this agent's share and the
ids handed to others, again on every change of members or targets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from openagent.model import Target
from openagent.shard import Assigner, Ownership, StaticShard
from openagent.telemetry import REGISTRY
from tests.scrape.test_loop import make_target

TARGETS = [make_target(port) for port in range(20000, 20060)]
PODS = ("openagent-0", "openagent-1", "openagent-2")


class Members:
    """A shard whose members the test sets (what `PodMembership` learns from the API)."""

    mode = "pods"

    def __init__(self, me: str) -> None:
        self.me = me
        self.current: Ownership | None = None
        self.waiting: str | None = "waiting for the list of pods"

    async def run(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Not used: the test calls `Assigner.reassign` itself."""


class Scrapers:
    """Records what the assigner applies."""

    def __init__(self) -> None:
        self.calls: list[tuple[set[str], set[str]]] = []

    async def apply(self, targets: list[Target], handed_over: set[str]) -> None:
        self.calls.append(({t.id for t in targets}, set(handed_over)))


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_nothing_is_applied_until_the_members_are_known() -> None:
    members, scrapers = Members("openagent-1"), Scrapers()
    assigner = Assigner(members, scrapers.apply)
    assert not await assigner.targets(TARGETS)
    assert scrapers.calls == [] and assigner.waiting == "waiting for the list of pods"
    assert assigner.member() == "openagent-1" and assigner.members() == []
    members.current, members.waiting = Ownership.of("openagent-1", PODS), None
    assert await assigner.reassign()
    [(mine, elsewhere)] = scrapers.calls
    every = {t.id for t in TARGETS}
    assert mine == {t.id for t in TARGETS if Ownership.of("openagent-1", PODS).owns(t.id)}
    assert elsewhere == every - mine and 0 < len(mine) < len(every)
    assert metric("openagent_shard_members") == 3
    assert metric("openagent_shard_targets", owner="this") == len(mine)
    assert assigner.status() == {
        "mode": "pods",
        "member": "openagent-1",
        "members": list(PODS),
        "owned": len(mine),
        "waiting": None,
    }


async def test_a_change_of_members_hands_over_and_takes_back_exactly_the_movers() -> None:
    members, scrapers = Members("openagent-0"), Scrapers()
    assigner = Assigner(members, scrapers.apply)
    members.current = Ownership.of("openagent-0", PODS)
    await assigner.targets(TARGETS)
    given_before = metric("openagent_shard_handovers_total", direction="to") or 0.0
    taken_before = metric("openagent_shard_handovers_total", direction="from") or 0.0
    members.current = Ownership.of("openagent-0", PODS[:2])  # openagent-2 went away
    await assigner.reassign()
    members.current = Ownership.of("openagent-0", PODS)  # and came back
    await assigner.reassign()
    (three, _), (two, _), (again, handed) = scrapers.calls
    assert three < two and again == three
    assert two == {t.id for t in TARGETS if Ownership.of("openagent-0", PODS[:2]).owns(t.id)}
    assert handed >= two - three
    taken = len(two - three)
    assert metric("openagent_shard_handovers_total", direction="from") == taken_before + taken
    assert metric("openagent_shard_handovers_total", direction="to") == given_before + taken


async def test_a_static_shard_applies_at_once_and_names_its_index() -> None:
    scrapers = Scrapers()
    assigner = Assigner(StaticShard(Ownership.static(2, 3)), scrapers.apply)
    assert await assigner.targets(TARGETS)
    assert assigner.member() == "2" and assigner.members() == ["0", "1", "2"]
    unsharded = Assigner(StaticShard(Ownership.static(0, 1)), scrapers.apply)
    assert await unsharded.targets(TARGETS)
    assert unsharded.member() is None and scrapers.calls[-1] == ({t.id for t in TARGETS}, set())
