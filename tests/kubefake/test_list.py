"""LIST and GET through kubernetes_asyncio: selectors, every kind, pagination, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kubefake import FakeKubeServer, Store
from tests.kubefake import objects as o
from tests.kubefake.conftest import api_status
from tests.kubefake.listing import decode_continue

pytestmark = pytest.mark.timeout(20)


def populate(store: Store) -> None:
    """Two GPU namespaces, a system namespace, two nodes and their workloads."""
    store.create(o.namespace("gpu-operator", {"team": "gpu"}))
    store.create(o.namespace("ml", {"team": "ml"}))
    store.create(o.namespace("kube-system"))
    store.create(o.node("node-1", {"nvidia.com/gpu.present": "true"}))
    store.create(o.node("node-2", unschedulable=True, gpus=0))
    dcgm = {"app": "nvidia-dcgm-exporter"}
    a = store.create(o.pod("dcgm-a", "gpu-operator", dcgm, "10.244.1.5", "node-1"))
    store.create(o.pod("dcgm-b", "gpu-operator", dcgm, "10.244.2.5", "node-2", ready=False))
    store.create(o.pod("dcgm-c", "gpu-operator", dcgm, None, None, phase="Pending"))
    store.create(o.pod("trainer", "ml", {"app": "trainer", "gpu": "true"}, "10.244.1.9", "node-1"))
    store.create(
        o.pod(
            "kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}, node="node-2", host_network=True
        )
    )
    store.create(o.service("dcgm", "gpu-operator", dcgm, dcgm))
    store.create(
        o.service("trainer", "ml", {"app": "trainer"}, cluster_ip="None", type="ClusterIP")
    )
    store.create(
        o.endpoint_slice(
            "dcgm",
            "gpu-operator",
            [("10.244.1.5", True, False, a), ("10.244.2.5", False, False, "dcgm-b")],
        )
    )
    store.create(o.endpoint_slice("trainer", "ml", [("10.244.1.9", True, True, "trainer")]))
    store.create(o.secret("scrape-auth", "gpu-operator", {"username": "u", "password": "p"}))
    store.create(
        o.config_map("whatap-open-agent-config", "gpu-operator", {"scrape_config.yaml": "x: 1"})
    )


def names(items: Sequence[Any]) -> list[str]:
    return [i.metadata.name for i in items]


async def test_pods_by_label_and_field(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    populate(kube.store)
    pods = await core.list_pod_for_all_namespaces(label_selector="app=nvidia-dcgm-exporter")
    assert names(pods.items) == ["dcgm-a", "dcgm-b", "dcgm-c"]
    assert pods.metadata.resource_version == str(kube.store.resource_version)
    on_node = await core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-1")
    assert names(on_node.items) == ["dcgm-a", "trainer"]
    running = await core.list_namespaced_pod(
        "gpu-operator",
        label_selector="app in (nvidia-dcgm-exporter,x)",
        field_selector="status.phase=Running,status.podIP!=10.244.2.5",
    )
    assert names(running.items) == ["dcgm-a"]
    host = await core.list_pod_for_all_namespaces(field_selector="spec.hostNetwork=true")
    assert names(host.items) == ["kube-proxy"]
    not_dcgm = await core.list_pod_for_all_namespaces(label_selector="app!=nvidia-dcgm-exporter")
    assert names(not_dcgm.items) == ["kube-proxy", "trainer"]  # includes pods without "app"
    pod = (
        await core.list_namespaced_pod("gpu-operator", field_selector="metadata.name=dcgm-a")
    ).items[0]
    assert (
        pod.status.pod_ip == "10.244.1.5" and pod.spec.containers[0].ports[0].container_port == 9400
    )
    assert pod.metadata.owner_references[0].kind == "DaemonSet"


async def test_other_kinds(kube: FakeKubeServer, api: client.ApiClient) -> None:
    populate(kube.store)
    core, disc = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    svcs = await core.list_service_for_all_namespaces(field_selector="spec.clusterIP=None")
    assert names(svcs.items) == ["trainer"]
    assert names((await core.list_namespaced_service("gpu-operator")).items) == ["dcgm"]
    slices = await disc.list_endpoint_slice_for_all_namespaces(
        label_selector="kubernetes.io/service-name=dcgm"
    )
    (dcgm_slice,) = slices.items
    assert [e.conditions.ready for e in dcgm_slice.endpoints] == [True, False]
    pod_a = kube.store.get("pods", "gpu-operator", "dcgm-a")
    assert pod_a is not None
    assert dcgm_slice.endpoints[0].target_ref.uid == pod_a["metadata"]["uid"]
    trainer = (await disc.list_namespaced_endpoint_slice("ml")).items[0].endpoints[0].conditions
    assert (trainer.ready, trainer.serving, trainer.terminating) == (False, True, True)
    nss = await core.list_namespace(label_selector="team")
    assert names(nss.items) == ["gpu-operator", "ml"]
    active = await core.list_namespace(field_selector="status.phase=Active,metadata.name!=ml")
    assert names(active.items) == ["gpu-operator", "kube-system"]
    nodes = await core.list_node(field_selector="spec.unschedulable=false")
    assert names(nodes.items) == ["node-1"]
    assert nodes.items[0].status.allocatable["nvidia.com/gpu"] == "8"
    gpu_nodes = await core.list_node(label_selector="nvidia.com/gpu.present=true")
    assert names(gpu_nodes.items) == ["node-1"]
    secrets = await core.list_namespaced_secret("gpu-operator", field_selector="type=Opaque")
    assert names(secrets.items) == ["scrape-auth"]
    cms = await core.list_config_map_for_all_namespaces()
    assert names(cms.items) == ["whatap-open-agent-config"]


async def test_get_by_name(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    populate(kube.store)
    pod = await core.read_namespaced_pod("dcgm-a", "gpu-operator")
    assert pod.kind == "Pod" and pod.metadata.labels == {"app": "nvidia-dcgm-exporter"}
    secret = await core.read_namespaced_secret("scrape-auth", "gpu-operator")
    assert secret.data == {"username": "dQ==", "password": "cA=="}
    assert (await core.read_namespace("ml")).metadata.labels["kubernetes.io/metadata.name"] == "ml"
    node = await core.read_node("node-1")
    assert node.status.addresses[0].address == o.node_ip("node-1")
    cm = await core.read_namespaced_config_map("whatap-open-agent-config", "gpu-operator")
    assert cm.data == {"scrape_config.yaml": "x: 1"}
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_secret("missing", "gpu-operator")
    assert err.value.status == 404
    assert api_status(err.value)["message"] == 'secrets "missing" not found'


async def test_pagination_is_consistent(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    for i in range(25):
        kube.store.create(o.pod(f"p{i:02d}", f"ns{i % 2}", {"n": str(i)}))
    first = await core.list_pod_for_all_namespaces(limit=10)
    assert len(first.items) == 10 and first.metadata._continue
    assert first.metadata.remaining_item_count == 15
    list_rv = first.metadata.resource_version
    # Changes after the first page must not show up in later pages.
    kube.store.delete("pods", "ns1", "p23")
    kube.store.create(o.pod("p99", "ns1"))
    seen = names(first.items)
    token = first.metadata._continue
    while token:
        page = await core.list_pod_for_all_namespaces(limit=10, _continue=token)
        assert page.metadata.resource_version == list_rv
        seen += names(page.items)
        token = page.metadata._continue
    assert sorted(seen) == sorted(f"p{i:02d}" for i in range(25))
    assert seen[:3] == ["p00", "p02", "p04"]  # key order: ns0/... before ns1/...
    fresh = await core.list_pod_for_all_namespaces()
    assert len(fresh.items) == 25 and "p99" in names(fresh.items)


async def test_pagination_with_selector_fills_pages(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    for i in range(20):
        kube.store.create(o.pod(f"p{i:02d}", "ns", {"even": str(i % 2 == 0).lower()}))
    pages = []
    more: dict[str, Any] = {}
    while True:
        page = await core.list_namespaced_pod("ns", label_selector="even=true", limit=4, **more)
        pages.append(names(page.items))
        meta: Any = page.metadata  # the model types remainingItemCount as always set
        assert meta.remaining_item_count is None  # not reported with selectors
        if not meta._continue:
            break
        more = {"_continue": meta._continue}
    assert pages == [["p00", "p02", "p04", "p06"], ["p08", "p10", "p12", "p14"], ["p16", "p18"]]


async def test_resource_version_zero_ignores_limit(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    for i in range(7):
        kube.store.create(o.pod(f"p{i}", "ns"))
    cached = await core.list_namespaced_pod("ns", limit=2, resource_version="0")
    assert len(cached.items) == 7 and not cached.metadata._continue
    exact = await core.list_namespaced_pod(
        "ns", limit=2, resource_version=cached.metadata.resource_version
    )
    assert len(exact.items) == 2 and exact.metadata._continue


async def test_expired_continue_gives_410_with_inconsistent_token(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    for i in range(6):
        kube.store.create(o.pod(f"p{i}", "ns"))
    first = await core.list_namespaced_pod("ns", limit=2)
    kube.store.create(o.pod("p6", "ns"))
    kube.store.compact()
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_pod("ns", limit=2, _continue=first.metadata._continue)
    assert err.value.status == 410
    status = api_status(err.value)
    assert status["reason"] == "Expired"
    inconsistent = status["metadata"]["continue"]
    start, rv = decode_continue(inconsistent)
    assert (start, rv) == ("p1\x00", -1)
    rest = await core.list_namespaced_pod("ns", _continue=inconsistent)
    assert names(rest.items) == ["p2", "p3", "p4", "p5", "p6"]


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"label_selector": "app in (a"}, 400, "unable to parse requirement"),
        ({"field_selector": "spec.bogus=x"}, 400, "field label not supported: spec.bogus"),
        ({"field_selector": "nodename"}, 400, "invalid selector"),
        ({"limit": 2, "_continue": "garbage!"}, 400, "invalid continue token"),
        (
            {"resource_version_match": "NotOlderThan"},
            422,
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resource_version": "0", "resource_version_match": "Exact"},
            422,
            'resourceVersionMatch "exact" is forbidden',
        ),
        ({"send_initial_events": True}, 422, "sendInitialEvents is forbidden for list"),
    ],
)
async def test_bad_requests(
    kube: FakeKubeServer,
    core: client.CoreV1Api,
    kwargs: dict[str, Any],
    status: int,
    message: str,
) -> None:
    with pytest.raises(ApiException) as err:
        await core.list_pod_for_all_namespaces(**kwargs)
    assert err.value.status == status
    assert message in api_status(err.value)["message"]


async def test_future_resource_version_waits_then_504(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.settings = dataclasses.replace(kube.settings, fresh_wait=0.1)
    ahead = str(kube.store.resource_version + 5)
    with pytest.raises(ApiException) as err:
        await core.list_pod_for_all_namespaces(resource_version=ahead)
    assert err.value.status == 504
    assert api_status(err.value)["message"].startswith("Too large resource version")


async def test_version_endpoint(api: client.ApiClient) -> None:
    info = await client.VersionApi(api).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "32", "v1.32.4")
    groups = await client.ApisApi(api).get_api_versions()
    assert [g.name for g in groups.groups] == ["discovery.k8s.io", "apps", "batch"]
    assert (await client.CoreApi(api).get_api_versions()).versions == ["v1"]
