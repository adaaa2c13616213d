"""Builders for realistic objects, shaped like a 1.32 cluster serves them.

The objects carry what kubernetes_asyncio's client-side validation requires
(container names, ports, container-status images, owner-reference uids, the
ten NodeSystemInfo fields, EndpointSlice ``addressType``/``endpoints``) and
what discovery reads. Names, uids and addresses derived from names are
deterministic, so expectations can be computed. The store fills
``resourceVersion`` and, when absent, ``uid`` and ``creationTimestamp``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import uuid
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]
Ports = Sequence[tuple[str, int]]
Container = tuple[str, Ports]

DCGM_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
_STARTED = "2026-11-28T09:00:00Z"
_OWNER_API = {
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Node": "v1",
    "Service": "v1",
}


@functools.lru_cache(maxsize=4096)
def stable_uid(*parts: str) -> str:
    """A uid derived from names, the same on every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kubefake/" + "/".join(parts)))


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def node_ip(node: str) -> str:
    """The InternalIP `node` gives a node of that name."""
    n = zlib.crc32(node.encode())
    return f"192.168.{(n >> 8) % 250 + 1}.{n % 250 + 1}"


def _meta(
    name: str,
    namespace: str | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    meta: JSON = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _owner(kind: str, name: str, namespace: str | None) -> JSON:
    return {
        "apiVersion": _OWNER_API.get(kind, "v1"),
        "kind": kind,
        "name": name,
        "uid": stable_uid(kind, namespace or "", name),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _condition(kind: str, ok: bool, **extra: Any) -> JSON:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": _STARTED,
        **extra,
    }


def pod(
    name: str,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    ip: str | None = "10.244.1.10",
    node: str | None = "node-1",
    phase: str = "Running",
    ready: bool = True,
    containers: Sequence[Container] = (("dcgm-exporter", (("metrics", 9400),)),),
    deleting: bool = False,
    owner: tuple[str, str] | None = ("DaemonSet", "whatap-node-agent"),
    annotations: Mapping[str, str] | None = None,
    host_network: bool = False,
    image: str = DCGM_IMAGE,
    uid: str | None = None,
) -> JSON:
    """A Pod. ``node=None`` means unscheduled (no node, no IPs, PodScheduled False)."""
    meta = _meta(name, namespace, labels, annotations)
    if uid:
        meta["uid"] = uid
    if owner is not None:
        meta["ownerReferences"] = [_owner(owner[0], owner[1], namespace)]
    if deleting:
        meta["deletionTimestamp"] = _STARTED
        meta["deletionGracePeriodSeconds"] = 30
    spec: JSON = {
        "containers": [
            {
                "name": cname,
                "image": image,
                "ports": [
                    {"name": pname, "containerPort": port, "protocol": "TCP"}
                    | ({"hostPort": port} if host_network else {})
                    for pname, port in ports
                ],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
            for cname, ports in containers
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if host_network:
        spec["hostNetwork"] = True
    status: JSON = {"phase": phase, "qosClass": "BestEffort"}
    if node is None:
        status["conditions"] = [
            _condition(
                "PodScheduled", False, reason="Unschedulable", message="0/1 nodes are available"
            )
        ]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    spec["nodeName"] = node
    host_ip = node_ip(node)
    pod_ip = host_ip if host_network else ip
    running = phase == "Running"
    status.update(
        {
            "conditions": [
                _condition("PodReadyToStartContainers", True),
                _condition("Initialized", True),
                _condition("Ready", ready and running),
                _condition("ContainersReady", ready and running),
                _condition("PodScheduled", True),
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "startTime": _STARTED,
            "containerStatuses": [
                {
                    "name": cname,
                    "ready": ready and running,
                    "restartCount": 0,
                    "image": image,
                    "imageID": image.split(":")[0] + "@sha256:" + _digest(image),
                    "containerID": "containerd://" + _digest(namespace, name, cname),
                    "started": running,
                    "state": {"running": {"startedAt": _STARTED}}
                    if running
                    else {"waiting": {"reason": "ContainerCreating"}},
                    "lastState": {},
                }
                for cname, _ in containers
            ],
        }
    )
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _service_port(name: str, port: int, target: int | str | None = None) -> JSON:
    return {"name": name, "protocol": "TCP", "port": port, "targetPort": target or port}


def service(
    name: str,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    selector: Mapping[str, str] | None = None,
    ports: Sequence[tuple[str, int] | tuple[str, int, int | str]] = (("metrics", 9400),),
    cluster_ip: str = "10.96.0.100",
    type: str = "ClusterIP",
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    """A Service; ``cluster_ip="None"`` makes it headless. Ports: (name, port[, target])."""
    spec: JSON = {
        "ports": [_service_port(*p) for p in ports],
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "type": type,
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    if selector:
        spec["selector"] = dict(selector)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, labels, annotations),
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


Endpoint = tuple[str, bool, bool, "str | JSON | None"]


def endpoint_slice(
    service: str,
    namespace: str = "default",
    endpoints: Sequence[Endpoint] = (),
    ports: Ports = (("metrics", 9400),),
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
    address_type: str = "IPv4",
) -> JSON:
    """An EndpointSlice of ``service``, as the endpointslice controller writes it.

    Each endpoint is ``(ip, ready, terminating, target_pod)``; ``ready`` is the
    pod's readiness, so (as upstream) ``conditions.serving`` is ``ready`` and
    ``conditions.ready`` is ``ready and not terminating``. ``target_pod`` is a
    pod name, a pod object (its uid and node are copied), or None.
    """
    slice_labels = {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        **(labels or {}),
    }
    meta = _meta(name or f"{service}-{_digest(namespace, service)[:5]}", namespace, slice_labels)
    meta["generateName"] = f"{service}-"
    meta["ownerReferences"] = [_owner("Service", service, namespace)]
    eps = []
    for ip, ready, terminating, target in endpoints:
        ep: JSON = {
            "addresses": [ip],
            "conditions": {
                "ready": ready and not terminating,
                "serving": ready,
                "terminating": terminating,
            },
        }
        if isinstance(target, str):
            ep["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": target}
        elif isinstance(target, dict):
            tmeta = target["metadata"]
            ep["targetRef"] = {
                "kind": "Pod",
                "namespace": tmeta["namespace"],
                "name": tmeta["name"],
            }
            if tmeta.get("uid"):
                ep["targetRef"]["uid"] = tmeta["uid"]
            node = (target.get("spec") or {}).get("nodeName")
            if node:
                ep["nodeName"] = node
        eps.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": address_type,
        "endpoints": eps,
        "ports": [{"name": pname, "protocol": "TCP", "port": port} for pname, port in ports],
    }


def namespace(name: str, labels: Mapping[str, str] | None = None) -> JSON:
    """An Active Namespace (with the automatic ``kubernetes.io/metadata.name`` label)."""
    all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, None, all_labels),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node(
    name: str,
    labels: Mapping[str, str] | None = None,
    ip: str | None = None,
    ready: bool = True,
    unschedulable: bool = False,
    gpus: int = 8,
) -> JSON:
    """A kubelet-registered Node with ``gpus`` allocatable ``nvidia.com/gpu``."""
    address = ip or node_ip(name)
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        **(labels or {}),
    }
    resources = {"cpu": "64", "memory": "528012328Ki", "pods": "110", "ephemeral-storage": "1Ti"}
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    spec: JSON = {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}
    if unschedulable:
        spec["unschedulable"] = True
    ready_cond = {
        "type": "Ready",
        "status": "True" if ready else "Unknown",
        "reason": "KubeletReady" if ready else "NodeStatusUnknown",
        "message": "kubelet is posting ready status"
        if ready
        else "Kubelet stopped posting node status.",
        "lastHeartbeatTime": _STARTED,
        "lastTransitionTime": _STARTED,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(name, None, all_labels, {"node.alpha.kubernetes.io/ttl": "0"}),
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "conditions": [ready_cond],
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _digest("machine", name)[:32],
                "systemUUID": stable_uid("system", name),
                "bootID": stable_uid("boot", name),
                "kernelVersion": "5.15.0-122-generic",
                "osImage": "Ubuntu 22.04.5 LTS",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.32.4",
                "kubeProxyVersion": "v1.32.4",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def secret(
    name: str,
    namespace: str = "default",
    data: Mapping[str, str | bytes] | None = None,
    type: str = "Opaque",
    labels: Mapping[str, str] | None = None,
) -> JSON:
    """A Secret; values are base64-encoded into ``data`` as the API returns them."""
    encoded = {
        key: base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
        for key, value in (data or {}).items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, namespace, labels),
        "type": type,
        "data": encoded,
    }


def config_map(
    name: str,
    namespace: str = "default",
    data: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> JSON:
    """A ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, namespace, labels),
        "data": dict(data or {}),
    }


def controlled(
    kind: str, name: str, namespace: str = "default", owner: tuple[str, str] | None = None
) -> JSON:
    """A ReplicaSet or Job (spec and status left out), controlled by ``owner`` when given."""
    meta = _meta(name, namespace, None)
    meta["uid"] = stable_uid(kind, namespace, name)
    if owner is not None:
        meta["ownerReferences"] = [_owner(owner[0], owner[1], namespace)]
    return {"apiVersion": _OWNER_API[kind], "kind": kind, "metadata": meta}
