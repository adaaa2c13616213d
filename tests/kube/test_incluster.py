"""The in-cluster transport on its own: what it reads, what it sends, what it refuses.

Token rotation and the 401 retry are in `test_credentials`, which runs the
same path through `connect`.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import pytest
import trustme
from aiohttp import web

from openagent import __version__
from openagent.kube import KubeConfigError, KubeError
from openagent.kube.client import connect
from openagent.kube.incluster import in_cluster_config, service_host
from tests.kube.support import TOKEN
from tests.kubefake import FakeKubeServer, InClusterFiles
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def kube_tls() -> AsyncIterator[FakeKubeServer]:
    """HTTPS with a trustme CA, bearer token required."""
    async with FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=0.2) as server:
        yield server


async def list_nodes(files: InClusterFiles) -> list[str]:
    """Node names listed through a fresh in-cluster client."""
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )
    try:
        page = await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
    finally:
        await client.close()
    return [n["metadata"]["name"] for n in page["items"]]


def test_the_service_address_as_client_go_joins_it() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert service_host(env) == "https://10.96.0.1:443"
    env = {"KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert service_host(env) == "https://[fd00:10:96::1]:443"
    for missing in ({}, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT": ""}):
        with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_PORT must both be set"):
            service_host(missing)


async def test_requests_carry_the_token_the_agent_name_and_ask_for_json(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    kube_tls.store.create(o.node("node-1"))
    assert await list_nodes(kube_tls.write_incluster_files(tmp_path)) == ["node-1"]
    (req,) = kube_tls.requests
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["User-Agent"] == f"openagent/{__version__}"
    assert req.headers["Accept"] == "application/json"


async def test_a_server_signed_by_another_ca_is_refused(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    files = kube_tls.write_incluster_files(tmp_path)
    assert files.ca_path is not None
    trustme.CA().cert_pem.write_to_path(str(files.ca_path))  # not the server's CA
    with pytest.raises(KubeError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        await list_nodes(files)
    assert caught.value.reason == "ConnectionError"
    assert kube_tls.requests == []  # the token never left


@pytest.fixture
async def misnamed_server(tmp_path: Path) -> AsyncIterator[InClusterFiles]:
    """An HTTPS server whose certificate, from a trusted CA, names another host."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("kubernetes.default.svc").configure_cert(context)
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"kind": "NodeList", "items": [], "metadata": {}})

    app = web.Application()
    app.router.add_get("/api/v1/nodes", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    (tmp_path / "token").write_text(TOKEN)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}
    yield InClusterFiles(tmp_path / "token", tmp_path / "ca.crt", env)
    assert seen == []
    await runner.cleanup()


async def test_a_certificate_for_another_name_is_refused(
    misnamed_server: InClusterFiles,
) -> None:
    with pytest.raises(KubeError, match="CERTIFICATE_VERIFY_FAILED"):
        await list_nodes(misnamed_server)


async def test_a_missing_or_broken_ca_file_is_named(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    files = kube_tls.write_incluster_files(tmp_path)
    with pytest.raises(KubeConfigError, match=r"CA file .*/nope\.crt"):
        in_cluster_config(files.token_path, tmp_path / "nope.crt", files.environ)
    broken = tmp_path / "broken.crt"
    broken.write_text("not a certificate\n")
    with pytest.raises(KubeConfigError, match=r"CA file .*/broken\.crt"):
        in_cluster_config(files.token_path, broken, files.environ)


async def test_a_watch_event_larger_than_aiohttp_default_buffer_arrives(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    # A ConfigMap may hold up to 1 MiB, and a watch event is one line; aiohttp's
    # default buffer refuses lines over 128 KiB.
    files = kube_tls.write_incluster_files(tmp_path)
    client = await connect(
        None, token_path=files.token_path, ca_path=files.ca_path, environ=files.environ
    )
    rv = str(kube_tls.store.resource_version)
    kube_tls.store.create(o.config_map("big", "gpu", {"scrape_config.yaml": "x" * 900_000}))
    try:
        stream = client.open_watch(
            "configmaps",
            namespace="gpu",
            label_selector=None,
            field_selector=None,
            resource_version=rv,
            timeout_seconds=10,
        )
        async with stream:
            event = await anext(stream)
    finally:
        await client.close()
    assert event["type"] == "ADDED"
    assert len(event["object"]["data"]["scrape_config.yaml"]) == 900_000


async def test_listing_in_cluster_does_not_load_kubernetes_asyncio(
    kube_tls: FakeKubeServer, tmp_path: Path
) -> None:
    # Checked in a process of its own: this one has loaded it for other tests.
    kube_tls.store.create(o.node("node-1"))
    files = kube_tls.write_incluster_files(tmp_path)
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from openagent.kube.client import connect\n"
        "async def main():\n"
        f"    c = await connect(None, token_path=Path({str(files.token_path)!r}),\n"
        f"        ca_path=Path({str(files.ca_path)!r}), environ={files.environ!r})\n"
        "    page = await c.list('nodes', namespace=None, label_selector=None,\n"
        "        field_selector=None)\n"
        "    await c.close()\n"
        "    print([n['metadata']['name'] for n in page['items']])\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('kubernetes_asyncio')))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["['node-1']", "[]"]
