"""Fault switches as kubernetes_asyncio sees them: errors, RBAC, stalls, drops, outages."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.kubefake.conftest import api_status
from tests.kubefake.server import DEFAULT_USER

pytestmark = pytest.mark.timeout(20)


async def test_forbidden_has_the_authorizer_message(
    kube: FakeKubeServer, api: client.ApiClient
) -> None:
    core, disc = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    kube.store.create(o.secret("auth", "gpu"))
    kube.faults.forbid("pods")
    kube.faults.forbid("secrets", verbs="get", namespace="gpu")
    kube.faults.forbid("endpointslices")
    with pytest.raises(ApiException) as err:
        await core.list_pod_for_all_namespaces()
    assert err.value.status == 403
    assert api_status(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "{DEFAULT_USER}" cannot list resource "pods" '
        'in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_pod("gpu")
    assert api_status(err.value)["message"].endswith('in API group "" in the namespace "gpu"')
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_secret("auth", "gpu")
    assert api_status(err.value)["message"] == (
        f'secrets "auth" is forbidden: User "{DEFAULT_USER}" cannot get resource "secrets" '
        'in API group "" in the namespace "gpu"'
    )
    assert (await core.list_namespaced_secret("gpu")).items  # only "get" was denied
    with pytest.raises(ApiException) as err:
        await disc.list_endpoint_slice_for_all_namespaces()
    assert api_status(err.value)["message"].startswith(
        f'endpointslices.discovery.k8s.io is forbidden: User "{DEFAULT_USER}" cannot list '
        'resource "endpointslices" in API group "discovery.k8s.io"'
    )
    kube.faults.clear()
    assert (await core.list_pod_for_all_namespaces()).items == []


async def test_forbidden_watch_raises_from_the_stream(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.faults.forbid("pods", verbs="watch")
    listed = await core.list_pod_for_all_namespaces()
    with pytest.raises(ApiException) as err:
        async for _ in watch.Watch().stream(
            core.list_pod_for_all_namespaces,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=2,
        ):
            pass
    assert err.value.status == 403
    assert "cannot watch resource" in str(err.value.reason)


async def test_injected_500_and_recovery(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.faults.fail("pods", 500, "etcdserver: request timed out", times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            await core.list_pod_for_all_namespaces()
        assert err.value.status == 500
        assert (
            api_status(err.value)["message"]
            == "Internal error occurred: etcdserver: request timed out"
        )
    assert (await core.list_pod_for_all_namespaces()).items == []
    kube.faults.fail("nodes", 503, "unavailable", verbs="watch")
    assert (await core.list_node()).items == []
    with pytest.raises(ApiException) as err:
        async for _ in watch.Watch().stream(core.list_node, timeout_seconds=2):
            pass
    assert err.value.status == 503


async def test_429_carries_retry_after(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.faults.fail("pods", 429, times=1)
    with pytest.raises(ApiException) as err:
        await core.list_pod_for_all_namespaces()
    assert err.value.status == 429
    assert err.value.headers is not None and err.value.headers["Retry-After"] == "1"
    assert api_status(err.value)["details"] == {"retryAfterSeconds": 1}


async def test_authentication(kube: FakeKubeServer, api_for: Any) -> None:
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(api_for(kube, token="wrong")).list_namespace()
    assert err.value.status == 401
    assert api_status(err.value)["reason"] == "Unauthorized"
    anonymous = api_for(kube, token=None)
    assert (await client.VersionApi(anonymous).get_code()).git_version == "v1.32.4"
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(anonymous).list_namespace()
    assert err.value.status == 403
    assert (
        'User "system:anonymous" cannot list resource "namespaces"'
        in api_status(err.value)["message"]
    )
    with pytest.raises(ApiException) as err:
        await client.CoreApi(anonymous).get_api_versions()
    assert (
        api_status(err.value)["message"]
        == 'forbidden: User "system:anonymous" cannot get path "/api/"'
    )


async def test_stalled_watch_and_read_timeout(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    kube.store.create(o.pod("a", "gpu"))
    seen: list[str] = []
    w = watch.Watch()
    with pytest.raises(asyncio.TimeoutError):
        async for event in w.stream(
            core.list_namespaced_pod, "gpu", timeout_seconds=30, _request_timeout=(2, 0.3)
        ):
            seen.append(event["type"])
            kube.faults.stall_watches = True
    assert seen == ["ADDED"]
    # Without timeout_seconds the client reconnects from the last resourceVersion,
    # and the stalled server does not even answer that request.
    kube.faults.stall_watches = False
    w = watch.Watch()
    with pytest.raises(asyncio.TimeoutError):
        async for _ in w.stream(
            core.list_namespaced_pod, "gpu", resource_version="1", _request_timeout=(2, 0.3)
        ):
            kube.faults.stall_watches = True
    rvs = [r.query.get("resourceVersion") for r in kube.requests_for("pods", "watch")]
    assert rvs == [None, "1", "2"]
    kube.faults.stall_watches = False
    await kube.wait_for_watches(0)


async def test_stall_releases_buffered_events(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    rv = kube.store.resource_version
    kube.faults.stall_watches = True

    async def act() -> None:
        await kube.wait_for_watches(1)
        kube.store.create(o.pod("a", "gpu"))
        await asyncio.sleep(0.3)
        assert kube.open_watches == 1 and events == []
        kube.faults.stall_watches = False

    task = asyncio.create_task(act())
    events: list[str] = []
    async with watch.Watch() as w:
        async for event in w.stream(
            core.list_namespaced_pod, "gpu", resource_version=str(rv), timeout_seconds=5
        ):
            events.append(event["object"].metadata.name)
            break
    await task
    assert events == ["a"]


async def test_dropped_watch_breaks_the_stream(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    seen = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async for event in watch.Watch().stream(core.list_namespaced_pod, "gpu"):
            seen.append(event["type"])
            if len(seen) == 1:
                assert kube.drop_watches() == 1
    assert seen == ["ADDED"]
    await kube.wait_for_watches(0)
    # Dropped before the response headers (while stalled): aiohttp retries an idempotent
    # request once after a server disconnect, so the client only sees the second watch.
    kube.faults.stall_watches = True
    started = kube.watches_started

    async def open_watch() -> Any:
        return await core.list_namespaced_pod(
            "gpu", watch=True, timeout_seconds=1, _preload_content=False
        )

    task = asyncio.create_task(open_watch())
    await kube.wait_for_watches(1)
    kube.drop_watches()
    await kube.wait_for(lambda: kube.watches_started == started + 2, what="the retried watch")
    kube.faults.stall_watches = False
    resp = await task
    assert resp.status == 200
    resp.close()
    await kube.wait_for_watches(0)


async def test_ended_watch_resumes_from_last_rv(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    names: list[str] = []
    async with watch.Watch() as w:
        async for event in w.stream(core.list_namespaced_pod, "gpu"):
            names.append(event["object"].metadata.name)
            if names == ["a"]:
                kube.end_watches()
                await kube.wait_for_watches(1, within=2)  # the client came back
                kube.store.create(o.pod("b", "gpu"))
            else:
                break
    assert names == ["a", "b"]
    rvs = [r.query.get("resourceVersion") for r in kube.requests_for("pods", "watch")]
    assert rvs == [None, "2"]


async def test_outage_refuses_connections_and_keeps_the_store(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    port = kube.port
    await kube.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await core.list_pod_for_all_namespaces()
    kube.store.create(o.pod("b", "gpu"))
    await kube.start()
    assert kube.port == port
    pods = await core.list_pod_for_all_namespaces()
    assert [p.metadata.name for p in pods.items] == ["a", "b"]


async def test_stalled_requests_hit_client_timeout(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.faults.stall_requests = True
    with pytest.raises(asyncio.TimeoutError):
        await core.list_namespace(_request_timeout=0.3)
    kube.faults.stall_requests = False
    assert (await core.list_namespace(_request_timeout=2)).items == []


async def test_slow_watcher_is_cut_off(api_for: Any) -> None:
    async with FakeKubeServer(watch_queue_limit=5) as kube:
        core = client.CoreV1Api(api_for(kube, token=None))
        rv = kube.store.resource_version

        async def burst() -> None:
            await kube.wait_for_watches(1)
            kube.store.create_many(o.pod(f"p{i}", "gpu") for i in range(50))

        task = asyncio.create_task(burst())
        got = [
            e
            async for e in watch.Watch().stream(
                core.list_namespaced_pod, "gpu", resource_version=str(rv), timeout_seconds=5
            )
        ]
        await task
        assert len(got) < 50  # the stream ended early, cleanly
        await kube.wait_for_watches(0)
