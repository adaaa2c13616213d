"""TLS mode: kubernetes_asyncio's in-cluster loader and kubeconfig loader against the fake."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.kubefake.conftest import TOKEN

pytestmark = pytest.mark.timeout(20)


def cluster_entry(kubeconfig: Path) -> dict[str, str]:
    """The first cluster of a kubeconfig file, checking that its CA file exists."""
    entry: dict[str, str] = json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]
    assert os.path.isfile(entry["certificate-authority"])
    return entry


async def test_incluster_loader_with_service_account_files(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    kube_tls.store.create(o.pod("dcgm-a", "gpu"))
    files = kube_tls.write_incluster_files(tmp_path / "serviceaccount")
    assert files.token_path.read_bytes() == TOKEN.encode()  # no trailing newline
    assert files.ca_path is not None and b"BEGIN CERTIFICATE" in files.ca_path.read_bytes()
    cfg = client.Configuration()
    config.incluster_config.InClusterConfigLoader(
        token_filename=str(files.token_path),
        cert_filename=str(files.ca_path),
        environ=files.environ,
    ).load_and_set(cfg)
    assert cfg.host == kube_tls.url
    async with client.ApiClient(cfg) as api:
        pods = await client.CoreV1Api(api).list_pod_for_all_namespaces()
    assert [p.metadata.name for p in pods.items] == ["dcgm-a"]
    (req,) = kube_tls.requests_for("pods", "list")
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_token_file_with_trailing_newline_breaks_the_client(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    # A token written with `echo` (not `printf`) keeps its newline: kubernetes_asyncio
    # puts it in the header as is and aiohttp refuses to send it.
    files = kube_tls.write_incluster_files(tmp_path, trailing_newline=True)
    assert files.token_path.read_text().endswith("\n")
    assert files.ca_path is not None
    cfg = client.Configuration()
    config.incluster_config.InClusterConfigLoader(
        token_filename=str(files.token_path),
        cert_filename=str(files.ca_path),
        environ=files.environ,
    ).load_and_set(cfg)
    async with client.ApiClient(cfg) as api:
        with pytest.raises(ValueError, match="control character"):
            await client.CoreV1Api(api).list_namespace()
    assert kube_tls.requests == []


async def test_kubeconfig_with_ca_and_token(kube_tls: FakeKubeServer, tmp_path: Path) -> None:
    kube_tls.store.create(o.node("node-1"))
    path = kube_tls.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = cluster_entry(path)
    assert cluster["server"] == kube_tls.url
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=cfg)
    async with client.ApiClient(cfg) as api:
        nodes = await client.CoreV1Api(api).list_node()
    assert [n.metadata.name for n in nodes.items] == ["node-1"]


async def test_untrusted_ca_is_rejected(kube_tls: FakeKubeServer, api_for: object) -> None:
    cfg = client.Configuration(host=kube_tls.url)  # system roots only
    async with client.ApiClient(cfg) as api:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await client.CoreV1Api(api).list_namespace()
