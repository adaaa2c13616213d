"""Meta labels of pods, containers, services and EndpointSlices; the jobLabel rule."""

from __future__ import annotations

from openagent.config import RelabelConfig
from openagent.discovery.meta_labels import (
    container_meta,
    controller,
    endpointslice_meta,
    host_port,
    pod_meta,
    pod_ready,
    resolve_job_label,
    sanitize,
    service_meta,
)
from openagent.relabel import Relabeler
from tests.kubefake import objects

M = "__meta_kubernetes_"


def test_sanitize() -> None:
    assert sanitize("app.kubernetes.io/name") == "app_kubernetes_io_name"
    assert sanitize("whatap-gpu") == "whatap_gpu"
    assert sanitize("ok_Name9") == "ok_Name9"


def test_pod_meta_labels() -> None:
    pod = objects.pod(
        "dcgm-a",
        "gpu",
        {"app.kubernetes.io/name": "dcgm", "whatap-gpu": "true"},
        ip="127.0.3.7",
        node="gpu-node-1",
        annotations={"prometheus.io/scrape": "true"},
        uid="uid-1",
    )
    meta = pod_meta(pod)
    assert meta[M + "namespace"] == "gpu"
    assert meta[M + "pod_name"] == "dcgm-a"
    assert meta[M + "pod_ip"] == "127.0.3.7"
    assert meta[M + "pod_ready"] == "true"
    assert meta[M + "pod_phase"] == "Running"
    assert meta[M + "pod_node_name"] == "gpu-node-1"
    assert meta[M + "pod_host_ip"] == objects.node_ip("gpu-node-1")
    assert meta[M + "pod_uid"] == "uid-1"
    assert meta[M + "pod_label_app_kubernetes_io_name"] == "dcgm"
    assert meta[M + "pod_labelpresent_app_kubernetes_io_name"] == "true"
    assert meta[M + "pod_label_whatap_gpu"] == "true"
    assert meta[M + "pod_annotation_prometheus_io_scrape"] == "true"
    assert meta[M + "pod_annotationpresent_prometheus_io_scrape"] == "true"
    assert meta[M + "pod_controller_kind"] == "DaemonSet"
    assert meta[M + "pod_controller_name"] == "whatap-node-agent"
    assert all(k.startswith(M) for k in meta)


def test_ready_and_controller_edge_cases() -> None:
    assert pod_ready(objects.pod("p", ready=False)) == "false"
    assert pod_ready({"status": {}}) == "unknown"
    assert pod_meta({"metadata": {"name": "bare"}})[M + "pod_ready"] == "unknown"
    assert controller({"ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}) is None
    assert M + "pod_controller_kind" not in pod_meta(objects.pod("p", owner=None))


def test_container_meta() -> None:
    container = {"name": "dcgm-exporter", "image": "img:1"}
    port = {"name": "metrics", "containerPort": 9400, "protocol": "TCP"}
    assert container_meta(container, port) == {
        M + "pod_container_name": "dcgm-exporter",
        M + "pod_container_image": "img:1",
        M + "pod_container_init": "false",
        M + "pod_container_port_name": "metrics",
        M + "pod_container_port_number": "9400",
        M + "pod_container_port_protocol": "TCP",
    }
    assert container_meta(container, None, init=True)[M + "pod_container_init"] == "true"


def test_service_and_endpointslice_meta() -> None:
    svc = objects.service(
        "dcgm", "gpu", {"app": "dcgm-exporter"}, ports=[("metrics", 9400)], cluster_ip="10.96.0.9"
    )
    meta = service_meta(svc, svc["spec"]["ports"][0])
    assert meta[M + "service_name"] == "dcgm"
    assert meta[M + "service_cluster_ip"] == "10.96.0.9"
    assert meta[M + "service_type"] == "ClusterIP"
    assert meta[M + "service_label_app"] == "dcgm-exporter"
    assert meta[M + "service_port_name"] == "metrics"
    assert meta[M + "service_port_number"] == "9400"
    pod = objects.pod("dcgm-a", "gpu", node="n1")
    eps = objects.endpoint_slice("dcgm", "gpu", [("127.0.0.5", True, False, pod)])
    em = endpointslice_meta(eps, eps["endpoints"][0], eps["ports"][0])
    assert em[M + "endpointslice_name"] == eps["metadata"]["name"]
    assert em[M + "endpointslice_address_type"] == "IPv4"
    assert em[M + "endpointslice_endpoint_conditions_ready"] == "true"
    assert em[M + "endpointslice_endpoint_conditions_terminating"] == "false"
    assert em[M + "endpointslice_address_target_kind"] == "Pod"
    assert em[M + "endpointslice_address_target_name"] == "dcgm-a"
    assert em[M + "endpointslice_endpoint_node_name"] == "n1"
    assert em[M + "endpointslice_port"] == "9400"
    assert em[M + "endpointslice_port_name"] == "metrics"
    assert em[M + "endpointslice_label_kubernetes_io_service_name"] == "dcgm"


def test_external_name_service() -> None:
    svc = {
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {"type": "ExternalName", "externalName": "a.example"},
    }
    meta = service_meta(svc, None)
    assert meta[M + "service_external_name"] == "a.example"
    assert M + "service_cluster_ip" not in meta


def test_host_port_brackets_ipv6() -> None:
    assert host_port("127.0.0.1", 9400) == "127.0.0.1:9400"
    assert host_port("fd00::5", "9400") == "[fd00::5]:9400"


def test_job_label_rule_reads_the_object_label() -> None:
    rule = RelabelConfig(source_labels=("app",), target_label="job")
    pod_rule = resolve_job_label(rule, "pod")
    assert pod_rule.source_labels == (M + "pod_label_app",)
    assert pod_rule.regex == "(.+)"
    assert resolve_job_label(rule, "service").source_labels == (M + "service_label_app",)
    dotted = RelabelConfig(source_labels=("app.kubernetes.io/name",), target_label="job")
    assert resolve_job_label(dotted, "pod").source_labels == (
        M + "pod_label_app_kubernetes_io_name",
    )
    relabel = Relabeler([pod_rule])
    assert relabel.process({"job": "t", M + "pod_label_app": "dcgm"}) == {
        "job": "dcgm",
        M + "pod_label_app": "dcgm",
    }
    # a pod without the label keeps job = targetName (Prometheus's (.*) would delete job)
    assert relabel.process({"job": "t"}) == {"job": "t"}
    assert Relabeler([rule]).process({"job": "t"}) == {}


def test_other_rules_are_left_alone() -> None:
    for rule in (
        RelabelConfig(source_labels=("__meta_kubernetes_pod_label_app",), target_label="job"),
        RelabelConfig(source_labels=("namespace",), target_label="job"),
        RelabelConfig(source_labels=("app",), target_label="job", regex="(d.*)"),
        RelabelConfig(source_labels=("app",), target_label="team"),
        RelabelConfig(source_labels=("a", "b"), target_label="job"),
        RelabelConfig(source_labels=("app",), target_label="job", replacement="x-$1"),
        RelabelConfig(source_labels=("app",), regex="x", action="keep"),
    ):
        assert resolve_job_label(rule, "pod") is rule
