"""Keep only the parts of an object that target building reads.

Informers hold every matching object for as long as they run, so each one is
rebuilt as a smaller dict on arrival (a rebuilt dict, because a dict does
not shrink when keys are deleted). What is kept, per resource:

* every resource: ``metadata`` without ``managedFields`` (name, namespace,
  uid, resourceVersion, labels, annotations, ownerReferences,
  deletionTimestamp... stay: annotations and owners feed meta labels);
  ``kind`` and ``apiVersion`` are dropped (list items do not carry them).
* pods: ``spec.nodeName``, ``spec.hostNetwork``, and per container and init
  container only ``name``, ``image``, ``ports`` and ``restartPolicy``
  (volumes, env, probes, resources, commands, tolerations, affinity go);
  ``status.phase``, ``reason``, ``podIP(s)``, ``hostIP(s)``, ``conditions``
  as ``type``/``status`` pairs, and container statuses as ``name``,
  ``ready``, ``containerID``.
* services, endpointslices: everything else (they are small and all of it
  is read: ports, selectors, cluster IPs, endpoints and their conditions).
* namespaces: ``status.phase``.
* nodes: ``spec``; ``status.addresses``, ``capacity``, ``allocatable``,
  ``daemonEndpoints``, ``nodeInfo`` and ``conditions`` (``type``/``status``);
  the image list and volume fields go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]

_CONTAINER_KEYS = ("name", "image", "ports", "restartPolicy")
_CONTAINER_STATUS_KEYS = ("name", "ready", "containerID")
_POD_STATUS_KEYS = ("phase", "reason", "podIP", "podIPs", "hostIP", "hostIPs")
_NODE_STATUS_KEYS = ("addresses", "capacity", "allocatable", "daemonEndpoints", "nodeInfo")


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _pick(obj: Any, keys: tuple[str, ...]) -> JSON:
    if not isinstance(obj, dict):
        return {}
    return {k: obj[k] for k in keys if k in obj}


def _picks(items: Any, keys: tuple[str, ...]) -> list[JSON]:
    if not isinstance(items, list):
        return []
    return [_pick(item, keys) for item in items]


def _conditions(items: Any) -> list[JSON]:
    return _picks(items, ("type", "status"))


def _metadata(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return {}
    if "managedFields" not in meta:
        return meta
    return {k: v for k, v in meta.items() if k != "managedFields"}


def _pod(obj: JSON) -> JSON:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    new_spec = _pick(spec, ("nodeName", "hostNetwork"))
    new_spec["containers"] = _picks(spec.get("containers"), _CONTAINER_KEYS)
    if "initContainers" in spec:
        new_spec["initContainers"] = _picks(spec["initContainers"], _CONTAINER_KEYS)
    new_status = _pick(status, _POD_STATUS_KEYS)
    if "conditions" in status:
        new_status["conditions"] = _conditions(status["conditions"])
    for key in ("containerStatuses", "initContainerStatuses"):
        if key in status:
            new_status[key] = _picks(status[key], _CONTAINER_STATUS_KEYS)
    return {"metadata": _metadata(obj), "spec": new_spec, "status": new_status}


def _namespace(obj: JSON) -> JSON:
    return {"metadata": _metadata(obj), "status": _pick(obj.get("status"), ("phase",))}


def _node(obj: JSON) -> JSON:
    status = _dict(obj.get("status"))
    new_status = _pick(status, _NODE_STATUS_KEYS)
    if "conditions" in status:
        new_status["conditions"] = _conditions(status["conditions"])
    return {"metadata": _metadata(obj), "spec": _dict(obj.get("spec")), "status": new_status}


def _whole(obj: JSON) -> JSON:
    out = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
    out["metadata"] = _metadata(obj)
    return out


PRUNERS: dict[str, Callable[[JSON], JSON]] = {
    "pods": _pod,
    "services": _whole,
    "endpointslices": _whole,
    "namespaces": _namespace,
    "nodes": _node,
}


def prune(resource: str, obj: JSON) -> JSON:
    """The object of ``resource`` reduced to what targets read (see the module docs)."""
    return PRUNERS.get(resource, _whole)(obj)


def keep_all(resource: str, obj: JSON) -> JSON:
    """No pruning (for comparison in benchmarks): the object as received."""
    return obj
