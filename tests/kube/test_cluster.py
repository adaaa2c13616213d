"""One connection for every room: made on first need, shared, retried after a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from openagent.kube import Cluster, InformerKey, KubeConfigError, KubeOptions
from openagent.kube.client import KubeClient, connect
from openagent.kube.cluster import cluster_problem
from tests.kube.support import FAST, TIMEOUTS, synced
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(30)


async def test_one_client_serves_every_user_and_is_made_once(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    kube.store.create_many([o.pod("a", "gpu", {"app": "dcgm"}), o.secret("s", "gpu", {"k": "v"})])
    made: list[KubeClient] = []
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def make() -> KubeClient:
        made.append(await connect(kubeconfig, timeouts=TIMEOUTS))
        return made[-1]

    cluster = Cluster(make, FAST)
    assert not cluster.connected and made == []  # nothing happens before a room asks
    pods, secrets = await cluster.pool(), await cluster.pool()
    assert pods is secrets and len(made) == 1 and cluster.connected
    await synced(pods.acquire(InformerKey("pods", "gpu")))
    await synced(pods.acquire(InformerKey("secrets", "gpu", field_selector="metadata.name=s")))
    await cluster.close()
    assert not cluster.connected and len(pods) == 0


async def test_a_failed_connect_is_not_remembered(kube: FakeKubeServer, tmp_path: Path) -> None:
    attempts = 0
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def flaky() -> KubeClient:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise KubeConfigError("no kubeconfig yet")
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    cluster = Cluster(flaky, FAST)
    with pytest.raises(KubeConfigError, match="no kubeconfig yet"):
        await cluster.pool()
    await cluster.pool()
    assert attempts == 2
    await cluster.close()


async def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    cluster = Cluster.of(KubeOptions(kubeconfig=tmp_path / "nope"))
    with pytest.raises(KubeConfigError, match="nope"):
        await cluster.pool()


def test_cluster_problem_names_what_is_missing(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": ""}
    assert cluster_problem(tmp_path / "nope", env) is not None
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\n")
    assert cluster_problem(config, env) is None
