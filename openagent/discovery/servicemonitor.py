"""ServiceMonitor: targets from a Service, its EndpointSlices and (optionally) pods.

Pure functions over raw Kubernetes JSON. The endpoint's ``port`` names a
Service port (or gives its number); ``targetPort`` gives the port behind
the Service (a number, or a name used as a Service ``targetPort`` or as a
container port name). The EndpointSlice port that carries the traffic is
found through the Service port's *name* (the EndpointSlice controller
copies Service port names into slices), or by number for a numeric
``targetPort``; its number goes into the URL. So ``port: "80"`` for a
Service port 80 → targetPort 8080 scrapes 8080 (the Go agent finds no
target there).

Endpoints are used when ready (``conditions.ready`` true or unset) and not
terminating; the first address of each is scraped. Target labels before
relabelling: ``job``, ``namespace``, ``service``, ``pod`` (the endpoint's
``targetRef``), ``endpoint`` (the configured port), ``node`` when
``addNodeLabel`` is set and the node is known (the Go agent ignores the
flag here), and ``__meta_kubernetes_service_*``,
``__meta_kubernetes_endpointslice_*`` and, when the pod is known, the pod
and container meta labels. When it is not, ``__meta_kubernetes_pod_name``
and ``__meta_kubernetes_pod_node_name`` still come from the endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from openagent.discovery.candidates import Dropped
from openagent.discovery.meta_labels import (
    JSON,
    META,
    EndpointPlan,
    container_meta,
    endpointslice_meta,
    host_port,
    pod_meta,
    service_meta,
)
from openagent.model import Target

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def object_name(obj: JSON) -> str:
    """``namespace/name`` of an object, for messages."""
    md = _dict(obj.get("metadata"))
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def slice_service(eps: JSON) -> str | None:
    """The name of the Service an EndpointSlice belongs to."""
    value = _dict(_dict(eps.get("metadata")).get("labels")).get(SERVICE_NAME_LABEL)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class PortMatch:
    """How to find the EndpointSlice port of an endpoint config in one Service.

    Exactly one of ``slice_name`` (match slice ports by name), ``number``
    (by number) and ``container_port`` (by the number of the target pod's
    container port of that name) is set. ``service_port`` is the Service
    port entry, when there is one.
    """

    service_port: JSON | None = None
    slice_name: str | None = None
    number: int | None = None
    container_port: str | None = None


def _describe_ports(ports: list[Mapping[str, Any]]) -> str:
    shown = [f"{p.get('name') or '(unnamed)'} {p.get('port')}→{p.get('targetPort')}" for p in ports]
    return ", ".join(shown) or "none"


def resolve_service_port(
    service: JSON, port: str | None, target_port: str | None
) -> PortMatch | str:
    """Where ``port``/``targetPort`` lead in ``service``, or why nowhere."""
    ports = _items(_dict(service.get("spec")).get("ports"))
    if port is not None:
        for sp in ports:
            if (sp.get("name") or "") == port:
                return PortMatch(sp, slice_name=port)
        if port.isdigit():
            for sp in ports:
                if sp.get("port") == int(port):
                    return PortMatch(sp, slice_name=str(sp.get("name") or ""))
        return f"service port {port!r} not found (service ports: {_describe_ports(ports)})"
    if target_port is None:
        return "the endpoint has no port or targetPort"
    if target_port.isdigit():
        number = int(target_port)
        for sp in ports:
            if sp.get("targetPort", sp.get("port")) == number:
                return PortMatch(sp, number=number)
        return PortMatch(number=number)
    for sp in ports:
        if sp.get("targetPort") == target_port:
            return PortMatch(sp, slice_name=str(sp.get("name") or ""))
    return PortMatch(container_port=target_port)


def endpoint_skip_reason(endpoint: JSON) -> str | None:
    """Why an EndpointSlice endpoint is not scraped, or None when it is."""
    cond = _dict(endpoint.get("conditions"))
    if cond.get("terminating") is True:
        return "endpoint terminating"
    if cond.get("ready") is False:
        return "endpoint not ready"
    addresses = endpoint.get("addresses")
    if not isinstance(addresses, list) or not addresses or not isinstance(addresses[0], str):
        return "endpoint has no address"
    return None


def _container_of(pod: JSON, number: int) -> tuple[JSON, JSON, bool] | None:
    spec = _dict(pod.get("spec"))
    for key, init in (("containers", False), ("initContainers", True)):
        for c in _items(spec.get(key)):
            for p in _items(c.get("ports")):
                if p.get("containerPort") == number:
                    return c, p, init
    return None


def _named_container_port(pod: JSON, name: str) -> int | None:
    spec = _dict(pod.get("spec"))
    for c in (*_items(spec.get("containers")), *_items(spec.get("initContainers"))):
        for p in _items(c.get("ports")):
            if p.get("name") == name and isinstance(p.get("containerPort"), int):
                number: int = p["containerPort"]
                return number
    return None


def _slice_port(match: PortMatch, eps: JSON, pod: JSON | None) -> Mapping[str, Any] | str:
    ports = _items(eps.get("ports"))
    number = match.number
    if match.container_port is not None:
        if pod is None:
            return (
                f"targetPort {match.container_port!r} is no targetPort of the service, "
                "and the endpoint's pod is not known"
            )
        number = _named_container_port(pod, match.container_port)
        if number is None:
            return f"targetPort {match.container_port!r} is not a port of {object_name(pod)}"
    for p in ports:
        if match.slice_name is not None and (p.get("name") or "") == match.slice_name:
            return p
        if number is not None and p.get("port") == number:
            return p
    wanted = f"port {match.slice_name!r}" if match.slice_name is not None else f"port {number}"
    names = ", ".join(f"{p.get('name') or '(unnamed)'} {p.get('port')}" for p in ports)
    return f"endpointslice {object_name(eps)} has no {wanted} (ports: {names or 'none'})"


def service_targets(
    service: JSON,
    slices: Iterable[JSON],
    plan: EndpointPlan,
    pods: Mapping[tuple[str, str], JSON] | None = None,
    node: str | None = None,
) -> tuple[list[Target], list[Dropped]]:
    """The targets ``plan`` finds behind ``service``, and the candidates dropped.

    ``slices`` are the service's EndpointSlices; ``pods`` maps (namespace,
    name) to pods known for meta labels; ``node`` limits endpoints to one
    node (node-local mode).
    """
    ep = plan.endpoint
    source = f"{plan.where} service {object_name(service)}"
    match = resolve_service_port(service, ep.port, ep.target_port)
    if isinstance(match, str):
        return [], [Dropped(source, match)]
    md = _dict(service.get("metadata"))
    namespace, name = str(md.get("namespace", "")), str(md.get("name", ""))
    base = service_meta(service, match.service_port)
    base.update(namespace=namespace, service=name, endpoint=ep.port or ep.target_port or "")
    targets: list[Target] = []
    dropped: list[Dropped] = []
    for eps in slices:
        for endpoint in _items(eps.get("endpoints")):
            where = f"{source} endpoint {(endpoint.get('addresses') or ['?'])[0]}"
            reason = endpoint_skip_reason(endpoint)
            node_name = str(endpoint.get("nodeName") or "")
            if reason is None and node is not None and node_name != node:
                reason = f"endpoint on node {node_name or '(unknown)'}, not {node}"
            if reason is not None:
                dropped.append(Dropped(where, reason))
                continue
            ref = _dict(endpoint.get("targetRef"))
            is_pod = ref.get("kind") == "Pod"
            pod = pods.get((namespace, str(ref.get("name")))) if pods and is_pod else None
            sport = _slice_port(match, eps, pod)
            if isinstance(sport, str):
                dropped.append(Dropped(where, sport))
                continue
            labels = dict(base)
            labels.update(endpointslice_meta(eps, endpoint, sport))
            if pod is not None:
                labels.update(pod_meta(pod))
                found = _container_of(pod, int(sport.get("port", 0)))
                if found is not None:
                    labels.update(container_meta(found[0], found[1], init=found[2]))
                node_name = node_name or str(_dict(pod.get("spec")).get("nodeName") or "")
            elif is_pod:
                labels[META + "pod_name"] = str(ref.get("name", ""))
                if node_name:
                    labels[META + "pod_node_name"] = node_name
            if is_pod:
                labels["pod"] = str(ref.get("name", ""))
            if ep.add_node_label and node_name:
                labels["node"] = node_name
            address = host_port(endpoint["addresses"][0], sport.get("port", ""))
            built = plan.build(address, labels, f"{where} port {sport.get('port')}")
            if isinstance(built, Target):
                targets.append(built)
            else:
                dropped.append(built)
    return targets, dropped
