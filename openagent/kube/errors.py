"""The resources the agent reads, their API paths, and the errors that name what failed.

Discovery reads pods, services, endpointslices, namespaces and nodes; the
configuration source reads one ConfigMap (``configmaps``) and the Secret
resolver the Secrets the configuration references (``secrets``), each by
name. GPU workload attribution gets single pods, replicasets, jobs and nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

Resource = Literal[
    "pods",
    "services",
    "endpointslices",
    "namespaces",
    "nodes",
    "configmaps",
    "secrets",
    "replicasets",
    "jobs",
]
RESOURCES: tuple[Resource, ...] = get_args(Resource)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """Where a resource lives in the API and how RBAC names it."""

    prefix: str
    namespaced: bool
    group: str = ""

    def path(self, plural: str, namespace: str | None) -> str:
        """The collection path, per namespace when ``namespace`` is given."""
        if namespace:
            return f"{self.prefix}/namespaces/{namespace}/{plural}"
        return f"{self.prefix}/{plural}"


INFO: dict[str, ResourceInfo] = {
    "pods": ResourceInfo("/api/v1", True),
    "services": ResourceInfo("/api/v1", True),
    "endpointslices": ResourceInfo("/apis/discovery.k8s.io/v1", True, "discovery.k8s.io"),
    "namespaces": ResourceInfo("/api/v1", False),
    "nodes": ResourceInfo("/api/v1", False),
    "configmaps": ResourceInfo("/api/v1", True),
    "secrets": ResourceInfo("/api/v1", True),
    "replicasets": ResourceInfo("/apis/apps/v1", True, "apps"),
    "jobs": ResourceInfo("/apis/batch/v1", True, "batch"),
}


def resource_info(resource: str, namespace: str | None) -> ResourceInfo:
    """The `ResourceInfo` of ``resource``; ValueError for unknown or mis-scoped requests."""
    info = INFO.get(resource)
    if info is None:
        raise ValueError(f"unknown resource {resource!r}; expected one of {', '.join(RESOURCES)}")
    if namespace and not info.namespaced:
        raise ValueError(f"{resource} are cluster-scoped; got namespace {namespace!r}")
    return info


_USER = re.compile(r'User "([^"]+)"')


class KubeConfigError(Exception):
    """The cluster connection cannot be configured (names the file or variable at fault)."""


class KubeError(Exception):
    """A failed request to the API server.

    ``status`` is the HTTP code (or the code of a watch ERROR event), None when
    no answer came (connection refused, timeout, broken stream); ``reason`` is
    the Status reason (``Forbidden``, ``Expired``...) or ours
    (``ConnectionError``, ``Timeout``, ``Stalled``, ``BadResponse``).
    """

    def __init__(
        self,
        verb: str,
        resource: str,
        namespace: str | None,
        *,
        status: int | None = None,
        reason: str = "",
        message: str = "",
    ) -> None:
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(self.describe())

    @classmethod
    def from_status(
        cls,
        verb: str,
        resource: str,
        namespace: str | None,
        code: int,
        body: bytes | dict[str, Any],
    ) -> KubeError:
        """Build from an HTTP error body or an ERROR event's object (a Status, usually)."""
        reason, message = "", ""
        try:
            status = orjson.loads(body) if isinstance(body, bytes) else body
        except orjson.JSONDecodeError:
            message = body[:300].decode(errors="replace").strip() if isinstance(body, bytes) else ""
        else:
            if isinstance(status, dict):
                reason = str(status.get("reason") or "")
                message = str(status.get("message") or "")
                if isinstance(status.get("code"), int):
                    code = status["code"]
        return cls(verb, resource, namespace, status=code, reason=reason, message=message)

    @property
    def expired(self) -> bool:
        """410 Gone: the resourceVersion (or continue token) is no longer served."""
        return self.status == 410

    @property
    def scope(self) -> str:
        """``in namespace x`` / ``at the cluster scope`` / empty for cluster-scoped kinds."""
        if self.namespace:
            return f" in namespace {self.namespace}"
        info = INFO.get(self.resource)
        return " at the cluster scope" if info is None or info.namespaced else ""

    def describe(self) -> str:
        """The operator-facing text (also ``str(err)``)."""
        what = f"{self.resource}{self.scope}"
        if self.status == 403:
            info = INFO.get(self.resource)
            rbac = f"{self.resource}.{info.group}" if info and info.group else self.resource
            user = _USER.search(self.message)
            to = f" to {user.group(1)}" if user else ""
            return f"cannot {self.verb} {what}: grant list/watch on {rbac} (RBAC){to}"
        if self.status == 401:
            return (
                f"cannot {self.verb} {what}: the API server rejected the credentials "
                f"(401 Unauthorized); check the service-account token or kubeconfig"
            )
        head = f"{self.verb} {what} failed: "
        if self.status is None:
            return head + (f"{self.reason}: {self.message}" if self.reason else self.message)
        detail = f" {self.reason}" if self.reason else ""
        return head + f"HTTP {self.status}{detail}" + (f": {self.message}" if self.message else "")
