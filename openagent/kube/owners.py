"""The workload that owns a pod: its top controller, following ``controller: true``
ownerReferences as ``kubectl`` and kube-state-metrics do.

Only the two middle links are read (a ReplicaSet for its Deployment, a Job for
its CronJob), each with one GET: the kinds above them (Deployment,
StatefulSet, DaemonSet, CronJob) are controllers at the top in practice, and
an owner of a kind the agent cannot read (a custom resource) is reported as
its own kind and name, without a request (and without RBAC for it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from openagent.kube.errors import Resource

#: The owner kinds that are read to find their own controller: (apiVersion group, kind).
READ: Mapping[tuple[str, str], Resource] = {
    ("apps", "ReplicaSet"): "replicasets",
    ("batch", "Job"): "jobs",
}
#: ReplicaSet → Deployment → ...: more links than any built-in chain has.
MAX_LINKS = 4

Get = Callable[[Resource, str, str], Awaitable[dict[str, Any]]]


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(group, kind, name)`` of the object's controller ownerReference, or None."""
    refs = obj.get("metadata", {}).get("ownerReferences") or ()
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            return group, str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


async def top_controller(get: Get, pod: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, name)`` of the workload owning ``pod``: its top controller, or the pod.

    ``get(resource, namespace, name)`` reads one owner; what it raises is left
    to the caller (an owner that cannot be read makes the pod unattributed).
    """
    meta = pod.get("metadata", {})
    namespace = str(meta.get("namespace", ""))
    ref = controller_of(pod)
    if ref is None:
        return "Pod", str(meta.get("name", ""))
    group, kind, name = ref
    for _ in range(MAX_LINKS):
        resource = READ.get((group, kind))
        if resource is None:
            break
        above = controller_of(await get(resource, namespace, name))
        if above is None:
            break
        group, kind, name = above
    return kind, name
