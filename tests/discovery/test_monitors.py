"""Informer keys a config needs, and targets built from informer contents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openagent.config import load_config
from openagent.discovery.monitors import KubeTargets
from openagent.discovery.static import static_targets
from openagent.kube.informer import InformerKey
from tests.kubefake import objects

from .targets_support import cluster
from .targets_support import config_of as config

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


POD = """
- targetName: t
  type: PodMonitor
  {ns}
  selector: {{matchLabels: {{app: dcgm}}}}
  endpoints: [{{port: metrics}}]
"""


def test_keys_for_named_namespaces() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchNames: [b, a]}")))
    assert kt.keys == (InformerKey("pods", "a", "app=dcgm"), InformerKey("pods", "b", "app=dcgm"))


def test_keys_default_namespace_and_any() -> None:
    default = KubeTargets(config(POD.format(ns="namespaceSelector: {}")))
    assert default.keys == (InformerKey("pods", "default", "app=dcgm"),)
    every = KubeTargets(config(POD.format(ns="namespaceSelector: {any: true}")))
    assert every.keys == (InformerKey("pods", None, "app=dcgm"),)


def test_keys_for_namespace_labels() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchLabels: {gpu: 'true'}}")))
    assert kt.keys == (
        InformerKey("pods", None, "app=dcgm"),
        InformerKey("namespaces", None, "gpu=true"),
    )


def test_node_local_keys() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchNames: [a]}")), node="n1")
    assert kt.keys == (InformerKey("pods", "a", "app=dcgm", "spec.nodeName=n1"),)


def test_service_monitor_keys_and_pods_only_when_rules_read_pod_meta() -> None:
    base = """
- targetName: s
  type: ServiceMonitor
  namespaceSelector: {matchNames: [a]}
  selector: {matchLabels: {app: x}}
  endpoints: [{port: metrics}]
"""
    kt = KubeTargets(config(base))
    assert kt.keys == (
        InformerKey("services", "a", "app=x"),
        InformerKey("endpointslices", "a", "kubernetes.io/service-name"),
    )
    reading = (
        base
        + "  relabelConfigs:\n"
        + "  - {sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node}\n"
    )
    assert InformerKey("pods", "a") in KubeTargets(config(reading)).keys


def test_equal_keys_are_shared() -> None:
    two = POD.format(ns="namespaceSelector: {matchNames: [a]}") + POD.replace("t\n", "u\n").format(
        ns="namespaceSelector: {matchNames: [a]}"
    )
    kt = KubeTargets(config(two))
    assert len(kt.plans) == 2
    assert kt.keys == (InformerKey("pods", "a", "app=dcgm"),)


def test_disabled_and_static_targets_need_nothing() -> None:
    cfg = config(
        POD.format(ns="").replace("type: PodMonitor", "type: PodMonitor\n  enabled: false")
        + "- {targetName: s, type: StaticEndpoints, endpoints: [{address: '127.0.0.1:1'}]}\n"
    )
    assert KubeTargets(cfg).keys == ()


def test_waiting_until_synced_with_the_error() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchLabels: {gpu: 'true'}}")))
    informers = cluster(kt, [], synced=False)
    ns_key = InformerKey("namespaces", None, "gpu=true")
    informers[ns_key].error = 'namespaces is forbidden: cannot list resource "namespaces"'  # type: ignore[misc]
    out = kt.build(informers)
    assert out.by_target == {0: None}
    assert out.waiting == [
        "targets[0] (t): waiting for pods in every namespace",
        "targets[0] (t): waiting for namespaces (cluster-wide): namespaces is forbidden: "
        'cannot list resource "namespaces" (the namespaceSelector\'s '
        "matchLabels/matchExpressions need permission to list and watch namespaces)",
    ]


def test_namespace_labels_decide() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchLabels: {gpu: 'true'}}")))
    pods = [
        objects.pod("p1", "ml", {"app": "dcgm"}, ip="127.0.3.1"),
        objects.pod("p2", "web", {"app": "dcgm"}, ip="127.0.3.2"),
    ]
    gpu = [objects.namespace("ml", {"gpu": "true"}), objects.namespace("web")]
    out = kt.build(cluster(kt, [*pods, *gpu]))
    assert [t.url for t in out.by_target[0] or []] == ["http://127.0.3.1:9400/metrics"]
    assert [(d.source, d.reason) for d in out.dropped] == [
        ("targets[0] (t) pod web/p2", "namespace 'web' not selected")
    ]
    relabelled = [objects.namespace("ml"), objects.namespace("web", {"gpu": "true"})]
    out = kt.build(cluster(kt, [*pods, *relabelled]))
    assert [t.url for t in out.by_target[0] or []] == ["http://127.0.3.2:9400/metrics"]


def test_client_side_selector_check() -> None:
    cfg = config(
        POD.format(ns="namespaceSelector: {matchNames: [a]}").replace(
            "{app: dcgm}", "{app: dcgm, team: 'gpu infra'}"
        )
    )
    kt = KubeTargets(cfg)
    assert kt.keys == (InformerKey("pods", "a", "app=dcgm"),)
    pods = [
        objects.pod("in", "a", {"app": "dcgm", "team": "gpu infra"}, ip="127.0.3.1"),
        objects.pod("out", "a", {"app": "dcgm", "team": "gpu"}, ip="127.0.3.2"),
    ]
    out = kt.build(cluster(kt, pods))
    assert [t.url for t in out.by_target[0] or []] == ["http://127.0.3.1:9400/metrics"]
    assert [d.reason for d in out.dropped] == ["labels do not match the selector"]


def test_results_are_cached_by_resource_version() -> None:
    kt = KubeTargets(config(POD.format(ns="namespaceSelector: {matchNames: [a]}")))
    pod = objects.pod("p", "a", {"app": "dcgm"}, ip="127.0.3.1")
    informers = cluster(kt, [pod])
    (first,) = kt.build(informers).by_target[0] or []
    (again,) = kt.build(informers).by_target[0] or []
    assert again is first
    pod["status"]["podIP"] = "127.0.3.9"
    pod["metadata"]["resourceVersion"] = "99"
    (moved,) = kt.build(informers).by_target[0] or []
    assert moved.url == "http://127.0.3.9:9400/metrics" and moved.id != first.id


# -- the example configs ------------------------------------------------------


def node_agent_pods(nodes: int) -> list[dict[str, Any]]:
    """The Whatap node agent DaemonSet with its dcgm-exporter sidecar (hostNetwork)."""
    return [
        objects.pod(
            f"whatap-node-agent-{i}",
            "whatap-monitoring",
            {"name": "whatap-node-agent", "whatap-gpu": "true"},
            node=f"gpu-node-{i}",
            host_network=True,
            containers=[
                ("whatap-node-agent", [("helper", 6801)]),
                ("dcgm-exporter", [("metrics", 9400)]),
            ],
        )
        for i in range(nodes)
    ]


def test_dcgm_exporter_auto_discovers_the_builtin_exporter() -> None:
    cfg = load_config(EXAMPLES / "dcgm-exporter-auto.yaml").config
    kt = KubeTargets(cfg)
    assert kt.keys == (InformerKey("pods", "whatap-monitoring", "name=whatap-node-agent"),)
    others = [
        objects.pod(
            "whatap-node-agent-x", "default", {"name": "whatap-node-agent"}, ip="127.0.9.9"
        ),
        objects.pod("dcgm", "whatap-monitoring", {"name": "other"}, ip="127.0.9.8"),
    ]
    out = kt.build(cluster(kt, [*node_agent_pods(3), *others]))
    targets = out.by_target[0] or []
    assert sorted(t.url for t in targets) == sorted(
        f"http://{objects.node_ip(f'gpu-node-{i}')}:9400/metrics" for i in range(3)
    )
    for t in targets:
        labels = dict(t.labels)
        node = labels["node"]
        assert labels == {
            "job": "dcgm-exporter-auto",
            "namespace": "whatap-monitoring",
            "pod": labels["pod"],
            "endpoint": "9400",
            "node": node,
            "container": "dcgm-exporter",
            "instance": f"{objects.node_ip(node)}:9400",
        }
        assert t.endpoint.interval == 30.0
        assert [r.target_label for r in t.metric_relabel] == ["wtp_src", None]
    assert out.dropped == []


def example_cluster() -> list[dict[str, Any]]:
    """A cluster with something for every target in config/."""
    custom = [
        objects.pod(
            f"custom-dcgm-{i}",
            "gpu-monitoring",
            {"app": "custom-dcgm", "app.kubernetes.io/component": "dcgm-exporter"},
            ip=f"127.0.5.{i + 1}",
            owner=("DaemonSet", "custom-dcgm"),
        )
        for i in range(2)
    ]
    workload = [
        objects.pod(
            "gpu-job-0",
            ns,
            {"tier": "gpu", "app.kubernetes.io/name": "dcgm-exporter"},
            ip=f"127.0.6.{n}",
        )
        for n, ns in enumerate(["gpu-batch", "gpu-serving"], 1)
    ]
    ml = [objects.pod("ml-dcgm", "ml-team", {"app": "dcgm-exporter"}, ip="127.0.7.1")]
    svc_pod = objects.pod(
        "dcgm-svc-pod",
        "whatap-monitoring",
        {"whatap-gpu": "true"},
        ip="127.0.8.1",
        node="gpu-node-0",
    )
    secure_pod = objects.pod(
        "secure-0", "gpu-system", ip="127.0.8.2", containers=[("dcgm", [("https-metrics", 9443)])]
    )
    return [
        *node_agent_pods(2),
        *custom,
        *workload,
        *ml,
        svc_pod,
        secure_pod,
        objects.service("dcgm-exporter-service", "whatap-monitoring", {"app": "dcgm-exporter"}),
        objects.endpoint_slice(
            "dcgm-exporter-service", "whatap-monitoring", [("127.0.8.1", True, False, svc_pod)]
        ),
        objects.service(
            "dcgm-secure",
            "gpu-system",
            {"app.kubernetes.io/name": "dcgm-exporter"},
            ports=[("https-metrics", 443, 9443)],
        ),
        objects.endpoint_slice(
            "dcgm-secure",
            "gpu-system",
            [("127.0.8.2", True, False, secure_pod)],
            ports=[("https-metrics", 9443)],
        ),
        objects.namespace("gpu-system", {"gpu": "true"}),
        objects.namespace("whatap-monitoring"),
    ]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_finds_every_target(path: Path) -> None:
    cfg = load_config(path).config
    kt = KubeTargets(cfg)
    out = kt.build(cluster(kt, example_cluster()))
    static, static_dropped = static_targets(cfg)
    assert static_dropped == []
    assert out.waiting == []
    for i, tc in enumerate(cfg.targets):
        if tc.type == "StaticEndpoints":
            assert any(
                t.job == tc.target_name or t.source.startswith(f"targets[{i}]") for t in static
            )
            continue
        found = out.by_target[i]
        assert found, f"{path.name}: {tc.target_name} found nothing: {out.dropped}"
        for t in found:
            assert t.url.startswith(f"{t.endpoint.scheme}://127.0.") or "192.168." in t.url
            assert not any(k.startswith("__") for k, _ in t.labels)
