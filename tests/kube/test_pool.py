"""InformerPool: one list+watch per distinct key, reference counted, with status and gauges."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openagent.kube import InformerKey, InformerPool
from openagent.kube.client import KubeClient
from openagent.telemetry import REGISTRY
from tests.kube.support import FAST, synced
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.support import eventually

pytestmark = pytest.mark.timeout(30)

DCGM_PODS = InformerKey("pods", "gpu", "app=dcgm")


@pytest.fixture
async def pool(client: KubeClient) -> AsyncIterator[InformerPool]:
    p = InformerPool(client, FAST)
    yield p
    await p.close()


def gauge(name: str, resource: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"resource": resource})


async def test_same_key_shares_one_informer_and_one_watch(
    kube: FakeKubeServer, pool: InformerPool
) -> None:
    kube.store.create(o.pod("a", "gpu", {"app": "dcgm"}))
    first = pool.acquire(DCGM_PODS)
    second = pool.acquire(InformerKey("pods", "gpu", "app=dcgm"))  # equal, not identical
    assert first is second and len(pool) == 1
    await synced(first)
    await kube.wait_for_watches(1, "pods")
    other = pool.acquire(InformerKey("pods", "gpu", "app=other"))
    await synced(other)
    await kube.wait_for_watches(2, "pods")
    assert len(kube.requests_for("pods", "list")) == 2
    assert {r.query.get("labelSelector") for r in kube.requests_for("pods", "watch")} == {
        "app=dcgm",
        "app=other",
    }
    assert gauge("openagent_discovery_informers", "pods") == 2
    assert gauge("openagent_discovery_informer_objects", "pods") == 1
    assert gauge("openagent_discovery_informer_up", "pods") == 1

    pool.release(DCGM_PODS)
    assert pool.get(DCGM_PODS) is first  # one user left
    await kube.wait_for_watches(2, "pods")
    pool.release(DCGM_PODS)
    assert pool.get(DCGM_PODS) is None
    await kube.wait_for_watches(1, "pods")  # the last release closed its watch
    await eventually(lambda: gauge("openagent_discovery_informers", "pods") == 1)
    with pytest.raises(KeyError, match="release without acquire"):
        pool.release(DCGM_PODS)
    again = pool.acquire(DCGM_PODS)  # a fresh informer after a full release
    assert again is not first
    await synced(again)
    assert again.objects.keys() == {("gpu", "a")}


async def test_status_reports_every_informer(kube: FakeKubeServer, pool: InformerPool) -> None:
    kube.store.create(o.node("node-1"))
    kube.faults.forbid("namespaces")
    nodes = pool.acquire(InformerKey("nodes"))
    pool.acquire(InformerKey("namespaces", field_selector="metadata.name=gpu"))
    pool.acquire(InformerKey("nodes"))
    await synced(nodes)
    await eventually(lambda: pool.status()[1]["error"])
    by_resource = {row["resource"]: row for row in pool.status()}
    assert by_resource["nodes"] == {
        "key": "nodes",
        "resource": "nodes",
        "namespace": None,
        "label_selector": None,
        "field_selector": None,
        "users": 2,
        "synced": True,
        "objects": 1,
        "error": None,
        "last_event": by_resource["nodes"]["last_event"],
        "resource_version": nodes.resource_version,
    }
    assert isinstance(by_resource["nodes"]["last_event"], float)
    ns = by_resource["namespaces"]
    assert ns["synced"] is False and ns["objects"] == 0
    assert ns["field_selector"] == "metadata.name=gpu"
    assert ns["key"] == "namespaces (fields metadata.name=gpu)"
    assert ns["error"].startswith("cannot list namespaces: grant list/watch on namespaces (RBAC)")
    assert gauge("openagent_discovery_informer_up", "namespaces") == 0


async def test_close_stops_everything(kube: FakeKubeServer, client: KubeClient) -> None:
    pool = InformerPool(client, FAST)
    for key in (InformerKey("pods"), InformerKey("services"), InformerKey("endpointslices")):
        await synced(pool.acquire(key))
    await kube.wait_for_watches(3)
    pool.release(InformerKey("services"))
    await pool.close()
    await kube.wait_for_watches(0)
    assert pool.status() == [] and len(pool) == 0
    assert gauge("openagent_discovery_informers", "pods") is None
