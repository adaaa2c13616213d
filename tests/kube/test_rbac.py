"""The Role that lets the agent read exactly the Secrets it references, checked against kubectl."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from openagent.kube.rbac import ROLE_NAME, secret_reader_rbac
from tests.kubefake import FakeKubeServer

KUBECTL = shutil.which("kubectl")


def test_one_role_per_namespace_with_only_the_named_secrets() -> None:
    manifests = secret_reader_rbac(
        [("gpu", "b"), ("whatap-monitoring", "t"), ("gpu", "a"), ("gpu", "a")],
        "whatap-open-agent",
        "whatap-monitoring",
    )
    assert [(m["kind"], m["metadata"]["namespace"]) for m in manifests] == [
        ("Role", "gpu"),
        ("RoleBinding", "gpu"),
        ("Role", "whatap-monitoring"),
        ("RoleBinding", "whatap-monitoring"),
    ]
    assert manifests[0]["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["a", "b"],
            "verbs": ["list", "watch"],
        }
    ]
    assert manifests[1]["subjects"] == [
        {"kind": "ServiceAccount", "name": "whatap-open-agent", "namespace": "whatap-monitoring"}
    ]


def test_no_references_grant_nothing() -> None:
    assert secret_reader_rbac([], "sa", "ns") == []


@pytest.fixture
async def kube_tls() -> AsyncIterator[FakeKubeServer]:
    """kubectl sends its token only over TLS; it reads discovery from this server."""
    async with FakeKubeServer(token="rbac-test-token", tls=True) as server:
        yield server


async def kubectl(server: FakeKubeServer, workdir: Path, *args: str) -> dict[str, Any]:
    assert KUBECTL is not None
    env = {
        "KUBECONFIG": str(server.write_kubeconfig(workdir / "kubeconfig")),
        "HOME": str(workdir),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        *args,
        "--dry-run=client",
        "-o",
        "json",
        f"--cache-dir={workdir / 'cache'}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    manifest: dict[str, Any] = json.loads(out)
    return manifest


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.timeout(60)
async def test_the_role_and_binding_are_what_kubectl_creates(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    role, binding = secret_reader_rbac(
        [("gpu", "dcgm-creds"), ("gpu", "ca")], "whatap-open-agent", "whatap-monitoring"
    )
    made_role = await kubectl(
        kube_tls, tmp_path, "create", "role", ROLE_NAME, "-n", "gpu",
        "--verb=list,watch", "--resource=secrets",
        "--resource-name=ca", "--resource-name=dcgm-creds",
    )  # fmt: skip
    made_binding = await kubectl(
        kube_tls, tmp_path, "create", "rolebinding", ROLE_NAME, "-n", "gpu",
        f"--role={ROLE_NAME}", "--serviceaccount=whatap-monitoring:whatap-open-agent",
    )  # fmt: skip
    for ours, theirs in ((role, made_role), (binding, made_binding)):
        assert (ours["apiVersion"], ours["kind"]) == (theirs["apiVersion"], theirs["kind"])
        assert ours["metadata"]["name"] == theirs["metadata"]["name"]
        assert ours["metadata"]["namespace"] == theirs["metadata"]["namespace"]
    assert role["rules"] == made_role["rules"]
    assert binding["roleRef"] == made_binding["roleRef"]
    assert binding["subjects"] == made_binding["subjects"]
