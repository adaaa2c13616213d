"""PodMonitor targets from pods: skip reasons, port resolution, labels, relabelling."""

from __future__ import annotations

from typing import Any

import pytest

from openagent.discovery.podmonitor import (
    PodPort,
    pod_skip_reason,
    pod_targets,
    resolve_pod_port,
)
from openagent.model import Target
from tests.kubefake import objects

from .targets_support import pod_plan

M = "__meta_kubernetes_"


def dcgm_pod(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": "dcgm-a",
        "namespace": "gpu",
        "labels": {"app": "dcgm"},
        "ip": "127.0.3.7",
        "node": "gpu-node-1",
    }
    args.update(kw)
    return objects.pod(**args)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"phase": "Pending"}, "pod not Running (phase Pending)"),
        ({"phase": "Succeeded"}, "pod Succeeded"),
        ({"phase": "Failed"}, "pod Failed"),
        ({"deleting": True}, "pod terminating"),
        ({"ip": None}, "pod has no IP"),
        ({"node": None, "phase": "Pending"}, "pod not Running (phase Pending)"),
    ],
)
def test_skip_reasons(kw: dict[str, object], reason: str) -> None:
    pod = dcgm_pod(**kw)
    assert pod_skip_reason(pod) == reason
    targets, dropped = pod_targets(pod, pod_plan())
    assert targets == []
    assert [(d.source, d.reason) for d in dropped] == [
        ("targets[0].endpoints[0] (dcgm) pod gpu/dcgm-a", reason)
    ]


def test_missing_phase_reads_as_unknown() -> None:
    assert pod_skip_reason({"metadata": {"name": "x"}}) == "pod not Running (phase Unknown)"


def test_running_pod_target_and_labels() -> None:
    (t,), dropped = pod_targets(dcgm_pod(), pod_plan("{port: metrics, addNodeLabel: true}"))
    assert dropped == []
    assert t.url == "http://127.0.3.7:9400/metrics"
    assert dict(t.labels) == {
        "job": "dcgm",
        "namespace": "gpu",
        "pod": "dcgm-a",
        "endpoint": "metrics",
        "node": "gpu-node-1",
        "container": "dcgm-exporter",
        "instance": "127.0.3.7:9400",
    }
    assert [k for k, _ in t.labels].count("node") == 1
    assert t.source == "targets[0].endpoints[0] (dcgm) pod gpu/dcgm-a port 9400"


def test_no_node_label_unless_asked() -> None:
    (t,), _ = pod_targets(dcgm_pod(), pod_plan("{port: metrics}"))
    assert "node" not in dict(t.labels)


def test_unready_running_pod_is_scraped_and_rules_can_drop_it() -> None:
    pod = dcgm_pod(ready=False)
    (t,), _ = pod_targets(pod, pod_plan())
    assert t.url == "http://127.0.3.7:9400/metrics"
    rule = f"""
    relabelConfigs:
    - {{sourceLabels: [{M}pod_ready], regex: "false", action: drop}}
    """
    targets, dropped = pod_targets(pod, pod_plan("{port: metrics}", rule))
    assert targets == []
    assert [d.reason for d in dropped] == ["dropped by relabelConfigs"]


def test_named_port_is_resolved_not_pasted() -> None:
    pod = dcgm_pod(containers=[("app", [("http", 8080)]), ("dcgm-exporter", [("metrics", 9500)])])
    (t,), _ = pod_targets(pod, pod_plan("{port: metrics}"))
    assert t.url == "http://127.0.3.7:9500/metrics"
    assert dict(t.labels)["container"] == "dcgm-exporter"


def test_a_name_in_several_containers_gives_one_target_each() -> None:
    pod = dcgm_pod(
        containers=[
            ("a", [("metrics", 9100)]),
            ("b", [("metrics", 9200)]),
            ("c", [("metrics", 9100)]),
        ]
    )
    assert [
        (p.number, p.container and p.container["name"]) for p in resolve_pod_port(pod, "metrics")
    ] == [  # type: ignore[union-attr]
        (9100, "a"),
        (9200, "b"),
    ]
    targets, _ = pod_targets(pod, pod_plan())
    assert sorted((t.url, dict(t.labels)["container"]) for t in targets) == [
        ("http://127.0.3.7:9100/metrics", "a"),
        ("http://127.0.3.7:9200/metrics", "b"),
    ]
    assert len({t.id for t in targets}) == 2


def test_missing_port_name_says_which_names_exist() -> None:
    pod = dcgm_pod(containers=[("app", [("http", 8080), ("grpc", 9090)])])
    assert resolve_pod_port(pod, "metrics") == "port 'metrics' not found (named ports: grpc, http)"
    targets, dropped = pod_targets(pod, pod_plan())
    assert targets == []
    assert dropped[0].reason == "port 'metrics' not found (named ports: grpc, http)"
    bare = dcgm_pod(containers=[("app", [])])
    assert resolve_pod_port(bare, "metrics") == "port 'metrics' not found (named ports: none)"


def test_numeric_port_declared_or_not() -> None:
    pod = dcgm_pod()
    (declared,) = resolve_pod_port(pod, "9400")  # type: ignore[misc]
    assert isinstance(declared, PodPort) and declared.container is not None
    assert resolve_pod_port(pod, "9401") == [PodPort(9401)]
    (t,), _ = pod_targets(pod, pod_plan('{port: "9401"}'))
    assert t.url == "http://127.0.3.7:9401/metrics"
    labels = dict(t.labels)
    assert labels["endpoint"] == "9401"
    assert "container" not in labels


def test_sidecar_init_container_ports_count() -> None:
    pod = dcgm_pod(containers=[("app", [])])
    pod["spec"]["initContainers"] = [
        {
            "name": "exporter",
            "restartPolicy": "Always",
            "ports": [{"name": "metrics", "containerPort": 9102}],
        },
        {"name": "setup", "ports": [{"name": "setup", "containerPort": 1}]},
    ]
    (pp,) = resolve_pod_port(pod, "metrics")  # type: ignore[misc]
    assert isinstance(pp, PodPort) and (pp.number, pp.init) == (9102, True)
    assert isinstance(resolve_pod_port(pod, "setup"), str)


def test_meta_labels_reach_relabel_rules() -> None:
    rules = f"""
    relabelConfigs:
    - {{sourceLabels: [{M}pod_controller_kind, {M}pod_controller_name], separator: /,
        targetLabel: owner}}
    - {{sourceLabels: [{M}pod_container_port_number], targetLabel: port}}
    - {{sourceLabels: [{M}pod_label_app], targetLabel: app}}
    """
    (t,), _ = pod_targets(dcgm_pod(), pod_plan("{port: metrics}", rules))
    labels = dict(t.labels)
    assert labels["owner"] == "DaemonSet/whatap-node-agent"
    assert labels["port"] == "9400"
    assert labels["app"] == "dcgm"
    assert not any(k.startswith("__") for k in labels)


def test_relabelling_can_rewrite_the_address() -> None:
    rules = """
    relabelConfigs:
    - {sourceLabels: [__address__], regex: '(.*):9400', targetLabel: __address__,
       replacement: '$1:9500'}
    """
    (t,), _ = pod_targets(dcgm_pod(), pod_plan("{port: metrics}", rules))
    assert t.url == "http://127.0.3.7:9500/metrics"
    assert dict(t.labels)["instance"] == "127.0.3.7:9500"


def test_job_label_from_operator() -> None:
    rules = """
    relabelConfigs:
    - {action: replace, source_labels: [app], target_label: job}
    """
    (t,), _ = pod_targets(
        dcgm_pod(labels={"app": "dcgm-exporter"}), pod_plan("{port: metrics}", rules)
    )
    assert t.job == "dcgm-exporter" and dict(t.labels)["job"] == "dcgm-exporter"
    (u,), _ = pod_targets(dcgm_pod(labels={"other": "x"}), pod_plan("{port: metrics}", rules))
    assert u.job == "dcgm"


def test_host_network_pod_is_scraped_on_the_node_ip() -> None:
    pod = dcgm_pod(host_network=True, containers=[("dcgm-exporter", [("metrics", 9400)])])
    (t,), _ = pod_targets(pod, pod_plan('{port: "9400", addNodeLabel: true}'))
    node_ip = objects.node_ip("gpu-node-1")
    assert t.url == f"http://{node_ip}:9400/metrics"
    assert dict(t.labels)["instance"] == f"{node_ip}:9400"


def test_ipv6_pod() -> None:
    (t,), _ = pod_targets(dcgm_pod(ip="fd00::7"), pod_plan())
    assert t.url == "http://[fd00::7]:9400/metrics"


def test_identity_follows_the_address() -> None:
    plan = pod_plan()
    (a,), _ = pod_targets(dcgm_pod(), plan)
    (b,), _ = pod_targets(dcgm_pod(), plan)
    (c,), _ = pod_targets(dcgm_pod(ip="127.0.3.8"), plan)
    assert a.id == b.id and a == b
    assert c.id != a.id
    assert isinstance(c, Target)


def test_scheme_params_and_path() -> None:
    (t,), _ = pod_targets(
        dcgm_pod(), pod_plan("{port: metrics, scheme: https, path: /m, params: {a: [b]}}")
    )
    assert t.url == "https://127.0.3.7:9400/m?a=b"
