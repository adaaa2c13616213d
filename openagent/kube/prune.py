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
  ``status.phase``, ``reason``, ``podIP``, ``podIPs``, ``hostIP``,
  ``hostIPs``, the ``Ready`` condition as ``type``/``status`` (the only
  one readiness needs), and container statuses as ``name``, ``ready``,
  ``containerID``. Strings that repeat across pods (namespace, node,
  image, phase, label values, owners...) are interned, so 20,000 pods
  share one copy of each.
* services, endpointslices: everything else (they are small and all of it
  is read: ports, selectors, cluster IPs, endpoints and their conditions).
* namespaces: ``status.phase``.
* nodes: ``spec``; ``status.addresses``, ``capacity``, ``allocatable``,
  ``daemonEndpoints``, ``nodeInfo`` and ``conditions`` (``type``/``status``);
  the image list and volume fields go.
* configmaps (the agent's own configuration): ``data`` and ``binaryData``.
* secrets (credentials the configuration references): ``data`` and
  ``type``; annotations go, since ``kubectl apply`` keeps a plain-text copy
  of the Secret in one.

`gc_paused` holds the cyclic garbage collector while a list page becomes objects.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

JSON = dict[str, Any]

_CONTAINER_SCALARS = ("name", "image", "restartPolicy")
_CONTAINER_STATUS_KEYS = ("name", "ready", "containerID")
_POD_STATUS_SCALARS = ("phase", "reason", "podIP", "hostIP")
_POD_CONDITIONS = frozenset({"Ready"})
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


def _conditions(items: Any, types: frozenset[str] | None = None) -> list[JSON]:
    if not isinstance(items, list):
        return []
    return [
        {"type": _i(c.get("type")), "status": _i(c.get("status"))}
        for c in items
        if isinstance(c, dict) and (types is None or c.get("type") in types)
    ]


def _i(value: Any) -> Any:
    """Share equal strings that repeat across objects (phase, node, image, label values)."""
    return sys.intern(value) if type(value) is str else value


def _shared(obj: Any, keys: tuple[str, ...]) -> JSON:
    """``_pick`` with the picked string values interned."""
    if not isinstance(obj, dict):
        return {}
    return {k: _i(obj[k]) for k in keys if k in obj}


def _shared_map(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: _i(v) for k, v in value.items()}


def _metadata(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return {}
    if "managedFields" not in meta:
        return meta
    return {k: v for k, v in meta.items() if k != "managedFields"}


def _shared_metadata(obj: JSON) -> JSON:
    """`_metadata` with the strings that repeat across objects interned."""
    meta = _metadata(obj)
    out = {k: v for k, v in meta.items() if k not in ("labels", "ownerReferences")}
    for key in ("namespace", "generateName", "creationTimestamp"):
        if key in out:
            out[key] = _i(out[key])
    if "labels" in meta:
        out["labels"] = _shared_map(meta["labels"])
    owners = meta.get("ownerReferences")
    if isinstance(owners, list):
        out["ownerReferences"] = [_shared_map(ref) for ref in owners]
    return out


def _containers(items: Any) -> list[JSON]:
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        c = _shared(item, _CONTAINER_SCALARS)
        ports = item.get("ports") if isinstance(item, dict) else None
        if isinstance(ports, list):
            c["ports"] = [_shared_map(p) for p in ports]
        out.append(c)
    return out


def _pod(obj: JSON) -> JSON:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    new_spec = _shared(spec, ("nodeName", "hostNetwork"))
    new_spec["containers"] = _containers(spec.get("containers"))
    if "initContainers" in spec:
        new_spec["initContainers"] = _containers(spec["initContainers"])
    new_status = _shared(status, _POD_STATUS_SCALARS)
    for key in ("hostIPs", "podIPs"):  # the same strings as hostIP and podIP
        if isinstance(status.get(key), list):
            new_status[key] = [_shared(ip, ("ip",)) for ip in status[key]]
    if "conditions" in status:
        new_status["conditions"] = _conditions(status["conditions"], _POD_CONDITIONS)
    for key in ("containerStatuses", "initContainerStatuses"):
        if key in status:
            new_status[key] = [_shared(cs, _CONTAINER_STATUS_KEYS) for cs in status[key]]
    return {"metadata": _shared_metadata(obj), "spec": new_spec, "status": new_status}


def _namespace(obj: JSON) -> JSON:
    return {"metadata": _metadata(obj), "status": _pick(obj.get("status"), ("phase",))}


def _node(obj: JSON) -> JSON:
    status = _dict(obj.get("status"))
    new_status = _pick(status, _NODE_STATUS_KEYS)
    if "conditions" in status:
        new_status["conditions"] = _conditions(status["conditions"])
    return {"metadata": _metadata(obj), "spec": _dict(obj.get("spec")), "status": new_status}


def _config_map(obj: JSON) -> JSON:
    out = {"metadata": _metadata(obj), "data": _dict(obj.get("data"))}
    if isinstance(obj.get("binaryData"), dict):
        out["binaryData"] = obj["binaryData"]
    return out


def _secret(obj: JSON) -> JSON:
    meta = {k: v for k, v in _metadata(obj).items() if k != "annotations"}
    return {"metadata": meta, "type": obj.get("type"), "data": _dict(obj.get("data"))}


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
    "configmaps": _config_map,
    "secrets": _secret,
}


def prune(resource: str, obj: JSON) -> JSON:
    """The object of ``resource`` reduced to what targets read (see the module docs)."""
    return PRUNERS.get(resource, _whole)(obj)


def keep_all(resource: str, obj: JSON) -> JSON:
    """No pruning (for comparison in benchmarks): the object as received."""
    return obj


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while a list page becomes objects.

    A page of 500 pods is some 100,000 new containers, none of them garbage;
    collections triggered in the middle of building them only traverse the
    growing set of live objects (they more than doubled the parse time with
    20,000 pods held). The block must not await.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
