"""KubeClient against the fake API server: raw lists, watch streams and errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from openagent.kube import KubeError, Timeouts
from openagent.kube.client import KubeClient, connect
from tests.kube.support import TIMEOUTS, TOKEN
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(30)

SA_USER = "system:serviceaccount:whatap-monitoring:whatap-open-agent"


async def first_events(client: KubeClient, count: int, **kw: Any) -> list[dict[str, Any]]:
    """The first ``count`` raw events of a pods watch."""
    events: list[dict[str, Any]] = []
    args: dict[str, Any] = {
        "namespace": None,
        "label_selector": None,
        "field_selector": None,
        "timeout_seconds": 10,
    }
    args.update(kw)
    async with aclosing(client.watch("pods", **args)) as stream:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    return events


# -- lists ------------------------------------------------------------------


async def test_list_is_raw_json_paged_and_filtered(
    kube: FakeKubeServer, client: KubeClient
) -> None:
    for i in range(5):
        kube.store.create(o.pod(f"dcgm-{i}", "gpu", {"app": "dcgm"}))
    kube.store.create(o.pod("other", "gpu", {"app": "other"}))
    first = await client.list(
        "pods", namespace="gpu", label_selector="app=dcgm", field_selector=None, limit=3
    )
    assert [i["metadata"]["name"] for i in first["items"]] == ["dcgm-0", "dcgm-1", "dcgm-2"]
    token = first["metadata"]["continue"]
    rest = await client.list(
        "pods", namespace="gpu", label_selector="app=dcgm", field_selector=None, continue_=token
    )
    assert [i["metadata"]["name"] for i in rest["items"]] == ["dcgm-3", "dcgm-4"]
    assert "continue" not in rest["metadata"]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    one, two = kube.requests_for("pods", "list")
    assert one.path == "/api/v1/namespaces/gpu/pods"
    assert one.query == {"labelSelector": "app=dcgm", "limit": "3"}
    assert two.query == {"labelSelector": "app=dcgm", "limit": "500", "continue": token}
    assert one.headers["Authorization"] == f"Bearer {TOKEN}"
    assert one.headers["Accept"] == "application/json"


async def test_paths_of_every_resource(kube: FakeKubeServer, client: KubeClient) -> None:
    kube.store.create(o.endpoint_slice("dcgm", "gpu", [("10.0.0.1", True, False, None)]))
    kube.store.create(o.node("node-1"))
    kube.store.create(o.namespace("gpu"))
    kube.store.create(o.service("dcgm", "gpu"))
    for resource, namespace in [
        ("endpointslices", "gpu"),
        ("endpointslices", None),
        ("services", "gpu"),
        ("nodes", None),
        ("namespaces", None),
    ]:
        page = await client.list(
            resource, namespace=namespace, label_selector=None, field_selector=None
        )
        assert len(page["items"]) == 1, resource
    paths = [r.path for r in kube.requests]
    assert paths == [
        "/apis/discovery.k8s.io/v1/namespaces/gpu/endpointslices",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/namespaces/gpu/services",
        "/api/v1/nodes",
        "/api/v1/namespaces",
    ]
    with pytest.raises(ValueError, match="nodes are cluster-scoped"):
        await client.list("nodes", namespace="gpu", label_selector=None, field_selector=None)


async def test_forbidden_names_the_missing_permission(
    kube: FakeKubeServer, client: KubeClient
) -> None:
    kube.faults.forbid("pods")
    kube.faults.forbid("endpointslices")
    with pytest.raises(KubeError) as caught:
        await client.list(
            "pods", namespace="gpu-monitoring", label_selector=None, field_selector=None
        )
    err = caught.value
    assert (err.status, err.reason, err.resource) == (403, "Forbidden", "pods")
    assert str(err) == (
        "cannot list pods in namespace gpu-monitoring: grant list/watch on pods (RBAC) "
        f"to {SA_USER}"
    )
    with pytest.raises(
        KubeError,
        match=r"^cannot list endpointslices at the cluster scope: "
        r"grant list/watch on endpointslices\.discovery\.k8s\.io \(RBAC\)",
    ):
        await client.list(
            "endpointslices", namespace=None, label_selector=None, field_selector=None
        )


async def test_http_errors_and_unreachable_server(kube: FakeKubeServer, client: KubeClient) -> None:
    kube.faults.fail("pods", 500, "etcd is sulking", times=1)
    with pytest.raises(KubeError) as caught:
        await client.list("pods", namespace=None, label_selector=None, field_selector=None)
    assert caught.value.status == 500
    assert "list pods at the cluster scope failed: HTTP 500" in str(caught.value)
    assert "etcd is sulking" in str(caught.value)
    with pytest.raises(KubeError, match="HTTP 400 BadRequest") as bad:
        await client.list("pods", namespace=None, label_selector="app in (", field_selector=None)
    assert bad.value.status == 400
    await kube.stop()
    with pytest.raises(KubeError) as down:
        await client.list("nodes", namespace=None, label_selector=None, field_selector=None)
    assert (down.value.status, down.value.reason) == (None, "ConnectionError")
    assert f"127.0.0.1:{kube.port}" in str(down.value)


# -- watches ----------------------------------------------------------------


async def test_watch_yields_raw_events_and_bookmarks(
    kube: FakeKubeServer, client: KubeClient
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    rv = str(kube.store.resource_version)

    async def later() -> None:
        await kube.wait_for_watches(1)
        kube.store.create(o.pod("b", "gpu"))
        kube.store.delete("pods", "gpu", "a")

    task = asyncio.create_task(later())
    events = await first_events(client, 3, resource_version=rv)
    await task
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [
        ("ADDED", str(int(rv) + 1)),
        ("DELETED", str(int(rv) + 2)),
        ("BOOKMARK", str(int(rv) + 2)),
    ]
    assert isinstance(events[0]["object"], dict)
    (req,) = kube.requests_for("pods", "watch")
    assert req.query == {
        "watch": "true",
        "timeoutSeconds": "10",
        "resourceVersion": rv,
        "allowWatchBookmarks": "true",
    }


async def test_watch_too_old_resource_version_is_410(
    kube: FakeKubeServer, client: KubeClient
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    kube.store.create(o.pod("b", "gpu"))
    kube.store.compact()
    with pytest.raises(KubeError) as caught:
        await first_events(client, 1, resource_version="2")
    assert caught.value.expired and caught.value.reason == "Expired"
    assert "too old resource version" in str(caught.value)
    kube.faults.fail("pods", 410, "gone", verbs="watch", times=1)
    with pytest.raises(KubeError) as http:
        await first_events(client, 1, resource_version=str(kube.store.resource_version))
    assert http.value.expired


async def test_stalled_watch_times_out(kube: FakeKubeServer, tmp_path: Path) -> None:
    quick = Timeouts(connect=1.0, read=1.0, watch_read=0.3)
    client = await connect(kube.write_kubeconfig(tmp_path / "kc"), timeouts=quick)
    try:
        kube.store.create(o.pod("a", "gpu"))
        rv = str(kube.store.resource_version)

        async def stall_after_first() -> None:
            await kube.wait_for_watches(1)
            kube.store.create(o.pod("b", "gpu"))
            await asyncio.sleep(0.1)
            kube.faults.stall_watches = True

        task = asyncio.create_task(stall_after_first())
        with pytest.raises(KubeError) as mid:
            await first_events(client, 99, resource_version=rv)
        await task
        assert (mid.value.reason, mid.value.status) == ("Stalled", None)
        assert "nothing received for 0.3 s" in str(mid.value)
        # Still stalled: a new watch gets no response headers at all.
        with pytest.raises(KubeError) as head:
            await first_events(client, 1, resource_version=rv)
        assert head.value.reason == "Timeout"
    finally:
        kube.faults.stall_watches = False
        await client.close()


@pytest.fixture
async def odd_server(tmp_path: Path) -> AsyncIterator[tuple[Path, list[bytes]]]:
    """A loopback HTTP server whose watch response body is scripted by the test."""
    script: list[bytes] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for chunk in script:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/pods", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "odd-kubeconfig"
    path.write_text(json.dumps(config))
    yield path, script
    await runner.cleanup()


async def test_watch_skips_blank_lines_and_rejects_garbage(
    odd_server: tuple[Path, list[bytes]],
) -> None:
    path, script = odd_server
    client = await connect(path, timeouts=TIMEOUTS)
    try:
        pod = json.dumps({"metadata": {"name": "a", "resourceVersion": "5"}}).encode()
        script[:] = [b"\n", b'{"type":"ADDED","object":' + pod + b"}\n", b"\n"]
        events = await first_events(client, 9, resource_version="1")
        assert [e["type"] for e in events] == ["ADDED"]  # the blank lines were keep-alives
        script[:] = [b"<html>proxy error</html>\n"]
        with pytest.raises(KubeError, match="not JSON") as garbage:
            await first_events(client, 1, resource_version="1")
        assert garbage.value.reason == "BadResponse"
        script[:] = [b'{"type":"SURPRISE","object":{}}\n']
        with pytest.raises(KubeError, match="unknown watch event type 'SURPRISE'"):
            await first_events(client, 1, resource_version="1")
        script[:] = [b'{"type":"ERROR","object":{"kind":"Status","code":500,"message":"boom"}}\n']
        with pytest.raises(KubeError, match="HTTP 500: boom"):
            await first_events(client, 1, resource_version="1")
    finally:
        await client.close()
