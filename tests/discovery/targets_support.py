"""Helpers for the Kubernetes target tests: configs from YAML snippets, plans, fake informers."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openagent.config import ScrapeConfig, TargetConfig, parse_config
from openagent.discovery.meta_labels import EndpointPlan
from openagent.discovery.monitors import KubeTargets, Source
from openagent.kube.informer import InformerKey
from tests.kubefake.selectors import FieldSelector, LabelSelector

KINDS = {
    "pods": "Pod",
    "services": "Service",
    "endpointslices": "EndpointSlice",
    "namespaces": "Namespace",
    "nodes": "Node",
}


def config_of(targets: str) -> ScrapeConfig:
    """A config whose ``targets`` list is the YAML snippet ``targets``."""
    body = textwrap.indent(textwrap.dedent(targets).strip("\n"), "      ")
    text = f"features:\n  openAgent:\n    enabled: true\n    targets:\n{body}\n"
    return parse_config(text, "test.yaml").config


def _target(kind: str, endpoint: str, extra: str, name: str) -> TargetConfig:
    selector = "app: dcgm" if kind == "PodMonitor" else "app: dcgm-svc"
    snippet = f"""\
    - targetName: {name}
      type: {kind}
      namespaceSelector: {{matchNames: [gpu]}}
      selector: {{matchLabels: {{{selector}}}}}
      endpoints:
      - {endpoint}
    """
    snippet = snippet.rstrip() + "\n"
    if extra:
        snippet += textwrap.indent(textwrap.dedent(extra).strip("\n"), "      ") + "\n"
    (tc,) = config_of(snippet).targets
    return tc


def pod_plan(
    endpoint: str = "{port: metrics}", extra: str = "", name: str = "dcgm"
) -> EndpointPlan:
    """An `EndpointPlan` of a PodMonitor whose endpoint is the YAML flow mapping ``endpoint``."""
    return EndpointPlan.of(0, _target("PodMonitor", endpoint, extra, name), 0, "pod")


def service_plan(
    endpoint: str = "{port: metrics}", extra: str = "", name: str = "svc"
) -> EndpointPlan:
    """An `EndpointPlan` of a ServiceMonitor whose endpoint is the flow mapping ``endpoint``."""
    return EndpointPlan.of(0, _target("ServiceMonitor", endpoint, extra, name), 0, "service")


@dataclass
class Fake:
    """What an informer shows: objects, synced, error."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


def cluster(
    kt: KubeTargets, objs: Iterable[dict[str, Any]], synced: bool = True
) -> dict[InformerKey, Source]:
    """Fake informers for every key of ``kt``, holding what their selectors let through."""
    out: dict[InformerKey, Source] = {}
    items = list(objs)
    for key in kt.keys:
        fake = Fake()
        labels = LabelSelector.parse(key.label_selector or "")
        fields = FieldSelector.parse(key.field_selector or "")
        for i, obj in enumerate(items):
            md = obj["metadata"]
            if obj["kind"] != KINDS[key.resource]:
                continue
            if key.namespace and md.get("namespace") != key.namespace:
                continue
            node = {"spec.nodeName": obj.get("spec", {}).get("nodeName", "")}
            if labels.matches(md.get("labels", {})) and fields.matches(node):
                md.setdefault("resourceVersion", str(i + 1))
                fake.objects[(md.get("namespace", ""), md["name"])] = obj
        if synced:
            fake.synced.set()
        out[key] = fake
    return out
