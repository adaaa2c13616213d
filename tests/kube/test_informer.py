"""Informer list+watch against the fake API server: events, resume, 410, pruning, scale."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from openagent.kube import InformerKey, InformerOptions, Timeouts
from openagent.kube.client import connect
from tests.kube.support import FAST, InformerFactory, Recorder, metric, synced
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.kubefake.kinds import kind_of
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

DCGM = {"app": "dcgm"}


def names(informer: Any) -> set[str]:
    """``namespace/name`` of every object the informer holds."""
    return {f"{ns}/{name}" for ns, name in informer.objects}


def store_names(kube: FakeKubeServer) -> set[str]:
    """``namespace/name`` of every pod in the store (its keys, without copying objects)."""
    return set(kube.store.state(kind_of("pods")).objects)


async def test_list_then_watch(kube: FakeKubeServer, start_informer: InformerFactory) -> None:
    kube.store.create(o.pod("a", "gpu", DCGM))
    kube.store.create(o.pod("b", "gpu", DCGM))
    kube.store.create(o.pod("elsewhere", "other", DCGM))
    added = metric("openagent_discovery_informer_events_total", resource="pods", type="ADDED")
    informer = start_informer(InformerKey("pods", namespace="gpu"))
    rec = Recorder()
    informer.subscribe(rec)
    await synced(informer)
    assert rec.events == [("ADDED", "gpu/a"), ("ADDED", "gpu/b"), ("RESYNC", "-")]
    assert names(informer) == {"gpu/a", "gpu/b"}
    list_rv = informer.resource_version
    assert list_rv == str(kube.store.resource_version)
    await kube.wait_for_watches(1)
    kube.store.create(o.pod("c", "gpu", DCGM))
    kube.store.patch_labels("pods", "gpu", "a", {"gpu": "0"})
    kube.store.delete("pods", "gpu", "b")
    await eventually(lambda: len(rec.events) == 6)
    assert rec.after(3) == [("ADDED", "gpu/c"), ("MODIFIED", "gpu/a"), ("DELETED", "gpu/b")]
    _, old, new = rec.objects[4]
    assert "gpu" not in old["metadata"]["labels"] and new["metadata"]["labels"]["gpu"] == "0"
    assert informer.objects[("gpu", "a")]["metadata"]["labels"]["gpu"] == "0"
    assert names(informer) == {"gpu/a", "gpu/c"}
    assert informer.resource_version == str(kube.store.resource_version)
    (listed,) = kube.requests_for("pods", "list")
    assert (listed.path, listed.query) == ("/api/v1/namespaces/gpu/pods", {"limit": "500"})
    (watch,) = kube.requests_for("pods", "watch")
    assert watch.path == "/api/v1/namespaces/gpu/pods"
    assert watch.query["resourceVersion"] == list_rv
    assert watch.query["allowWatchBookmarks"] == "true"
    assert 5 <= int(watch.query["timeoutSeconds"]) <= 10
    after = metric("openagent_discovery_informer_events_total", resource="pods", type="ADDED")
    assert after - added == 1  # the listed objects are not watch events
    assert informer.error is None and informer.up


async def test_bookmarks_advance_the_resource_version(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    informer = await synced(start_informer(InformerKey("pods", namespace="gpu")))
    rec = Recorder()
    informer.subscribe(rec)
    await kube.wait_for_watches(1)
    listed_rv = informer.resource_version
    kube.store.create(o.pod("unseen", "other"))  # moves the store, not this informer's view
    target = str(kube.store.resource_version)
    await eventually(lambda: informer.resource_version == target)
    assert listed_rv != target and rec.events == []
    kube.drop_watches()
    await eventually(lambda: len(kube.requests_for("pods", "watch")) == 2)
    assert kube.requests_for("pods", "watch")[1].query["resourceVersion"] == target


async def test_dropped_watch_resumes_from_the_last_resource_version(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    informer = await synced(start_informer(InformerKey("pods")))
    rec = Recorder()
    informer.subscribe(rec)
    await kube.wait_for_watches(1)
    kube.store.create(o.pod("a", "gpu"))
    await eventually(lambda: rec.events == [("ADDED", "gpu/a")])
    last_rv = informer.resource_version
    dropped = metric(
        "openagent_discovery_informer_watch_restarts_total", resource="pods", reason="dropped"
    )
    assert kube.drop_watches() == 1
    kube.store.create(o.pod("b", "gpu"))
    kube.store.create(o.pod("c", "gpu"))
    await eventually(lambda: len(rec.events) == 3)
    assert rec.events == [("ADDED", "gpu/a"), ("ADDED", "gpu/b"), ("ADDED", "gpu/c")]
    _, second = kube.requests_for("pods", "watch")
    assert second.query["resourceVersion"] == last_rv
    assert len(kube.requests_for("pods", "list")) == 1
    assert (
        metric(
            "openagent_discovery_informer_watch_restarts_total", resource="pods", reason="dropped"
        )
        == dropped + 1
    )
    await eventually(lambda: informer.error is None)


async def test_stalled_watch_is_detected_and_restarted(
    kube: FakeKubeServer, start_informer: InformerFactory, tmp_path: Path
) -> None:
    quick = await connect(
        kube.write_kubeconfig(tmp_path / "kc"), timeouts=Timeouts(connect=1, read=2, watch_read=0.5)
    )
    try:
        kube.store.create(o.pod("a", "gpu"))
        informer = await synced(start_informer(InformerKey("pods"), on_client=quick))
        rec = Recorder()
        informer.subscribe(rec)
        await kube.wait_for_watches(1)
        rv = informer.resource_version
        stalled = metric(
            "openagent_discovery_informer_watch_restarts_total", resource="pods", reason="stalled"
        )
        kube.faults.stall_watches = True  # the open watch goes silent, new ones get no headers
        await eventually(
            lambda: (
                metric(
                    "openagent_discovery_informer_watch_restarts_total",
                    resource="pods",
                    reason="stalled",
                )
                > stalled
            )
        )
        await eventually(lambda: len(kube.requests_for("pods", "watch")) >= 2)
        kube.faults.stall_watches = False
        kube.store.create(o.pod("b", "gpu"))
        await eventually(lambda: rec.events == [("ADDED", "gpu/b")])
        assert all(w.query["resourceVersion"] == rv for w in kube.requests_for("pods", "watch"))
        assert len(kube.requests_for("pods", "list")) == 1
        await eventually(lambda: informer.error is None)
    finally:
        kube.faults.stall_watches = False
        await quick.close()


async def test_expired_history_relists_and_delivers_only_the_difference(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    for name in ("a", "b", "c"):
        kube.store.create(o.pod(name, "gpu", DCGM))
    informer = await synced(start_informer(InformerKey("pods")))
    rec = Recorder()
    informer.subscribe(rec)
    await kube.wait_for_watches(1)
    old_rv = informer.resource_version
    relists = metric(
        "openagent_discovery_informer_relists_total", resource="pods", reason="expired"
    )
    kube.drop_watches()
    # While the informer is away: changes, then compaction makes its resourceVersion too old.
    kube.store.delete("pods", "gpu", "a")
    kube.store.patch_labels("pods", "gpu", "b", {"gpu": "3"})
    kube.store.create(o.pod("d", "gpu", DCGM))
    kube.store.compact()
    await eventually(lambda: ("RESYNC", "-") in rec.events)
    assert sorted(rec.events[:-1]) == [
        ("ADDED", "gpu/d"),
        ("DELETED", "gpu/a"),
        ("MODIFIED", "gpu/b"),
    ]
    assert rec.events[-1] == ("RESYNC", "-")
    assert names(informer) == store_names(kube) == {"gpu/b", "gpu/c", "gpu/d"}
    assert informer.objects[("gpu", "b")]["metadata"]["labels"]["gpu"] == "3"
    watches = kube.requests_for("pods", "watch")
    assert watches[1].query["resourceVersion"] == old_rv  # answered with 410 Expired
    assert len(kube.requests_for("pods", "list")) == 2
    await eventually(lambda: len(kube.requests_for("pods", "watch")) == 3)
    assert kube.requests_for("pods", "watch")[2].query["resourceVersion"] == str(
        kube.store.resource_version
    )
    assert (
        metric("openagent_discovery_informer_relists_total", resource="pods", reason="expired")
        == relists + 1
    )
    # Nothing more arrives: the relist produced no duplicates.
    await asyncio.sleep(0.3)
    assert len(rec.events) == 4


async def test_http_410_on_watch_relists(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    kube.faults.fail("pods", 410, "too old resource version", verbs="watch", times=1)
    informer = start_informer(InformerKey("pods"))
    rec = Recorder()
    informer.subscribe(rec)
    await eventually(lambda: len(kube.requests_for("pods", "list")) == 2)
    await kube.wait_for_watches(1)
    assert rec.events == [("ADDED", "gpu/a"), ("RESYNC", "-"), ("RESYNC", "-")]
    assert informer.up


async def test_expired_continue_token_falls_back_to_one_whole_list(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create_many(o.pod(f"p{i:03d}", "gpu") for i in range(60))
    informer = start_informer(InformerKey("pods"), InformerOptions(page_size=1))

    def first_page_answered() -> bool:
        lists = kube.requests_for("pods", "list")
        return bool(lists) and lists[0].status == 200

    while not first_page_answered():
        await asyncio.sleep(0)
    kube.faults.stall_requests = True  # a continue request now waits...
    await eventually(lambda: kube.requests_for("pods", "list")[-1].status is None)
    kube.store.delete("pods", "gpu", "p000")  # ...while history moves on and is compacted
    kube.store.create(o.pod("late", "gpu"))
    kube.store.compact()
    kube.faults.stall_requests = False
    await synced(informer)
    assert names(informer) == store_names(kube)
    lists = kube.requests_for("pods", "list")
    assert [r.status for r in lists[-2:]] == [410, 200]
    assert "continue" in lists[-2].query
    assert lists[-1].query == {}  # unpaged: no limit, no continue


async def test_selectors_are_pushed_to_the_server(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.pod("match", "gpu", DCGM, node="node-1"))
    kube.store.create(o.pod("other-node", "gpu", DCGM, node="node-2"))
    kube.store.create(o.pod("other-app", "gpu", {"app": "x"}, node="node-1"))
    kube.store.create(o.pod("other-ns", "ml", DCGM, node="node-1"))
    key = InformerKey("pods", "gpu", "app=dcgm", "spec.nodeName=node-1")
    informer = await synced(start_informer(key))
    rec = Recorder()
    informer.subscribe(rec)
    assert names(informer) == {"gpu/match"}
    await kube.wait_for_watches(1)
    (listed,) = kube.requests_for("pods", "list")
    (watch,) = kube.requests_for("pods", "watch")
    for req in (listed, watch):
        assert req.path == "/api/v1/namespaces/gpu/pods"
        assert req.query["labelSelector"] == "app=dcgm"
        assert req.query["fieldSelector"] == "spec.nodeName=node-1"
    kube.store.patch_labels("pods", "gpu", "other-app", {"app": "dcgm"})  # enters the selector
    kube.store.patch_labels("pods", "gpu", "match", {"app": "y"})  # leaves it
    await eventually(lambda: len(rec.events) == 2)
    assert rec.events == [("ADDED", "gpu/other-app"), ("DELETED", "gpu/match")]
    assert names(informer) == {"gpu/other-app"}


def _bulky_pod() -> dict[str, Any]:
    pod = o.pod("bulky", "gpu", DCGM, annotations={"team": "ml"})
    pod["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
    pod["spec"]["volumes"] = [{"name": "v", "hostPath": {"path": "/var/lib/kubelet"}}]
    pod["spec"]["containers"][0]["env"] = [{"name": "X", "value": "y" * 1000}]
    pod["spec"]["tolerations"] = [{"operator": "Exists"}]
    return pod


async def test_objects_are_pruned_and_pruned_only_changes_are_silent(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(_bulky_pod())
    informer = await synced(start_informer(InformerKey("pods")))
    rec = Recorder()
    informer.subscribe(rec)
    pod = informer.objects[("gpu", "bulky")]
    assert set(pod) == {"metadata", "spec", "status"}
    assert "managedFields" not in pod["metadata"]
    assert pod["metadata"]["labels"] == DCGM and pod["metadata"]["annotations"] == {"team": "ml"}
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert pod["spec"] == {
        "nodeName": "node-1",
        "containers": [
            {
                "name": "dcgm-exporter",
                "image": o.DCGM_IMAGE,
                "ports": [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}],
            }
        ],
    }
    status = pod["status"]
    assert status["phase"] == "Running" and status["podIP"] == "10.244.1.10"
    assert {"type": "Ready", "status": "True"} in status["conditions"]
    (cs,) = status["containerStatuses"]
    assert set(cs) == {"name", "ready", "containerID"} and cs["ready"] is True
    await kube.wait_for_watches(1)

    def restart(obj: dict[str, Any]) -> None:
        obj["status"]["containerStatuses"][0]["restartCount"] = 1
        obj["spec"]["volumes"].append({"name": "w", "emptyDir": {}})

    kube.store.modify("pods", "gpu", "bulky", restart)
    rv = str(kube.store.resource_version)
    await eventually(
        lambda: informer.objects[("gpu", "bulky")]["metadata"]["resourceVersion"] == rv
    )
    kube.store.patch_labels("pods", "gpu", "bulky", {"gpu": "1"})
    await eventually(lambda: rec.events)
    assert rec.events == [("MODIFIED", "gpu/bulky")]  # the restart alone told nobody


async def test_subscriber_failures_do_not_stop_others(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    informer = await synced(start_informer(InformerKey("pods")))
    rec, quiet = Recorder(), Recorder()

    def broken(event_type: str, old: Any, new: Any) -> None:
        raise RuntimeError("subscriber bug")

    informer.subscribe(broken)
    informer.subscribe(rec)
    unsubscribe = informer.subscribe(quiet)
    unsubscribe()
    await kube.wait_for_watches(1)
    kube.store.create(o.pod("a", "gpu"))
    kube.store.create(o.pod("b", "gpu"))
    await eventually(lambda: len(rec.events) == 2)
    assert quiet.events == [] and informer.error is None
    with pytest.raises(ValueError, match="nodes are cluster-scoped"):
        InformerKey("nodes", namespace="gpu")


PODS, NAMESPACES = 5000, 50


def fleet() -> list[dict[str, Any]]:
    return [
        o.pod(
            f"pod-{i:04d}",
            f"ns-{i % NAMESPACES:02d}",
            {"app": "nvidia-dcgm-exporter" if i % 5 == 0 else "worker", "idx": str(i)},
            f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            f"node-{i % 100:03d}",
        )
        for i in range(PODS)
    ]


async def test_five_thousand_pods_converge_exactly(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create_many(fleet())
    informer = await synced(start_informer(InformerKey("pods")), within=30)
    assert names(informer) == store_names(kube)
    assert len(kube.requests_for("pods", "list")) == PODS // FAST.page_size
    await kube.wait_for_watches(1)
    for i in range(0, PODS, 50):  # churn while watching: deletes, label changes, new pods
        kube.store.delete("pods", f"ns-{i % NAMESPACES:02d}", f"pod-{i:04d}")
    for i in range(1, PODS, 25):
        kube.store.patch_labels("pods", f"ns-{i % NAMESPACES:02d}", f"pod-{i:04d}", {"v": "2"})
    kube.store.create_many(o.pod(f"new-{i}", f"ns-{i % NAMESPACES:02d}") for i in range(100))
    expected = store_names(kube)
    await eventually(lambda: names(informer) == expected, within=30)
    labelled = {
        f"{ns}/{name}"
        for (ns, name), obj in informer.objects.items()
        if obj["metadata"].get("labels", {}).get("v") == "2"
    }
    assert labelled == {f"ns-{i % NAMESPACES:02d}/pod-{i:04d}" for i in range(1, PODS, 25)}
    assert informer.resource_version == str(kube.store.resource_version)
