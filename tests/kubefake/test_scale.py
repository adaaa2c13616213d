"""Thousands of objects: bulk creation and exact list counts, plain and paginated.

Lists are read raw (``_preload_content=False``): kubernetes_asyncio needs
seconds to turn 5,000 pods into models, which says nothing about the server.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(60)

PODS, NAMESPACES, NODES = 5000, 50, 100


@functools.cache
def fleet() -> list[dict[str, Any]]:
    """Every fifth pod is a dcgm-exporter; pods spread round-robin over namespaces and nodes.

    Built once; the store copies what it is given.
    """
    return [
        o.pod(
            f"pod-{i:04d}",
            f"ns-{i % NAMESPACES:02d}",
            {"app": "nvidia-dcgm-exporter" if i % 5 == 0 else "worker", "idx": str(i)},
            f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            f"node-{i % NODES:03d}",
        )
        for i in range(PODS)
    ]


async def raw_list(
    core: client.CoreV1Api, method: str, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    resp = await getattr(core, method)(*args, _preload_content=False, **kwargs)
    assert resp.status == 200
    body: dict[str, Any] = json.loads(await resp.read())
    return body


async def paginate(core: client.CoreV1Api, limit: int, **kwargs: Any) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = await raw_list(
            core, "list_pod_for_all_namespaces", limit=limit, _continue=token, **kwargs
        )
        pages.append([i["metadata"]["name"] for i in page["items"]])
        token = page["metadata"].get("continue")
        if not token:
            return pages


@pytest.fixture
async def big(kube: FakeKubeServer) -> FakeKubeServer:
    assert kube.store.create_many(fleet()) == PODS
    return kube


async def test_list_everything(big: FakeKubeServer, core: client.CoreV1Api) -> None:
    everything = await raw_list(core, "list_pod_for_all_namespaces")
    names = [i["metadata"]["name"] for i in everything["items"]]
    assert len(names) == len(set(names)) == PODS
    assert everything["metadata"] == {"resourceVersion": str(big.store.resource_version)}
    assert all("kind" not in i and "apiVersion" not in i for i in everything["items"])


async def test_list_with_selectors(big: FakeKubeServer, core: client.CoreV1Api) -> None:
    dcgm = await raw_list(
        core, "list_pod_for_all_namespaces", label_selector="app=nvidia-dcgm-exporter"
    )
    assert len(dcgm["items"]) == PODS // 5
    one_ns = await raw_list(core, "list_namespaced_pod", "ns-07")
    assert len(one_ns["items"]) == PODS // NAMESPACES
    on_node = await raw_list(
        core, "list_pod_for_all_namespaces", field_selector="spec.nodeName=node-003"
    )
    assert sorted(int(i["metadata"]["labels"]["idx"]) for i in on_node["items"]) == list(
        range(3, PODS, NODES)
    )
    both = await core.list_namespaced_pod(
        "ns-00", label_selector="app=nvidia-dcgm-exporter", field_selector="spec.nodeName=node-000"
    )
    assert [p.metadata.name for p in both.items] == [f"pod-{i:04d}" for i in range(0, PODS, 100)]


async def test_paginated_lists(big: FakeKubeServer, core: client.CoreV1Api) -> None:
    pages = await paginate(core, 500)
    assert [len(p) for p in pages] == [500] * 10
    assert len({n for p in pages for n in p}) == PODS
    selected = await paginate(core, 300, label_selector="app=nvidia-dcgm-exporter")
    assert [len(p) for p in selected] == [300, 300, 300, 100]
    assert all(int(n[4:]) % 5 == 0 for p in selected for n in p)
