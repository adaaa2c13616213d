"""Who owns what: the members that share the targets, and this agent's name among them.

An `Ownership` is a value: the sorted member names and ``me``. Each target
belongs to the member with the highest rendezvous weight for its id
(`openagent.rendezvous.owner`), so agents that see the same members agree on
every owner without talking to each other, a member that leaves hands over
only its own targets, and one that joins takes about 1/N of them. Nothing
here knows where the members come from (a static count, or the agent pods
Kubernetes reports Ready), so it is tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openagent.model import Target
from openagent.rendezvous import numbered, owner


@dataclass(frozen=True, slots=True)
class Ownership:
    """The members (sorted, each once, ``me`` among them) and this agent's name ``me``.

    No members means no sharding: this agent owns every target.
    """

    me: str
    members: tuple[str, ...]

    @classmethod
    def alone(cls) -> Ownership:
        """Not sharded: every target is this agent's."""
        return cls("", ())

    @classmethod
    def of(cls, me: str, members: Iterable[str]) -> Ownership:
        """``members`` (any order, repeats allowed), always with ``me`` among them."""
        return cls(me, tuple(sorted({*members, me})))

    @classmethod
    def static(cls, index: int, count: int) -> Ownership:
        """Shard ``index`` of ``count``: the members ``"0"`` .. ``"<count-1>"``."""
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} is not below the shard count {count}")
        return cls(str(index), numbered(count)) if count > 1 else cls.alone()

    @property
    def sharded(self) -> bool:
        """True when the targets are split over more than this agent."""
        return len(self.members) > 1

    def owner(self, target_id: str) -> str:
        """The member that owns ``target_id`` (``me`` when not sharded)."""
        return owner(target_id, self.members) if self.sharded else self.me

    def owns(self, target_id: str) -> bool:
        """True when ``target_id`` is this agent's to scrape."""
        return not self.sharded or self.owner(target_id) == self.me

    def split(self, targets: Iterable[Target]) -> tuple[list[Target], set[str]]:
        """This agent's targets, and the ids of those another member owns."""
        mine: list[Target] = []
        elsewhere: set[str] = set()
        for target in targets:
            if self.owns(target.id):
                mine.append(target)
            else:
                elsewhere.add(target.id)
        return mine, elsewhere
