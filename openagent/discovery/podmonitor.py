"""PodMonitor: targets from pods (raw Kubernetes JSON), as pure functions.

A pod gives targets when it is Running, has an IP and is not terminating;
otherwise `pod_skip_reason` says why not. The endpoint's ``port`` is a
container port name, looked up in every container (and in sidecar init
containers, ``restartPolicy: Always``): each distinct port number found
gives one target. A number is used as it is, whether or not a container
declares it (the Go agent scrapes undeclared numeric ports too); the
declaring container, if any, names the ``container`` label.

Target labels before relabelling: ``job`` (targetName), ``namespace``,
``pod``, ``container`` (when known), ``endpoint`` (the configured port),
``node`` once when ``addNodeLabel`` is set, and the pod and container
``__meta_kubernetes_*`` labels; ``instance`` is the final address. Pod
readiness does not gate scraping (as in Prometheus; the Go agent waits for
Ready): ``__meta_kubernetes_pod_ready`` lets rules drop unready pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openagent.discovery.candidates import Dropped
from openagent.discovery.meta_labels import (
    JSON,
    EndpointPlan,
    container_meta,
    host_port,
    pod_meta,
)
from openagent.model import Target


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_name(pod: JSON) -> str:
    """``namespace/name`` of a pod, for messages."""
    md = _dict(pod.get("metadata"))
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def pod_skip_reason(pod: JSON) -> str | None:
    """Why the pod cannot be scraped now, or None when it can."""
    md, status = _dict(pod.get("metadata")), _dict(pod.get("status"))
    if md.get("deletionTimestamp"):
        return "pod terminating"
    phase = status.get("phase") or "Unknown"
    if phase in ("Succeeded", "Failed"):
        return f"pod {phase}"
    if phase != "Running":
        return f"pod not Running (phase {phase})"
    if not status.get("podIP"):
        return "pod has no IP"
    return None


@dataclass(frozen=True, slots=True)
class PodPort:
    """A port to scrape: its number and, when declared, the container and port entry."""

    number: int
    container: JSON | None = None
    port: JSON | None = None
    init: bool = False


def _declared(pod: JSON) -> list[tuple[JSON, JSON, bool]]:
    """Every (container, port, is_init) the pod declares, containers first."""
    spec = _dict(pod.get("spec"))
    found: list[tuple[JSON, JSON, bool]] = []
    groups = [(c, False) for c in spec.get("containers") or ()]
    groups += [
        (c, True)
        for c in spec.get("initContainers") or ()
        if isinstance(c, Mapping) and c.get("restartPolicy") == "Always"
    ]
    for container, init in groups:
        if not isinstance(container, Mapping):
            continue
        found.extend(
            (container, port, init)
            for port in container.get("ports") or ()
            if isinstance(port, Mapping) and isinstance(port.get("containerPort"), int)
        )
    return found


def resolve_pod_port(pod: JSON, port: str) -> list[PodPort] | str:
    """The ports ``port`` (a name or a number) means in ``pod``, or why there is none."""
    declared = _declared(pod)
    if port.isdigit():
        number = int(port)
        for container, p, init in declared:
            if p["containerPort"] == number:
                return [PodPort(number, container, p, init)]
        return [PodPort(number)]
    out: list[PodPort] = []
    seen: set[int] = set()
    for container, p, init in declared:
        if p.get("name") == port and p["containerPort"] not in seen:
            seen.add(p["containerPort"])
            out.append(PodPort(p["containerPort"], container, p, init))
    if out:
        return out
    names = sorted({str(p["name"]) for _, p, _ in declared if p.get("name")})
    listed = ", ".join(names) if names else "none"
    return f"port {port!r} not found (named ports: {listed})"


def pod_targets(
    pod: JSON, plan: EndpointPlan, meta: Mapping[str, str] | None = None
) -> tuple[list[Target], list[Dropped]]:
    """The targets ``plan`` finds in ``pod``, and the candidates dropped (with reasons).

    ``meta`` is the pod's `pod_meta`, when the caller computed it already.
    """
    source = f"{plan.where} pod {pod_name(pod)}"
    reason = pod_skip_reason(pod)
    if reason is not None:
        return [], [Dropped(source, reason)]
    port = plan.endpoint.port
    if port is None:
        return [], [Dropped(source, "the endpoint has no port")]
    resolved = resolve_pod_port(pod, port)
    if isinstance(resolved, str):
        return [], [Dropped(source, resolved)]
    md, spec = _dict(pod.get("metadata")), _dict(pod.get("spec"))
    ip = str(_dict(pod.get("status")).get("podIP"))
    base = dict(meta) if meta is not None else pod_meta(pod)
    node = spec.get("nodeName")
    node_label = node if plan.endpoint.add_node_label and isinstance(node, str) and node else None
    targets: list[Target] = []
    dropped: list[Dropped] = []
    for pp in resolved:
        labels = dict(base)
        labels["namespace"] = str(md.get("namespace", ""))
        labels["pod"] = str(md.get("name", ""))
        if pp.container is not None:
            labels.update(container_meta(pp.container, pp.port, init=pp.init))
            labels["container"] = str(pp.container.get("name", ""))
        labels["endpoint"] = port
        if node_label is not None:
            labels["node"] = node_label
        built = plan.build(host_port(ip, pp.number), labels, f"{source} port {pp.number}")
        if isinstance(built, Target):
            targets.append(built)
        else:
            dropped.append(built)
    return targets, dropped
