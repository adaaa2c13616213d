"""Every overlay renders with the real ``kubectl kustomize`` into valid Kubernetes objects.

Built-in kinds are validated by kubernetes-validate in strict mode (an unknown or
misspelt field fails) against the schemas of Kubernetes 1.37, the newest the
package ships, and 1.30, so a field that older clusters still in use lack fails too.

The ServiceMonitor is a custom resource whose schema kubernetes-validate does not
have. Checked of it: its apiVersion and kind, that its selector matches the labels
of the overlay's Service (and no other object's), and that the port it scrapes is
a port name of that Service. Not checked: its other fields against the Prometheus
Operator's CRD (a misspelt field there would pass here and be pruned by the API
server), nor that a Prometheus would select it (that depends on the Prometheus's
own serviceMonitorSelector).
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.deploy.rendered import NAMESPACE, OVERLAYS, Obj, one, pod_spec, render

KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def built_in(overlay: str) -> list[Obj]:
    return [o for o in render(overlay) if (o["apiVersion"], o["kind"]) not in CUSTOM_KINDS]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_in_object_validates_strictly(overlay: str, version: str) -> None:
    objects = built_in(overlay)
    assert {o["kind"] for o in objects} >= {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Service",
    }
    for o in objects:
        kubernetes_validate.validate(o, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_service_monitor_is_a_custom_resource(overlay: str) -> None:
    kinds = [(o["apiVersion"], o["kind"]) for o in render(overlay)]
    expected = [("monitoring.coreos.com/v1", "ServiceMonitor")] if overlay == "remote-write" else []
    assert [k for k in kinds if k in CUSTOM_KINDS] == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_namespace_with_the_overlay_labels(overlay: str) -> None:
    labels = {"app.kubernetes.io/name": "openagent", "app.kubernetes.io/instance": overlay}
    for o in render(overlay):
        meta = o["metadata"]
        assert meta["labels"].items() >= labels.items(), meta
        if o["kind"] not in CLUSTER_SCOPED:
            assert meta["namespace"] == NAMESPACE, meta


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_is_the_one_named_in_the_base(overlay: str) -> None:
    (agent,) = pod_spec(overlay)["containers"]
    assert agent["image"] == "openagent:0.1.0"


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_service_monitor_selects_the_agent_service_and_scrapes_its_http_port() -> None:
    monitor = one("remote-write", "ServiceMonitor")
    service = one("remote-write", "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert matches(selector, service["metadata"]["labels"])
    others = [o for o in render("remote-write") if o["kind"] == "Service" and o is not service]
    assert others == []
    # Without a namespaceSelector a ServiceMonitor looks in its own namespace.
    assert "namespaceSelector" not in monitor["spec"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    for other in ("single", "sharded", "node-local"):
        assert not matches(selector, one(other, "Service")["metadata"]["labels"])


def test_service_monitor_names_a_service_port_that_reaches_the_agent_listener() -> None:
    service = one("remote-write", "Service")
    (endpoint,) = one("remote-write", "ServiceMonitor")["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["port"] == 9401
    (agent,) = pod_spec("remote-write")["containers"]
    ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
    assert ports[port["targetPort"]] == 9401
