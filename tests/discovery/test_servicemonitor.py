"""ServiceMonitor targets: service port → EndpointSlice port, readiness, labels."""

from __future__ import annotations

from typing import Any

from openagent.discovery.servicemonitor import (
    PortMatch,
    endpoint_skip_reason,
    resolve_service_port,
    service_targets,
)
from tests.kubefake import objects

from .targets_support import service_plan

M = "__meta_kubernetes_"


def svc(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"name": "dcgm", "namespace": "gpu", "labels": {"app": "dcgm-svc"}}
    args.update(kw)
    return objects.service(**args)


def test_port_by_name_uses_the_slice_port_of_that_name() -> None:
    service = svc(ports=[("web", 80, 8080), ("metrics", 9400, 9500)])
    slices = [
        objects.endpoint_slice(
            "dcgm",
            "gpu",
            [("127.0.4.1", True, False, "dcgm-a")],
            ports=[("web", 8080), ("metrics", 9500)],
        )
    ]
    (t,), dropped = service_targets(service, slices, service_plan("{port: metrics}"))
    assert dropped == []
    assert t.url == "http://127.0.4.1:9500/metrics"
    assert dict(t.labels) == {
        "job": "svc",
        "namespace": "gpu",
        "service": "dcgm",
        "endpoint": "metrics",
        "pod": "dcgm-a",
        "instance": "127.0.4.1:9500",
    }


def test_service_port_number_differing_from_target_port() -> None:
    """The Go agent finds no target here ("Port not found in endpoints")."""
    service = svc(ports=[("http", 80, 8080)])
    slices = [
        objects.endpoint_slice(
            "dcgm", "gpu", [("127.0.4.1", True, False, "p")], ports=[("http", 8080)]
        )
    ]
    assert resolve_service_port(service, "80", None) == PortMatch(
        service["spec"]["ports"][0], slice_name="http"
    )
    (t,), dropped = service_targets(service, slices, service_plan('{port: "80"}'))
    assert dropped == []
    assert t.url == "http://127.0.4.1:8080/metrics"
    assert dict(t.labels)["endpoint"] == "80"


def test_unnamed_single_port() -> None:
    service = svc(ports=[("", 80, 8080)])
    eps = objects.endpoint_slice(
        "dcgm", "gpu", [("127.0.4.1", True, False, "p")], ports=[("", 8080)]
    )
    (t,), _ = service_targets(service, [eps], service_plan('{port: "80"}'))
    assert t.url == "http://127.0.4.1:8080/metrics"


def test_target_port_number_and_name() -> None:
    service = svc(ports=[("http", 80, "web"), ("metrics", 9400, 9500)])
    eps = objects.endpoint_slice(
        "dcgm", "gpu", [("127.0.4.1", True, False, "p")], ports=[("http", 8080), ("metrics", 9500)]
    )
    (a,), _ = service_targets(service, [eps], service_plan('{targetPort: "9500"}'))
    assert a.url == "http://127.0.4.1:9500/metrics"
    assert dict(a.labels)["endpoint"] == "9500"
    (b,), _ = service_targets(service, [eps], service_plan("{targetPort: web}"))
    assert b.url == "http://127.0.4.1:8080/metrics"
    # a number no service port targets still matches the slice port by number
    assert resolve_service_port(svc(ports=[("x", 1, 2)]), None, "8080") == PortMatch(number=8080)


def test_target_port_as_container_port_name_needs_the_pod() -> None:
    service = svc(ports=[("http", 80, 8080)])
    pod = objects.pod("p", "gpu", containers=[("app", [("prom", 8080)])])
    eps = objects.endpoint_slice(
        "dcgm", "gpu", [("127.0.4.1", True, False, pod)], ports=[("http", 8080)]
    )
    plan = service_plan("{targetPort: prom}")
    (t,), _ = service_targets(service, [eps], plan, pods={("gpu", "p"): pod})
    assert t.url == "http://127.0.4.1:8080/metrics"
    targets, dropped = service_targets(service, [eps], plan)
    assert targets == []
    assert "pod is not known" in dropped[0].reason


def test_missing_service_port_is_explained() -> None:
    service = svc(ports=[("web", 80, 8080)])
    targets, dropped = service_targets(service, [], service_plan("{port: metrics}"))
    assert targets == []
    assert [(d.source, d.reason) for d in dropped] == [
        (
            "targets[0].endpoints[0] (svc) service gpu/dcgm",
            "service port 'metrics' not found (service ports: web 80→8080)",
        )
    ]


def test_slice_without_the_port() -> None:
    service = svc(ports=[("metrics", 9400)])
    eps = objects.endpoint_slice(
        "dcgm", "gpu", [("127.0.4.1", True, False, "p")], ports=[("other", 1)]
    )
    targets, dropped = service_targets(service, [eps], service_plan())
    assert targets == []
    assert "has no port 'metrics' (ports: other 1)" in dropped[0].reason


def test_ready_terminating_and_unset_conditions() -> None:
    service = svc()
    eps = objects.endpoint_slice(
        "dcgm",
        "gpu",
        [
            ("127.0.4.1", True, False, "ready"),
            ("127.0.4.2", False, False, "unready"),
            ("127.0.4.3", True, True, "terminating"),
            ("127.0.4.4", True, False, "unset"),
        ],
    )
    del eps["endpoints"][3]["conditions"]
    targets, dropped = service_targets(service, [eps], service_plan())
    assert sorted(t.url for t in targets) == [
        "http://127.0.4.1:9400/metrics",
        "http://127.0.4.4:9400/metrics",
    ]
    assert sorted(d.reason for d in dropped) == ["endpoint not ready", "endpoint terminating"]
    assert endpoint_skip_reason({"addresses": []}) == "endpoint has no address"


def test_every_endpoint_of_every_slice() -> None:
    service = svc()
    a = objects.endpoint_slice("dcgm", "gpu", [("127.0.4.1", True, False, "a")], name="dcgm-1")
    b = objects.endpoint_slice(
        "dcgm",
        "gpu",
        [("127.0.4.2", True, False, "b"), ("127.0.4.3", True, False, "c")],
        name="dcgm-2",
    )
    targets, _ = service_targets(service, [a, b], service_plan())
    assert sorted(dict(t.labels)["pod"] for t in targets) == ["a", "b", "c"]


def test_pod_meta_when_the_pod_is_known() -> None:
    service = svc()
    pod = objects.pod("dcgm-a", "gpu", {"team": "ml"}, ip="127.0.4.1", node="n7")
    eps = objects.endpoint_slice("dcgm", "gpu", [("127.0.4.1", True, False, pod)])
    rules = f"""
    relabelConfigs:
    - {{sourceLabels: [{M}pod_label_team], targetLabel: team}}
    - {{sourceLabels: [{M}pod_container_name], targetLabel: c}}
    - {{sourceLabels: [{M}pod_node_name], targetLabel: n}}
    - {{sourceLabels: [{M}service_label_app], targetLabel: s}}
    - {{sourceLabels: [{M}endpointslice_endpoint_node_name], targetLabel: e}}
    """
    plan = service_plan("{port: metrics}", rules)
    (t,), _ = service_targets(service, [eps], plan, pods={("gpu", "dcgm-a"): pod})
    labels = dict(t.labels)
    assert (labels["team"], labels["c"], labels["n"], labels["s"], labels["e"]) == (
        "ml",
        "dcgm-exporter",
        "n7",
        "dcgm-svc",
        "n7",
    )
    # without the pod, the name and node still come from the endpoint
    (u,), _ = service_targets(service, [eps], plan)
    assert dict(u.labels)["n"] == "n7"
    assert "team" not in dict(u.labels)


def test_node_label_and_node_local_filter() -> None:
    service = svc()
    p1 = objects.pod("a", "gpu", node="n1")
    p2 = objects.pod("b", "gpu", node="n2")
    eps = objects.endpoint_slice(
        "dcgm", "gpu", [("127.0.4.1", True, False, p1), ("127.0.4.2", True, False, p2)]
    )
    plan = service_plan("{port: metrics, addNodeLabel: true}")
    targets, _ = service_targets(service, [eps], plan)
    assert sorted(dict(t.labels)["node"] for t in targets) == ["n1", "n2"]
    (t,), dropped = service_targets(service, [eps], plan, node="n2")
    assert dict(t.labels)["node"] == "n2"
    assert [d.reason for d in dropped] == ["endpoint on node n1, not n2"]


def test_job_label_reads_the_service_label() -> None:
    rules = """
    relabelConfigs:
    - {action: replace, source_labels: [app], target_label: job}
    """
    eps = objects.endpoint_slice("dcgm", "gpu", [("127.0.4.1", True, False, "a")])
    (t,), _ = service_targets(svc(), [eps], service_plan("{port: metrics}", rules))
    assert t.job == "dcgm-svc"
