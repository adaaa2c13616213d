"""Live membership from the fake API server: pods that go unready, are deleted, come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from openagent.kube import Cluster, KubeOptions
from openagent.shard import MembershipOptions, Ownership, PodMembership
from tests.kube.support import FAST, TIMEOUTS
from tests.kubefake import FakeKubeServer, objects
from tests.support import eventually

NS = "whatap-monitoring"
TOKEN = "membership-token"
LABELS = {"app.kubernetes.io/name": "openagent"}
SELECTOR = "app.kubernetes.io/name=openagent"


def agent_pod(name: str, namespace: str = NS, labels: dict[str, str] = LABELS) -> dict[str, object]:
    return objects.pod(name, namespace, labels, owner=("StatefulSet", "openagent"))


class Followed:
    """A running `PodMembership` and every ownership it called back with."""

    def __init__(self, membership: PodMembership) -> None:
        self.membership = membership
        self.seen: list[Ownership] = []

    async def changed(self) -> None:
        assert self.membership.current is not None
        self.seen.append(self.membership.current)

    def members(self) -> tuple[str, ...] | None:
        current = self.membership.current
        return current.members if current is not None else None


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def followed(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[Followed]:
    cluster = Cluster.of(
        KubeOptions(
            kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
            timeouts=TIMEOUTS,
            informers=FAST,
        )
    )
    membership = PodMembership(cluster, MembershipOptions(NS, SELECTOR, "openagent-1", retry=0.2))
    follow = Followed(membership)
    task = asyncio.create_task(membership.run(follow.changed))
    yield follow
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await cluster.close()


async def test_members_follow_readiness_and_deletion_of_the_agents_pods(
    kube: FakeKubeServer, followed: Followed
) -> None:
    store = kube.store
    for i in range(3):
        store.create(agent_pod(f"openagent-{i}"))
    store.create(agent_pod("openagent-9", namespace="elsewhere"))
    store.create(agent_pod("dcgm-exporter-abcde", labels={"app": "dcgm"}))
    all_three = ("openagent-0", "openagent-1", "openagent-2")
    await eventually(lambda: followed.members() == all_three)
    assert followed.membership.waiting is None

    def unready(obj: dict[str, object]) -> None:
        for c in obj["status"]["conditions"]:  # type: ignore[index]
            if c["type"] == "Ready":
                c["status"] = "False"

    store.modify("pods", NS, "openagent-2", unready)
    await eventually(lambda: followed.members() == ("openagent-0", "openagent-1"))
    store.create(agent_pod("openagent-2-replacement"))
    store.delete("pods", NS, "openagent-2-replacement")
    store.mark_deleting("pods", NS, "openagent-0")
    await eventually(lambda: followed.members() == ("openagent-1",))
    store.delete("pods", NS, "openagent-0")
    store.delete("pods", NS, "openagent-2")
    store.create(agent_pod("openagent-0"))
    await eventually(lambda: followed.members() == ("openagent-0", "openagent-1"))
    store.modify("pods", NS, "openagent-1", unready)  # this agent counts itself regardless
    await asyncio.sleep(0)
    assert [o.members for o in followed.seen][-1] == ("openagent-0", "openagent-1")
    assert all(o.me == "openagent-1" for o in followed.seen)
    # Every callback brought a change: no two in a row are equal.
    assert all(a != b for a, b in zip(followed.seen, followed.seen[1:], strict=False))

    lists = [r for r in kube.requests if r.resource == "pods"]
    assert lists and all(
        r.namespace == NS and r.query.get("labelSelector") == SELECTOR for r in lists
    )


async def test_unknown_members_until_the_pods_can_be_listed(
    kube: FakeKubeServer, followed: Followed
) -> None:
    kube.faults.forbid("pods", namespace=NS)
    await eventually(lambda: "grant list/watch on pods" in (followed.membership.waiting or ""))
    assert followed.membership.current is None and followed.seen == []
    kube.faults.clear()
    await eventually(lambda: followed.members() == ("openagent-1",))
    assert followed.membership.waiting is None


async def test_a_warning_when_this_agents_own_pod_does_not_match_the_selector(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    kube.store.create(agent_pod("openagent-0"))
    kube.store.create(agent_pod("openagent-1", labels={"app": "something-else"}))
    with capture_logs() as logs:
        cluster = Cluster.of(
            KubeOptions(kubeconfig=kube.write_kubeconfig(tmp_path / "k"), informers=FAST)
        )
        membership = PodMembership(cluster, MembershipOptions(NS, SELECTOR, "openagent-1"))
        follow = Followed(membership)
        task = asyncio.create_task(membership.run(follow.changed))
        try:
            await eventually(lambda: follow.members() == ("openagent-0", "openagent-1"))
            kube.store.create(agent_pod("openagent-2"))
            await eventually(lambda: len(follow.seen) == 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await cluster.close()
    warnings = [e for e in logs if "does not match the shard selector" in e["event"]]
    assert [w["pod"] for w in warnings] == ["openagent-1"]  # once, not on every change
