"""The resources the fake serves, with the field selectors the real API accepts.

Field-selector support follows ``pkg/apis/core/v1/conversion.go`` (which
labels are accepted per kind) and each registry's ``ToSelectableFields`` /
``GetAttrs`` (which values they match). A label the conversion accepts but
the object does not expose (``status.podIPs``) matches as the empty string,
exactly as ``fields.Set.Get`` does upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
FieldFunc = Callable[[JSON], dict[str, str]]


def _meta(obj: JSON, namespaced: bool) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": str(meta.get("name", ""))}
    if namespaced:
        fields["metadata.namespace"] = str(meta.get("namespace", ""))
    return fields


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _pod_fields(obj: JSON) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod_ips = status.get("podIPs") or []
    pod_ip = pod_ips[0].get("ip", "") if pod_ips else status.get("podIP", "")
    fields = _meta(obj, True)
    fields.update(
        {
            "spec.nodeName": str(spec.get("nodeName", "")),
            "spec.restartPolicy": str(spec.get("restartPolicy", "")),
            "spec.schedulerName": str(spec.get("schedulerName", "")),
            "spec.serviceAccountName": str(spec.get("serviceAccountName", "")),
            "spec.hostNetwork": _bool(spec.get("hostNetwork")),
            "status.phase": str(status.get("phase", "")),
            "status.podIP": str(pod_ip or ""),
            "status.nominatedNodeName": str(status.get("nominatedNodeName", "")),
        }
    )
    return fields


def _node_fields(obj: JSON) -> dict[str, str]:
    fields = _meta(obj, False)
    fields["spec.unschedulable"] = _bool((obj.get("spec") or {}).get("unschedulable"))
    return fields


def _namespace_fields(obj: JSON) -> dict[str, str]:
    fields = _meta(obj, False)
    fields["status.phase"] = str((obj.get("status") or {}).get("phase", ""))
    return fields


def _service_fields(obj: JSON) -> dict[str, str]:
    spec = obj.get("spec") or {}
    fields = _meta(obj, True)
    fields["spec.clusterIP"] = str(spec.get("clusterIP", ""))
    fields["spec.type"] = str(spec.get("type", ""))
    return fields


def _secret_fields(obj: JSON) -> dict[str, str]:
    fields = _meta(obj, True)
    fields["type"] = str(obj.get("type", ""))
    return fields


def _namespaced_meta(obj: JSON) -> dict[str, str]:
    return _meta(obj, True)


@dataclass(frozen=True, slots=True)
class Kind:
    """One served resource: names, scope, and field-selector rules."""

    kind: str
    plural: str
    singular: str
    group: str
    version: str
    namespaced: bool
    field_func: FieldFunc
    #: field label → the label it is converted to (``spec.host`` → ``spec.nodeName``).
    field_labels: Mapping[str, str]
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``v1`` or ``<group>/<version>``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """``PodList`` and so on."""
        return self.kind + "List"

    @property
    def group_resource(self) -> str:
        """``pods`` or ``endpointslices.discovery.k8s.io`` (as in error messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def convert_field_label(self, label: str) -> str:
        """The canonical label, or `ValueError` with the apiserver's message."""
        try:
            return self.field_labels[label]
        except KeyError:
            raise ValueError(f"field label not supported: {label}") from None

    def key(self, namespace: str | None, name: str) -> str:
        """The storage key relative to the resource prefix (``ns/name`` or ``name``)."""
        return f"{namespace}/{name}" if self.namespaced else name


def _labels(*names: str, aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {name: name for name in names}
    out.update(aliases or {})
    return out


_META_NS = ("metadata.name", "metadata.namespace")

POD = Kind(
    "Pod",
    "pods",
    "pod",
    "",
    "v1",
    True,
    _pod_fields,
    _labels(
        *_META_NS,
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        aliases={"spec.host": "spec.nodeName"},
    ),
    ("po",),
)
SERVICE = Kind(
    "Service",
    "services",
    "service",
    "",
    "v1",
    True,
    _service_fields,
    _labels(*_META_NS, "spec.clusterIP", "spec.type"),
    ("svc",),
)
ENDPOINT_SLICE = Kind(
    "EndpointSlice",
    "endpointslices",
    "endpointslice",
    "discovery.k8s.io",
    "v1",
    True,
    _namespaced_meta,
    _labels(*_META_NS),
)
NAMESPACE = Kind(
    "Namespace",
    "namespaces",
    "namespace",
    "",
    "v1",
    False,
    _namespace_fields,
    _labels("metadata.name", "status.phase"),
    ("ns",),
)
NODE = Kind(
    "Node",
    "nodes",
    "node",
    "",
    "v1",
    False,
    _node_fields,
    _labels("metadata.name", "spec.unschedulable"),
    ("no",),
)
SECRET = Kind(
    "Secret",
    "secrets",
    "secret",
    "",
    "v1",
    True,
    _secret_fields,
    _labels(*_META_NS, "type"),
)
CONFIG_MAP = Kind(
    "ConfigMap",
    "configmaps",
    "configmap",
    "",
    "v1",
    True,
    _namespaced_meta,
    _labels(*_META_NS),
    ("cm",),
)

REPLICA_SET = Kind(
    "ReplicaSet",
    "replicasets",
    "replicaset",
    "apps",
    "v1",
    True,
    _namespaced_meta,
    _labels(*_META_NS, "status.replicas"),
    ("rs",),
)
JOB = Kind(
    "Job",
    "jobs",
    "job",
    "batch",
    "v1",
    True,
    _namespaced_meta,
    _labels(*_META_NS, "status.successful"),
)

KINDS: tuple[Kind, ...] = (
    POD,
    SERVICE,
    ENDPOINT_SLICE,
    NAMESPACE,
    NODE,
    SECRET,
    CONFIG_MAP,
    REPLICA_SET,
    JOB,
)

_BY_NAME: dict[str, Kind] = {}
for _k in KINDS:
    for _alias in (_k.kind, _k.plural, _k.singular, *_k.short_names):
        _BY_NAME[_alias.lower()] = _k


def kind_of(name: str) -> Kind:
    """Look a kind up by kind, plural, singular or short name (any case)."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        known = ", ".join(k.kind for k in KINDS)
        raise ValueError(f"unknown kind {name!r}; the fake serves {known}") from None


def by_resource(group: str, version: str, plural: str) -> Kind | None:
    """The kind served at ``<group>/<version>/<plural>``, if any."""
    for k in KINDS:
        if k.plural == plural and k.group == group and k.version == version:
            return k
    return None
