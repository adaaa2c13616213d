"""Which of the agent's pods count as members: Ready and not terminating.

A pod is a member while its Ready condition is ``True`` and it has no
``deletionTimestamp``: the kubelet marks a pod that stopped answering its
readiness probe (or whose node stopped reporting) not Ready, and a pod being
deleted gets its deletionTimestamp at once, before its grace period; from
then on its targets are the others'. This agent always counts itself: it
scrapes its share from the moment it knows the others, before its own
readiness shows, so a starting replica overlaps the old owners for a probe
period instead of leaving its targets unscraped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openagent.shard.ownership import Ownership

JSON = Mapping[str, Any]


def _dict(value: Any) -> JSON:
    return value if isinstance(value, Mapping) else {}


def pod_name(pod: JSON) -> str:
    """The pod's ``metadata.name`` ("" if it has none)."""
    name = _dict(pod.get("metadata")).get("name")
    return name if isinstance(name, str) else ""


def is_ready(pod: JSON) -> bool:
    """True when the pod's Ready condition has status ``True``."""
    conditions = _dict(pod.get("status")).get("conditions")
    if not isinstance(conditions, list):
        return False
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )


def is_terminating(pod: JSON) -> bool:
    """True once the pod has a ``deletionTimestamp`` (it is being deleted)."""
    return bool(_dict(pod.get("metadata")).get("deletionTimestamp"))


def is_member(pod: JSON) -> bool:
    """True when the pod takes a share of the targets: Ready and not terminating."""
    return bool(pod_name(pod)) and is_ready(pod) and not is_terminating(pod)


def ownership_of(pods: Iterable[JSON], me: str) -> Ownership:
    """The member pods among ``pods``, and ``me`` (this agent's pod) whatever its state."""
    return Ownership.of(me, (pod_name(p) for p in pods if is_member(p)))
