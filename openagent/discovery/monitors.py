"""From a config to informer keys, and from informer contents to targets.

`KubeTargets` plans every enabled PodMonitor and ServiceMonitor target of a
config once: its namespace scope, its compiled selector and endpoint rules,
and the informers it reads:

- PodMonitor: pods, with the selector pushed down as a label selector; one
  informer per named namespace, or one cluster-wide when the namespaces are
  chosen by labels or ``any``.
- ServiceMonitor: services (selector pushed down), EndpointSlices owned by
  a Service (``kubernetes.io/service-name`` exists) in the same namespaces,
  and pods only when relabelling reads ``__meta_kubernetes_pod_*`` labels.
- namespaces, with the namespace label selector pushed down, when
  ``matchLabels``/``matchExpressions`` choose namespaces.

In node-local mode pod informers carry ``spec.nodeName=<node>`` and
ServiceMonitor endpoints on other nodes are dropped. Equal keys are shared.

`KubeTargets.build` turns whatever the informers hold into targets and
dropped candidates. A target whose informers have not all synced yet is
reported as waiting (with the informer's error, if any) and yields nothing;
the caller decides what to publish meanwhile. Results per pod are cached by
resourceVersion, so a rebuild after one change costs little.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from openagent.config import RelabelConfig, ScrapeConfig, TargetConfig
from openagent.discovery.candidates import Dropped
from openagent.discovery.meta_labels import META, EndpointPlan, pod_meta
from openagent.discovery.podmonitor import pod_targets
from openagent.discovery.selectors import NamespaceScope, Selector
from openagent.discovery.servicemonitor import (
    SERVICE_NAME_LABEL,
    service_targets,
    slice_service,
)
from openagent.kube.informer import InformerKey
from openagent.model import Target

JSON = Mapping[str, Any]
KUBE_TYPES = ("PodMonitor", "ServiceMonitor")


def needs_kubernetes(config: ScrapeConfig) -> bool:
    """True when an enabled target is a PodMonitor or ServiceMonitor."""
    return config.enabled and any(t.enabled and t.type in KUBE_TYPES for t in config.targets)


class Source(Protocol):
    """What `build` reads from an informer."""

    @property
    def objects(self) -> Mapping[tuple[str, str], JSON]: ...
    @property
    def synced(self) -> asyncio.Event: ...
    @property
    def error(self) -> str | None: ...


def _meta(obj: JSON) -> Mapping[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, Mapping) else {}


def _labels(obj: JSON) -> Mapping[str, str]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _reads_pod_meta(rules: Iterable[RelabelConfig]) -> bool:
    """True when a rule may read pod meta labels (ServiceMonitor then watches pods)."""
    prefix = META + "pod_"
    for rule in rules:
        if rule.action == "labelmap" or (rule.target_label or "").startswith(prefix):
            return True
        if any(s.startswith(prefix) for s in rule.source_labels):
            return True
    return False


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """One PodMonitor or ServiceMonitor target, ready to build."""

    index: int
    target: TargetConfig
    scope: NamespaceScope
    selector: Selector
    endpoints: tuple[EndpointPlan, ...]
    primary: tuple[InformerKey, ...]
    slices: tuple[InformerKey, ...] = ()
    pods: tuple[InformerKey, ...] = ()
    namespaces: InformerKey | None = None
    node: str | None = None

    @property
    def where(self) -> str:
        """``targets[i] (name)``."""
        return f"targets[{self.index}] ({self.target.target_name})"

    def describe(self) -> str:
        """What this target looks for (``no pods labelled app=x in namespace gpu``)."""
        what = "pods" if self.target.type == "PodMonitor" else "services"
        labelled = self.selector.pushdown or "(any labels)"
        return f"no {what} labelled {labelled} in {self.scope.describe()}"

    @property
    def keys(self) -> tuple[InformerKey, ...]:
        """Every informer this target reads."""
        ns = (self.namespaces,) if self.namespaces is not None else ()
        return (*self.primary, *self.slices, *self.pods, *ns)


def plan_target(index: int, target: TargetConfig, node: str | None = None) -> TargetPlan:
    """Plan ``targets[index]``; ``node`` turns on node-local mode."""
    kind = "pod" if target.type == "PodMonitor" else "service"
    scope = NamespaceScope.of(target.namespace_selector)
    selector = Selector.of(target.selector)
    endpoints = tuple(EndpointPlan.of(index, target, i, kind) for i in range(len(target.endpoints)))
    spaces: list[str | None] = [*sorted(scope.names)] if scope.names is not None else [None]
    pod_field = f"spec.nodeName={node}" if node else None

    def keys(
        resource: Any, labels: str | None, fields: str | None = None
    ) -> tuple[InformerKey, ...]:
        return tuple(InformerKey(resource, ns, labels, fields) for ns in spaces)

    namespaces = None
    if scope.labels is not None:
        namespaces = InformerKey("namespaces", None, scope.labels.pushdown)
    if kind == "pod":
        primary = keys("pods", selector.pushdown, pod_field)
        return TargetPlan(index, target, scope, selector, endpoints, primary, namespaces=namespaces)
    rules = [*target.relabel_configs, *(r for e in target.endpoints for r in e.relabel_configs)]
    return TargetPlan(
        index,
        target,
        scope,
        selector,
        endpoints,
        keys("services", selector.pushdown),
        slices=keys("endpointslices", SERVICE_NAME_LABEL),
        pods=keys("pods", None, pod_field) if _reads_pod_meta(rules) else (),
        namespaces=namespaces,
        node=node,
    )


@dataclass
class Outcome:
    """What one build found.

    ``by_target`` maps a target's index to its targets, or to None while it
    waits for informers (``waiting`` then says for what).
    """

    by_target: dict[int, list[Target] | None] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


_PodResult = tuple[str, list[Target], list[Dropped]]


class KubeTargets:
    """The Kubernetes targets of one config (see the module docs)."""

    def __init__(self, config: ScrapeConfig, node: str | None = None) -> None:
        self.plans = [
            plan_target(i, t, node)
            for i, t in enumerate(config.targets)
            if config.enabled and t.enabled and t.type in KUBE_TYPES
        ]
        keys: dict[InformerKey, None] = {}
        for plan in self.plans:
            keys.update(dict.fromkeys(plan.keys))
        self.keys = tuple(keys)
        self._cache: dict[tuple[int, str, str], _PodResult] = {}

    def waiting(self, informers: Mapping[InformerKey, Source]) -> list[str]:
        """What each target still waits for, with the informers' current errors."""
        return [
            _waiting(plan, key, informers.get(key))
            for plan in self.plans
            for key in plan.keys
            if key not in informers or not informers[key].synced.is_set()
        ]

    def build(self, informers: Mapping[InformerKey, Source]) -> Outcome:
        """Targets and dropped candidates from the informers' current contents."""
        out = Outcome()
        cache: dict[tuple[int, str, str], _PodResult] = {}
        for plan in self.plans:
            missing = [
                k for k in plan.keys if k not in informers or not informers[k].synced.is_set()
            ]
            if missing:
                out.by_target[plan.index] = None
                out.waiting.extend(_waiting(plan, k, informers.get(k)) for k in missing)
                continue
            ns_labels = _namespace_labels(plan, informers)
            if plan.target.type == "PodMonitor":
                found = self._pods(plan, informers, ns_labels, cache, out.dropped)
            else:
                found = _services(plan, informers, ns_labels, out.dropped)
            out.by_target[plan.index] = found
        self._cache = cache
        return out

    def _pods(
        self,
        plan: TargetPlan,
        informers: Mapping[InformerKey, Source],
        ns_labels: Mapping[str, Mapping[str, str]] | None,
        cache: dict[tuple[int, str, str], _PodResult],
        dropped: list[Dropped],
    ) -> list[Target]:
        found: list[Target] = []
        for key in plan.primary:
            for pod in informers[key].objects.values():
                md = _meta(pod)
                ns, name = str(md.get("namespace", "")), str(md.get("name", ""))
                if not _selected(plan, ns, _labels(pod), ns_labels, f"pod {ns}/{name}", dropped):
                    continue
                ck = (plan.index, ns, name)
                rv = str(md.get("resourceVersion", ""))
                hit = self._cache.get(ck)
                if hit is None or hit[0] != rv or not rv:
                    meta = pod_meta(pod)
                    ts: list[Target] = []
                    ds: list[Dropped] = []
                    for ep in plan.endpoints:
                        t, d = pod_targets(pod, ep, meta)
                        ts += t
                        ds += d
                    hit = (rv, ts, ds)
                cache[ck] = hit
                found += hit[1]
                dropped += hit[2]
        return found


def _waiting(plan: TargetPlan, key: InformerKey, source: Source | None) -> str:
    where = f"in namespace {key.namespace}" if key.namespace else "in every namespace"
    if key.resource == "namespaces":
        where = "(cluster-wide)"
    text = f"{plan.where}: waiting for {key.resource} {where}"
    if source is not None and source.error:
        text += f": {source.error}"
        if key.resource == "namespaces":
            text += (
                " (the namespaceSelector's matchLabels/matchExpressions need permission "
                "to list and watch namespaces)"
            )
    return text


def _namespace_labels(
    plan: TargetPlan, informers: Mapping[InformerKey, Source]
) -> dict[str, Mapping[str, str]] | None:
    if plan.namespaces is None:
        return None
    return {
        str(_meta(ns).get("name", "")): _labels(ns)
        for ns in informers[plan.namespaces].objects.values()
    }


def _selected(
    plan: TargetPlan,
    namespace: str,
    labels: Mapping[str, str],
    ns_labels: Mapping[str, Mapping[str, str]] | None,
    what: str,
    dropped: list[Dropped],
) -> bool:
    """Scope and selector checks (the API server already applied what it could)."""
    known = None if ns_labels is None else ns_labels.get(namespace)
    if not plan.scope.selects(namespace, known):
        dropped.append(Dropped(f"{plan.where} {what}", f"namespace {namespace!r} not selected"))
        return False
    if not plan.selector.matches(labels):
        dropped.append(Dropped(f"{plan.where} {what}", "labels do not match the selector"))
        return False
    return True


def _services(
    plan: TargetPlan,
    informers: Mapping[InformerKey, Source],
    ns_labels: Mapping[str, Mapping[str, str]] | None,
    dropped: list[Dropped],
) -> list[Target]:
    slices: dict[tuple[str, str], list[JSON]] = defaultdict(list)
    for key in plan.slices:
        for eps in informers[key].objects.values():
            owner = slice_service(eps)
            if owner is not None:
                slices[(str(_meta(eps).get("namespace", "")), owner)].append(eps)
    pods: dict[tuple[str, str], JSON] = {}
    for key in plan.pods:
        for pod in informers[key].objects.values():
            md = _meta(pod)
            pods[(str(md.get("namespace", "")), str(md.get("name", "")))] = pod
    found: list[Target] = []
    for key in plan.primary:
        for svc in informers[key].objects.values():
            md = _meta(svc)
            ns, name = str(md.get("namespace", "")), str(md.get("name", ""))
            if not _selected(plan, ns, _labels(svc), ns_labels, f"service {ns}/{name}", dropped):
                continue
            own = sorted(slices.get((ns, name), ()), key=lambda s: str(_meta(s).get("name")))
            for ep in plan.endpoints:
                t, d = service_targets(svc, own, ep, pods, plan.node)
                found += t
                dropped += d
    return found
