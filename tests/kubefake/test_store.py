"""The store: resourceVersions, events, history bounds, snapshots and refusals."""

from __future__ import annotations

import asyncio

import pytest

from tests.kubefake import AlreadyExistsError, ConflictError, NotFoundError, Store
from tests.kubefake import objects as o
from tests.kubefake.kinds import NAMESPACE, POD
from tests.kubefake.store import Event


class Recorder:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def push(self, event: Event) -> None:
        self.events.append(event)


def test_every_mutation_bumps_one_global_resource_version() -> None:
    store = Store()
    start = store.resource_version
    ns = store.create(o.namespace("gpu"))
    pod = store.create(o.pod("a", "gpu"))
    assert int(ns["metadata"]["resourceVersion"]) == start + 1
    assert int(pod["metadata"]["resourceVersion"]) == start + 2
    assert pod["metadata"]["uid"] and pod["metadata"]["creationTimestamp"].endswith("Z")
    changed = store.patch_labels("pods", "gpu", "a", {"app": "dcgm"})
    assert changed["metadata"]["resourceVersion"] == str(start + 3)
    assert changed["metadata"]["uid"] == pod["metadata"]["uid"]
    gone = store.delete("Pod", "gpu", "a")
    assert gone["metadata"]["resourceVersion"] == str(start + 4)
    assert gone["metadata"]["labels"] == {"app": "dcgm"}  # last state
    assert store.get("pods", "gpu", "a") is None
    assert store.resource_version == start + 4


def test_events_carry_previous_state() -> None:
    store = Store()
    rec = Recorder()
    store.subscribe(POD, rec)
    store.create(o.pod("a", "gpu", {"app": "x"}))
    store.patch_labels("pod", "gpu", "a", {"app": "dcgm", "extra": None})
    store.delete("po", "gpu", "a")
    assert [e.type for e in rec.events] == ["ADDED", "MODIFIED", "DELETED"]
    added, modified, deleted = rec.events
    assert added.prev is None
    assert modified.prev is not None and modified.prev.labels == {"app": "x"}
    assert modified.obj.labels == {"app": "dcgm"}
    assert deleted.obj.rv == deleted.rv == modified.rv + 1
    assert deleted.obj.obj["metadata"]["resourceVersion"] == str(deleted.rv)


def test_noop_update_writes_nothing() -> None:
    store = Store()
    pod = store.create(o.pod("a", "gpu", {"app": "dcgm"}))
    rv = store.resource_version
    same = store.update(pod)
    assert store.resource_version == rv
    assert same["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    store.patch_labels("pods", "gpu", "a", {"app": "dcgm"})
    assert store.resource_version == rv


def test_refusals_name_the_problem() -> None:
    store = Store()
    pod = store.create(o.pod("a", "gpu"))
    with pytest.raises(AlreadyExistsError, match='pods "a" already exists'):
        store.create(o.pod("a", "gpu"))
    with pytest.raises(NotFoundError, match='pods "b" not found'):
        store.delete("pods", "gpu", "b")
    store.patch_labels("pods", "gpu", "a", {"v": "2"})
    with pytest.raises(ConflictError, match="the object has been modified"):
        store.update(pod)  # carries the old resourceVersion
    with pytest.raises(ValueError, match=r"spec\.containers"):
        store.create({"kind": "Pod", "metadata": {"name": "x", "namespace": "gpu"}, "spec": {}})
    with pytest.raises(ValueError, match=r"needs metadata\.namespace"):
        store.create({"kind": "Service", "metadata": {"name": "x"}})
    with pytest.raises(ValueError, match="cluster-scoped"):
        store.create({"kind": "Node", "metadata": {"name": "x", "namespace": "y"}})
    with pytest.raises(ValueError, match="unknown kind 'Deployment'"):
        store.create({"kind": "Deployment", "metadata": {"name": "x", "namespace": "y"}})
    with pytest.raises(ValueError, match=r"must have apiVersion 'discovery\.k8s\.io/v1'"):
        store.create({**o.endpoint_slice("s", "gpu"), "apiVersion": "v1"})


def test_caller_copies_do_not_alias_the_store() -> None:
    store = Store()
    original = o.pod("a", "gpu", {"app": "dcgm"})
    created = store.create(original)
    original["metadata"]["labels"]["app"] = "changed"
    created["metadata"]["labels"]["app"] = "changed"
    stored = store.get("pods", "gpu", "a")
    assert stored is not None and stored["metadata"]["labels"] == {"app": "dcgm"}


def test_history_is_bounded_per_kind() -> None:
    store = Store(history_size=3)
    store.create(o.namespace("ns"))  # another kind's events do not count
    first = store.resource_version
    for i in range(5):
        store.create(o.pod(f"p{i}", "ns"))
    # p0 (first + 1) and p1 were evicted; the oldest retained is p2.
    assert store.state(POD).oldest_watchable() == first + 2
    assert store.events_after(POD, first + 1) is None
    retained = store.events_after(POD, first + 2)
    assert retained is not None and [e.obj.key for e in retained] == ["ns/p2", "ns/p3", "ns/p4"]
    assert store.events_after(NAMESPACE, 1) == list(store.state(NAMESPACE).history)


def test_compact_expires_everything_before_now() -> None:
    store = Store()
    store.create(o.pod("a", "ns"))
    old = store.resource_version
    store.create(o.pod("b", "ns"))
    now = store.compact()
    assert store.events_after(POD, old) is None
    assert store.events_after(POD, now) == []
    assert store.snapshot(POD, old) is None
    assert store.state(NAMESPACE).oldest_watchable() == now


def test_snapshot_reconstructs_past_state() -> None:
    store = Store()
    store.create(o.pod("a", "ns", {"v": "1"}))
    store.create(o.pod("b", "ns"))
    at = store.resource_version
    store.patch_labels("pods", "ns", "a", {"v": "2"})
    store.delete("pods", "ns", "b")
    store.create(o.pod("c", "ns"))
    snap = store.snapshot(POD, at)
    assert snap is not None
    assert sorted(snap) == ["ns/a", "ns/b"]
    assert snap["ns/a"].labels == {"v": "1"}
    latest = store.snapshot(POD, store.resource_version)
    assert latest is not None and sorted(latest) == ["ns/a", "ns/c"]


def test_storage_order_is_key_byte_order() -> None:
    store = Store()
    for ns, name in [("a-b", "x"), ("a", "y"), ("a", "x"), ("b", "a")]:
        store.create(o.pod(name, ns))
    # "a/..." sorts before "a-b/..." only if '/' < '-', which it is not: byte order.
    assert [
        p["metadata"]["namespace"] + "/" + p["metadata"]["name"] for p in store.list("pods")
    ] == [
        "a-b/x",
        "a/x",
        "a/y",
        "b/a",
    ]
    assert [p["metadata"]["name"] for p in store.list("pods", "a")] == ["x", "y"]


def test_bulk_create_is_one_event_per_object() -> None:
    store = Store()
    rec = Recorder()
    store.subscribe(POD, rec)
    n = store.create_many(o.pod(f"p{i}", f"ns{i % 3}") for i in range(300))
    assert n == 300 == store.count("pods") == len(rec.events)
    assert len({e.rv for e in rec.events}) == 300


async def test_wait_for_rv() -> None:
    store = Store()
    target = store.resource_version + 1
    assert not await store.wait_for_rv(target, 0.05)
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, lambda: store.create(o.pod("a", "ns")))
    assert await store.wait_for_rv(target, 2.0)
