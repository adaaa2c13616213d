"""WATCH through kubernetes_asyncio: events, selectors, bookmarks, 410, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

pytestmark = pytest.mark.timeout(20)

DCGM = {"app": "nvidia-dcgm-exporter"}


def summary(event: dict[str, Any]) -> tuple[str, str, str]:
    """(type, name or "-", resourceVersion) of a watch event."""
    obj = event["object"]
    if isinstance(obj, dict):
        return event["type"], "-", obj["metadata"]["resourceVersion"]
    return event["type"], obj.metadata.name, obj.metadata.resource_version


async def collect(
    func: Callable[..., Awaitable[Any]],
    *args: Any,
    until: Callable[[list[tuple[str, str, str]]], bool] | None = None,
    **kwargs: Any,
) -> list[tuple[str, str, str]]:
    """Stream events until ``until`` holds or the server ends the stream."""
    seen: list[tuple[str, str, str]] = []
    w = watch.Watch()
    async with w:
        async for event in w.stream(func, *args, **kwargs):
            seen.append(summary(event))
            if until is not None and until(seen):
                break
    return seen


async def later(delay: float, action: Callable[[], object]) -> None:
    await asyncio.sleep(delay)
    action()


async def test_watch_from_list_rv(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    store = kube.store
    store.create(o.pod("dcgm-a", "gpu", DCGM))
    listed = await core.list_pod_for_all_namespaces(label_selector="app=nvidia-dcgm-exporter")
    rv = int(listed.metadata.resource_version)

    async def changes() -> None:
        await kube.wait_for_watches(1)
        store.create(o.pod("dcgm-b", "gpu", DCGM))  # rv + 1
        store.create(o.pod("other", "gpu", {"app": "other"}))  # rv + 2, filtered out
        store.patch_labels("pods", "gpu", "dcgm-a", {"gpu": "0"})  # rv + 3
        store.delete("pods", "gpu", "dcgm-b")  # rv + 4

    task = asyncio.create_task(changes())
    seen = await collect(
        core.list_pod_for_all_namespaces,
        label_selector="app=nvidia-dcgm-exporter",
        resource_version=str(rv),
        allow_watch_bookmarks=True,
        timeout_seconds=10,
        until=lambda s: s[-1][0] == "BOOKMARK",
    )
    await task
    assert seen == [
        ("ADDED", "dcgm-b", str(rv + 1)),
        ("MODIFIED", "dcgm-a", str(rv + 3)),
        ("DELETED", "dcgm-b", str(rv + 4)),
        ("BOOKMARK", "-", str(rv + 4)),
    ]
    (req,) = kube.requests_for("pods", "watch")
    assert req.query == {
        "allowWatchBookmarks": "True",
        "labelSelector": "app=nvidia-dcgm-exporter",
        "resourceVersion": str(rv),
        "timeoutSeconds": "10",
        "watch": "True",
    }


async def test_label_change_moves_objects_in_and_out(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    store = kube.store
    store.create(o.pod("a", "gpu", DCGM))
    store.create(o.pod("b", "gpu", {"app": "other"}))
    rv = store.resource_version
    task = asyncio.create_task(
        later(
            0.1,
            lambda: (
                store.patch_labels("pods", "gpu", "a", {"app": "retired"}),
                store.patch_labels("pods", "gpu", "b", DCGM),
            ),
        )
    )
    w = watch.Watch()
    events = []
    async with w:
        async for event in w.stream(
            core.list_namespaced_pod,
            "gpu",
            label_selector="app=nvidia-dcgm-exporter",
            resource_version=str(rv),
            timeout_seconds=5,
        ):
            events.append(event)
            if len(events) == 2:
                break
    await task
    left, entered = events
    assert (left["type"], left["object"].metadata.name) == ("DELETED", "a")
    # The DELETED object is the state before the change, at the change's resourceVersion.
    assert left["object"].metadata.labels == DCGM
    assert left["object"].metadata.resource_version == str(rv + 1)
    assert (entered["type"], entered["object"].metadata.name) == ("ADDED", "b")
    assert entered["object"].metadata.labels == DCGM


async def test_field_selector_watch_for_one_node(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    store = kube.store
    rv = store.resource_version

    def changes() -> None:
        store.create(o.pod("here", "gpu", node="node-1"))
        store.create(o.pod("there", "gpu", node="node-2"))
        store.create(o.pod("pending", "gpu", node=None, phase="Pending"))
        store.modify("pods", "gpu", "pending", lambda p: p["spec"].update(nodeName="node-1"))

    task = asyncio.create_task(later(0.1, changes))
    seen = await collect(
        core.list_pod_for_all_namespaces,
        field_selector="spec.nodeName=node-1",
        resource_version=str(rv),
        timeout_seconds=5,
        until=lambda s: len(s) == 2,
    )
    await task
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "here"), ("ADDED", "pending")]


async def test_watch_without_rv_starts_with_state(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    store = kube.store
    store.create(o.pod("b", "gpu", DCGM))
    store.create(o.pod("a", "gpu", DCGM))
    store.create(o.pod("c", "other", DCGM))
    now = str(store.resource_version)
    seen = await collect(
        core.list_namespaced_pod,
        "gpu",
        allow_watch_bookmarks=True,
        timeout_seconds=5,
        until=lambda s: len(s) == 3,
    )
    assert seen[:2] == [("ADDED", "a", "3"), ("ADDED", "b", "2")]
    # WatchList (1.32 default): the initial events end with an annotated bookmark.
    assert seen[2] == ("BOOKMARK", "-", now)


async def test_initial_events_end_bookmark_is_annotated(
    kube: FakeKubeServer, api: client.ApiClient
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    w = watch.Watch()
    async with w:
        stream = w.stream(
            client.CoreV1Api(api).list_namespaced_pod,
            "gpu",
            allow_watch_bookmarks=True,
            send_initial_events=True,
            resource_version_match="NotOlderThan",
            timeout_seconds=5,
        )
        added = await stream.__anext__()
        bookmark = await stream.__anext__()
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_legacy_watch_without_watch_list(api_for: Any) -> None:
    async with FakeKubeServer(watch_list=False) as kube:
        kube.store.create(o.pod("a", "gpu"))
        core = client.CoreV1Api(api_for(kube, token=None))
        seen = await collect(
            core.list_namespaced_pod, "gpu", allow_watch_bookmarks=True, timeout_seconds=1
        )
        assert seen == [("ADDED", "a", "2")]  # no bookmark: nothing happened after the start
        with pytest.raises(ApiException) as err:
            await collect(
                core.list_namespaced_pod,
                "gpu",
                send_initial_events=True,
                resource_version_match="NotOlderThan",
                timeout_seconds=1,
            )
        assert err.value.status == 422


async def test_replay_from_history(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    store = kube.store
    store.create(o.pod("a", "gpu"))
    rv = store.resource_version
    store.create(o.pod("b", "gpu"))
    store.delete("pods", "gpu", "a")
    seen = await collect(
        core.list_namespaced_pod,
        "gpu",
        resource_version=str(rv),
        timeout_seconds=5,
        until=lambda s: len(s) == 2,
    )
    assert seen == [("ADDED", "b", str(rv + 1)), ("DELETED", "a", str(rv + 2))]


async def test_compacted_history_gives_410(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    store = kube.store
    store.create(o.pod("a", "gpu"))
    old = store.resource_version
    store.create(o.pod("b", "gpu"))
    now = store.compact()
    with pytest.raises(ApiException) as err:
        await collect(core.list_namespaced_pod, "gpu", resource_version=str(old), timeout_seconds=5)
    assert err.value.status == 410
    assert err.value.reason == f"Expired: too old resource version: {old} ({now})"
    # Watch forever (no timeout_seconds): the client retries once, then raises.
    with pytest.raises(ApiException) as err:
        await collect(core.list_namespaced_pod, "gpu", resource_version=str(old))
    assert err.value.status == 410
    retries = [r.query.get("resourceVersion") for r in kube.requests_for("pods", "watch")]
    assert retries == [str(old)] * 3


async def test_evicted_history_gives_410(api_for: Any) -> None:
    async with FakeKubeServer(
        store=__import__("tests.kubefake", fromlist=["Store"]).Store(history_size=2)
    ) as kube:
        core = client.CoreV1Api(api_for(kube, token=None))
        kube.store.create(o.pod("a", "gpu"))
        start = kube.store.resource_version
        for name in "bcd":
            kube.store.create(o.pod(name, "gpu"))
        with pytest.raises(ApiException) as err:
            await collect(
                core.list_namespaced_pod, "gpu", resource_version=str(start), timeout_seconds=2
            )
        assert err.value.status == 410
        assert f"too old resource version: {start} ({start + 1})" in str(err.value.reason)
        seen = await collect(
            core.list_namespaced_pod,
            "gpu",
            resource_version=str(start + 1),
            timeout_seconds=2,
            until=lambda s: len(s) == 2,
        )
        assert [n for _, n, _ in seen] == ["c", "d"]


async def test_timeout_seconds_ends_stream_after_final_bookmark(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    rv = kube.store.resource_version
    kube.store.create(o.namespace("gpu"))  # moves the global resourceVersion, not the pods
    loop = asyncio.get_running_loop()
    started = loop.time()
    seen = await collect(
        core.list_namespaced_pod,
        "gpu",
        resource_version=str(rv),
        timeout_seconds=1,
        allow_watch_bookmarks=True,
    )
    elapsed = loop.time() - started
    assert 0.9 < elapsed < 5  # hang protection, not a speed check
    assert seen and all(e == ("BOOKMARK", "-", str(rv + 1)) for e in seen)
    await kube.wait_for_watches(0)


async def test_no_bookmarks_unless_asked(kube: FakeKubeServer, core: client.CoreV1Api) -> None:
    rv = kube.store.resource_version
    kube.store.create(o.namespace("gpu"))
    seen = await collect(
        core.list_namespaced_pod, "gpu", resource_version=str(rv), timeout_seconds=1
    )
    assert seen == []


async def test_namespaced_watch_sees_only_its_namespace(
    kube: FakeKubeServer, core: client.CoreV1Api
) -> None:
    rv = kube.store.resource_version
    task = asyncio.create_task(
        later(
            0.1,
            lambda: kube.store.create_many(
                [o.pod("x", "other"), o.pod("y", "gpu"), o.service("s", "gpu")]
            ),
        )
    )
    seen = await collect(
        core.list_namespaced_pod,
        "gpu",
        resource_version=str(rv),
        timeout_seconds=5,
        until=lambda s: len(s) == 1,
    )
    await task
    assert seen == [("ADDED", "y", str(rv + 2))]
