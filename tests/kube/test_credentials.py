"""Cluster credentials: in-cluster TLS and token (rotation, 401), kubeconfig sources, errors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openagent.kube import KubeConfigError, KubeError
from openagent.kube.client import connect
from openagent.kube.incluster import InClusterTransport
from tests.kube.support import TOKEN
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(30)

SA_USER = "system:serviceaccount:whatap-monitoring:whatap-open-agent"


@pytest.fixture
async def kube_tls() -> AsyncIterator[FakeKubeServer]:
    """HTTPS with a trustme CA, bearer token required."""
    async with FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=0.2) as server:
        yield server


@pytest.mark.parametrize("newline", [False, True], ids=["plain-token", "token-with-newline"])
async def test_in_cluster_tls_and_token(
    kube_tls: FakeKubeServer, tmp_path: Path, newline: bool
) -> None:
    kube_tls.store.create(o.node("node-1"))
    files = kube_tls.write_incluster_files(tmp_path, trailing_newline=newline)
    assert files.token_path.read_text().endswith("\n") == newline
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )
    try:
        assert client.host == kube_tls.url
        assert client.transport.source.startswith("in-cluster service account")
        page = await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
        assert [n["metadata"]["name"] for n in page["items"]] == ["node-1"]
        (req,) = kube_tls.requests_for("nodes", "list")
        assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    finally:
        await client.close()


async def test_token_rotation(kube_tls: FakeKubeServer, tmp_path: Path) -> None:
    files = kube_tls.write_incluster_files(tmp_path)
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )

    async def list_nodes() -> None:
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)

    try:
        await list_nodes()
        # The server now knows only the new token; the file still holds the old one.
        kube_tls.tokens = {"rotated-token": SA_USER}
        with pytest.raises(KubeError) as caught:
            await list_nodes()
        assert caught.value.status == 401 and "rejected the credentials" in str(caught.value)
        # kubelet swaps the file (new inode); the next request reads it, newline and all.
        fresh = tmp_path / "token.new"
        fresh.write_text("rotated-token\n")
        os.replace(fresh, files.token_path)
        await list_nodes()
        auth = [r.headers.get("Authorization") for r in kube_tls.requests_for("nodes", "list")]
        assert auth[0] == f"Bearer {TOKEN}"
        assert auth[-1] == "Bearer rotated-token"
        assert [r.status for r in kube_tls.requests_for("nodes", "list")][-1] == 200
    finally:
        await client.close()


async def test_a_token_rewritten_in_place_is_seen_before_any_401(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    files = kube_tls.write_incluster_files(tmp_path)
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )
    try:
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
        # Rewritten in place with the same size and mtime: the inode's ctime still moves,
        # and the file's stamp holds it, so the next request already carries the new token.
        second = "second-token-xxxxxx"
        assert len(second) == len(TOKEN)
        before = files.token_path.stat()
        kube_tls.tokens = {second: SA_USER}
        with files.token_path.open("r+") as f:
            f.write(second)
        os.utime(files.token_path, ns=(before.st_atime_ns, before.st_mtime_ns))
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
        requests = kube_tls.requests
        assert [r.status for r in requests] == [200, 200]
        assert requests[-1].headers["Authorization"] == f"Bearer {second}"
    finally:
        await client.close()


async def test_401_rereads_the_token_and_retries(
    kube_tls: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = kube_tls.write_incluster_files(tmp_path)
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )
    try:
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
        # Without the per-request check, only the 401 makes the client read the file
        # again (and retry once).
        assert isinstance(client.transport, InClusterTransport)
        token = client.transport.token
        forced_only = token.refresh
        monkeypatch.setattr(token, "refresh", lambda force=False: force and forced_only(True))
        second = "second-token-xxxxxx"
        kube_tls.tokens = {second: SA_USER}
        files.token_path.write_text(second)
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
        requests = kube_tls.requests  # a 401 is logged before the resource is resolved
        assert [r.status for r in requests] == [200, 401, 200]
        assert {r.path for r in requests} == {"/api/v1/nodes"}
        assert requests[-1].headers["Authorization"] == f"Bearer {second}"
    finally:
        await client.close()


async def test_kubeconfig_sources(
    kube_tls: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_tls.store.create(o.namespace("gpu"))
    explicit = kube_tls.write_kubeconfig(tmp_path / "explicit.yaml")
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    kube_tls.write_kubeconfig(home / ".kube" / "config")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    sources = []
    for how in ("explicit", "env", "home"):
        if how == "env":
            monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{explicit}")
        if how == "home":
            monkeypatch.delenv("KUBECONFIG")
        client = await connect(explicit if how == "explicit" else None)
        try:
            page = await client.list(
                "namespaces", namespace=None, label_selector=None, field_selector=None
            )
            assert [n["metadata"]["name"] for n in page["items"]] == ["gpu"]
            sources.append(client.transport.source)
        finally:
            await client.close()
    assert str(explicit) in sources[0]
    assert str(explicit) in sources[1]
    assert str(home / ".kube" / "config") in sources[2]


async def test_configuration_errors_are_clear(
    kube_tls: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(KubeConfigError, match=r"\.kube/config \(from the default kubeconfig\)"):
        await connect(None, environ={})
    with pytest.raises(KubeConfigError, match=r"nope\.yaml \(from --kubeconfig\) does not exist"):
        await connect(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [")
    with pytest.raises(KubeConfigError, match=r"broken\.yaml"):
        await connect(broken)
    with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        await connect(None, in_cluster=True, environ={}, token_path=tmp_path / "t")
    files = kube_tls.write_incluster_files(tmp_path / "sa", token="")
    with pytest.raises(KubeConfigError, match="empty"):
        await connect(
            None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
        )


async def test_explicit_kubeconfig_wins_over_the_pod_environment(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    files = kube_tls.write_incluster_files(tmp_path / "sa")
    path = kube_tls.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**files.environ}
    picked = await connect(path, token_path=files.token_path, environ=env)
    auto = await connect(None, token_path=files.token_path, ca_path=files.ca_path, environ=env)
    try:
        assert picked.transport.source.startswith("kubeconfig")
        assert auto.transport.source.startswith("in-cluster")
    finally:
        await picked.close()
        await auto.close()
