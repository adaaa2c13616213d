"""kubectl (client-go) against the fake: lists, JSON output, and a live watch.

kubectl does not send a bearer token over plain HTTP, so these tests use the
TLS server with its CA in the kubeconfig, as a real cluster would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]
DCGM = {"app": "nvidia-dcgm-exporter"}


class Kubectl:
    """Runs kubectl with an isolated kubeconfig, home and discovery cache."""

    def __init__(self, server: FakeKubeServer, workdir: Path) -> None:
        self.env = {
            "KUBECONFIG": str(server.write_kubeconfig(workdir / "kubeconfig")),
            "HOME": str(workdir),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        self.common = ["--request-timeout=10s", f"--cache-dir={workdir / 'cache'}"]

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        assert KUBECTL is not None
        return await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            *self.common,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def run(self, *args: str) -> str:
        proc = await self.start(*args)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
        return out.decode()


@pytest.fixture
async def kubectl(kube_tls: FakeKubeServer, tmp_path: Path) -> Kubectl:
    store = kube_tls.store
    store.create(o.namespace("gpu-operator"))
    store.create(o.namespace("ml"))
    store.create(o.pod("dcgm-a", "gpu-operator", DCGM, "10.244.1.5", "node-1"))
    store.create(o.pod("dcgm-b", "ml", DCGM, "10.244.2.5", "node-2"))
    store.create(o.pod("trainer", "ml", {"app": "trainer"}))
    store.create(o.endpoint_slice("dcgm", "gpu-operator", [("10.244.1.5", True, False, "dcgm-a")]))
    return Kubectl(kube_tls, tmp_path)


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


async def test_get_pods_all_namespaces_with_selector(
    kube_tls: FakeKubeServer, kubectl: Kubectl
) -> None:
    out = await kubectl.run("get", "pods", "-A", "-l", "app=nvidia-dcgm-exporter")
    table = rows(out)
    assert table[0][:2] == ["NAMESPACE", "NAME"]
    assert [r[:2] for r in table[1:]] == [["gpu-operator", "dcgm-a"], ["ml", "dcgm-b"]]
    (req,) = kube_tls.requests_for("pods", "list")
    assert req.path == "/api/v1/pods"
    assert req.query["labelSelector"] == "app=nvidia-dcgm-exporter"
    assert req.query["limit"] == "500"


async def test_get_pods_json(kubectl: Kubectl) -> None:
    doc = json.loads(await kubectl.run("get", "pods", "-n", "ml", "-o", "json"))
    assert doc["kind"] == "List"
    assert [i["metadata"]["name"] for i in doc["items"]] == ["dcgm-b", "trainer"]
    assert doc["items"][0]["status"]["podIP"] == "10.244.2.5"


async def test_get_namespaces_and_endpointslices(kubectl: Kubectl) -> None:
    assert [r[0] for r in rows(await kubectl.run("get", "ns"))] == ["NAME", "gpu-operator", "ml"]
    slices = rows(await kubectl.run("get", "endpointslices", "-A"))
    assert slices[0][:2] == ["NAMESPACE", "NAME"]
    assert [r[0] for r in slices[1:]] == ["gpu-operator"]
    assert slices[1][1].startswith("dcgm-")


async def test_field_selector_error_surfaces(kubectl: Kubectl) -> None:
    proc = await kubectl.start("get", "pods", "-A", "--field-selector", "spec.bogus=x")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert "field label not supported: spec.bogus" in err.decode()


async def test_watch_prints_pods_created_later(kube_tls: FakeKubeServer, kubectl: Kubectl) -> None:
    proc = await kubectl.start("get", "pods", "-n", "ml", "-w", "-o", "name")
    assert proc.stdout is not None
    try:
        first = [await asyncio.wait_for(proc.stdout.readline(), 15) for _ in range(2)]
        assert first == [b"pod/dcgm-b\n", b"pod/trainer\n"]
        await kube_tls.wait_for_watches(1, "pods", within=15)
        listed_at = kube_tls.store.resource_version  # nothing changed since the list
        kube_tls.store.create(o.pod("late", "ml", DCGM))
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert line == b"pod/late\n"
    finally:
        proc.kill()
        await proc.wait()
    # kubectl lists, then watches from the list's resourceVersion (a reflector's pattern).
    (list_req,) = kube_tls.requests_for("pods", "list")
    (watch_req,) = kube_tls.requests_for("pods", "watch")
    assert list_req.status == 200
    assert watch_req.path == "/api/v1/namespaces/ml/pods"
    assert watch_req.query["resourceVersion"] == str(listed_at)
    await kube_tls.wait_for_watches(0, within=5)
