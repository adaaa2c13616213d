"""``__meta_kubernetes_*`` labels, and how a discovered address becomes a `Target`.

Names follow Prometheus's Kubernetes discovery, so ``relabelConfigs``
written for Prometheus work unchanged. Object label and annotation names
are sanitised (every character outside ``[A-Za-z0-9_]`` becomes ``_``) and
each gets a ``..._labelpresent_<name>``/``..._annotationpresent_<name>``
companion set to ``true``. Everything here reads raw Kubernetes JSON.

`EndpointPlan` holds one configured endpoint with its target relabelling
compiled once (and the operator's ``jobLabel`` rule resolved, see
`resolve_job_label`); its ``build`` runs ``openagent.discovery.candidates``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openagent.config import EndpointConfig, RelabelConfig, TargetConfig
from openagent.discovery.candidates import Dropped, make_target, meta_labels
from openagent.model import Target
from openagent.relabel import Relabeler

JSON = Mapping[str, Any]
META = "__meta_kubernetes_"

_INVALID = re.compile(r"[^A-Za-z0-9_]")


def sanitize(name: str) -> str:
    """A label name made of any string: ``app.kubernetes.io/name`` → ``app_kubernetes_io_name``."""
    return _INVALID.sub("_", name)


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def object_labels(prefix: str, metadata: JSON, out: dict[str, str]) -> None:
    """Add the labels and annotations of ``metadata`` under ``prefix`` (``pod``, ``service``...)."""
    for what, key in (("label", "labels"), ("annotation", "annotations")):
        for name, value in _dict(metadata.get(key)).items():
            clean = sanitize(str(name))
            out[f"{META}{prefix}_{what}_{clean}"] = _str(value)
            out[f"{META}{prefix}_{what}present_{clean}"] = "true"


def pod_ready(pod: JSON) -> str:
    """The pod's Ready condition: ``true``, ``false`` or ``unknown``."""
    for cond in _list(_dict(pod.get("status")).get("conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return _str(cond.get("status")).lower() or "unknown"
    return "unknown"


def controller(metadata: JSON) -> tuple[str, str] | None:
    """Kind and name of the owner reference marked ``controller: true``."""
    for ref in _list(metadata.get("ownerReferences")):
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return _str(ref.get("kind")), _str(ref.get("name"))
    return None


def pod_meta(pod: JSON) -> dict[str, str]:
    """Meta labels of a pod (not of one of its containers)."""
    md, spec, status = _dict(pod.get("metadata")), _dict(pod.get("spec")), _dict(pod.get("status"))
    out = {
        META + "namespace": _str(md.get("namespace")),
        META + "pod_name": _str(md.get("name")),
        META + "pod_ip": _str(status.get("podIP")),
        META + "pod_ready": pod_ready(pod),
        META + "pod_phase": _str(status.get("phase")),
        META + "pod_node_name": _str(spec.get("nodeName")),
        META + "pod_host_ip": _str(status.get("hostIP")),
        META + "pod_uid": _str(md.get("uid")),
    }
    object_labels("pod", md, out)
    owner = controller(md)
    if owner is not None:
        out[META + "pod_controller_kind"], out[META + "pod_controller_name"] = owner
    return out


def container_meta(container: JSON, port: JSON | None, *, init: bool = False) -> dict[str, str]:
    """Meta labels of one container and, when given, one of its declared ports."""
    out = {
        META + "pod_container_name": _str(container.get("name")),
        META + "pod_container_image": _str(container.get("image")),
        META + "pod_container_init": "true" if init else "false",
    }
    if port is not None:
        out[META + "pod_container_port_name"] = _str(port.get("name"))
        out[META + "pod_container_port_number"] = str(port.get("containerPort", ""))
        out[META + "pod_container_port_protocol"] = _str(port.get("protocol")) or "TCP"
    return out


def service_meta(service: JSON, port: JSON | None) -> dict[str, str]:
    """Meta labels of a service and, when given, the service port a target came from."""
    md, spec = _dict(service.get("metadata")), _dict(service.get("spec"))
    kind = _str(spec.get("type")) or "ClusterIP"
    out = {
        META + "namespace": _str(md.get("namespace")),
        META + "service_name": _str(md.get("name")),
        META + "service_type": kind,
    }
    if kind == "ExternalName":
        out[META + "service_external_name"] = _str(spec.get("externalName"))
    else:
        out[META + "service_cluster_ip"] = _str(spec.get("clusterIP"))
    object_labels("service", md, out)
    if port is not None:
        out[META + "service_port_name"] = _str(port.get("name"))
        out[META + "service_port_number"] = str(port.get("port", ""))
        out[META + "service_port_protocol"] = _str(port.get("protocol")) or "TCP"
    return out


def endpointslice_meta(eps: JSON, endpoint: JSON, port: JSON) -> dict[str, str]:
    """Meta labels of one endpoint of an EndpointSlice, for one of the slice's ports."""
    md = _dict(eps.get("metadata"))
    cond = _dict(endpoint.get("conditions"))
    prefix = META + "endpointslice_"
    out = {
        prefix + "name": _str(md.get("name")),
        prefix + "address_type": _str(eps.get("addressType")),
        prefix + "port": str(port.get("port", "")),
        prefix + "port_name": _str(port.get("name")),
        prefix + "port_protocol": _str(port.get("protocol")) or "TCP",
    }
    if port.get("appProtocol"):
        out[prefix + "port_app_protocol"] = _str(port.get("appProtocol"))
    object_labels("endpointslice", md, out)
    for name in ("ready", "serving", "terminating"):
        if isinstance(cond.get(name), bool):
            out[f"{prefix}endpoint_conditions_{name}"] = "true" if cond[name] else "false"
    ref = _dict(endpoint.get("targetRef"))
    if ref:
        out[prefix + "address_target_kind"] = _str(ref.get("kind"))
        out[prefix + "address_target_name"] = _str(ref.get("name"))
    for key, label in (("hostname", "endpoint_hostname"), ("nodeName", "endpoint_node_name")):
        if endpoint.get(key):
            out[prefix + label] = _str(endpoint.get(key))
    if endpoint.get("zone"):
        out[prefix + "endpoint_zone"] = _str(endpoint.get("zone"))
    for name, value in _dict(endpoint.get("deprecatedTopology")).items():
        clean = sanitize(str(name))
        out[f"{prefix}endpoint_topology_{clean}"] = _str(value)
        out[f"{prefix}endpoint_topology_present_{clean}"] = "true"
    return out


def host_port(host: str, port: int | str) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: Labels discovery sets before relabelling; a rule reading one of them reads it as is.
TARGET_LABELS = frozenset(
    ("job", "instance", "namespace", "pod", "container", "endpoint", "service", "node")
)


def resolve_job_label(rule: RelabelConfig, kind: str) -> RelabelConfig:
    """Honour the Whatap Operator's ``jobLabel`` rule; other rules come back unchanged.

    The operator renders ``jobLabel: app`` as ``{source_labels: [app],
    target_label: job}`` with no regex. ``app`` is a raw object label, which
    no target has, so under Prometheus's ``(.*)`` default the rule would set
    ``job`` to "" and delete it (in the Go agent, whose default is ``(.+)``,
    it does nothing). Its intent is Prometheus Operator's ``jobLabel``: take
    ``job`` from that label of the pod (PodMonitor) or service
    (ServiceMonitor). So exactly this shape (action replace, target ``job``,
    one source label that is neither ``__``-prefixed nor a label discovery
    sets, default regex and replacement) reads
    ``__meta_kubernetes_<kind>_label_<sanitised>`` instead, with regex
    ``(.+)``: an object without the label keeps ``job`` = targetName.
    """
    if (
        rule.action != "replace"
        or rule.target_label != "job"
        or len(rule.source_labels) != 1
        or rule.regex != "(.*)"
        or rule.replacement != "$1"
    ):
        return rule
    (source,) = rule.source_labels
    if source.startswith("__") or source in TARGET_LABELS:
        return rule
    return rule.model_copy(
        update={"source_labels": (f"{META}{kind}_label_{sanitize(source)}",), "regex": "(.+)"}
    )


@dataclass(frozen=True, slots=True)
class EndpointPlan:
    """One endpoint of one PodMonitor/ServiceMonitor target, with its rules compiled once.

    ``relabeler`` is None when the rules do not compile (the loader rejects
    such configs; ``error`` then says why and every candidate is dropped).
    """

    where: str
    job: str
    endpoint: EndpointConfig
    relabeler: Relabeler | None
    metric_relabel: tuple[RelabelConfig, ...]
    error: str = ""

    @classmethod
    def of(cls, index: int, target: TargetConfig, ep_index: int, kind: str) -> EndpointPlan:
        """The plan of ``target.endpoints[ep_index]`` (``target`` is ``targets[index]``)."""
        ep = target.endpoints[ep_index]
        where = f"targets[{index}].endpoints[{ep_index}] ({target.target_name})"
        rules = tuple(
            resolve_job_label(r, kind) for r in (*target.relabel_configs, *ep.relabel_configs)
        )
        metric = (*target.metric_relabel_configs, *ep.metric_relabel_configs)
        try:
            relabeler: Relabeler | None = Relabeler(rules)
            error = ""
        except ValueError as exc:
            relabeler, error = None, f"invalid relabelConfigs: {exc}"
        return cls(where, target.target_name, ep, relabeler, metric, error)

    def build(self, address: str, labels: dict[str, str], source: str) -> Target | Dropped:
        """The target for ``address`` from discovery ``labels``, or why there is none."""
        if self.relabeler is None:
            return Dropped(source, self.error)
        start = meta_labels(self.job, address, self.endpoint)
        start.update(labels)
        return make_target(
            start,
            self.endpoint,
            metric_relabel=self.metric_relabel,
            source=source,
            relabeler=self.relabeler,
        )
