"""A fixed split: shard ``index`` of ``count``, the index given or read from the pod name.

``OPENAGENT_SHARD_COUNT`` replicas each take the targets whose id hashes to
their ``OPENAGENT_SHARD_INDEX`` (`Ownership.static`). In a StatefulSet the
index need not be set per pod: it defaults to the ordinal the StatefulSet
puts at the end of each pod's name (``openagent-2`` is shard 2), which is
what the downward API's ``POD_NAME`` gives. Nothing moves when a replica
dies: its targets wait for it (use `openagent.shard.membership` for that).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from openagent.shard.ownership import Ownership

_ORDINAL = re.compile(r".+-(0|[1-9][0-9]*)")


def statefulset_ordinal(pod_name: str | None) -> int | None:
    """The ordinal ``n`` of a StatefulSet pod named ``<set>-<n>``, else None."""
    found = _ORDINAL.fullmatch((pod_name or "").strip())
    return int(found.group(1)) if found else None


def static_index(index: int | None, count: int, pod_name: str | None) -> int:
    """This agent's shard: ``index`` if given, else the ordinal in ``pod_name``.

    ValueError, naming the settings, when there is neither or it is not below ``count``.
    """
    if index is None:
        if count <= 1:
            return 0
        index = statefulset_ordinal(pod_name)
        if index is None:
            raise ValueError(
                f"OPENAGENT_SHARD_COUNT is {count} but OPENAGENT_SHARD_INDEX is not set, "
                f"and POD_NAME ({pod_name or 'unset'}) does not end in a StatefulSet "
                "ordinal (-<n>) to take it from"
            )
        if index >= count:
            raise ValueError(
                f"the shard index {index}, the ordinal of POD_NAME {pod_name}, is not below "
                f"OPENAGENT_SHARD_COUNT {count}: scale the StatefulSet to at most {count} "
                "replicas or raise the count"
            )
    if index >= count:
        raise ValueError(
            f"OPENAGENT_SHARD_INDEX {index} is not below OPENAGENT_SHARD_COUNT {count}"
        )
    return index


class StaticShard:
    """A `openagent.shard.Shard` that never changes: known from the start."""

    def __init__(self, ownership: Ownership) -> None:
        self.current: Ownership | None = ownership
        self.waiting: str | None = None

    @property
    def me(self) -> str | None:
        """The shard index as text, or None when not sharded."""
        current = self.current
        return current.me if current is not None and current.sharded else None

    @property
    def mode(self) -> str:
        """``static`` when split, else ``none``."""
        return "static" if self.current is not None and self.current.sharded else "none"

    async def run(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Nothing to watch."""
