"""The workload resolver against the fake API server: owner chains, labels, the cost in
requests, refresh after the ttl, and misses (404, 403, API server down)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openagent.kube.attribution import WorkloadResolver, sanitize
from openagent.kube.client import KubeClient
from tests.kube.attribution_world import (
    NODE,
    NODE_OUT,
    OPTIONS,
    PODS,
    Clock,
    expected,
    world_resolver,
)
from tests.kube.support import metric
from tests.kubefake import FakeKubeServer
from tests.kubefake.objects import controlled, pod


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def resolver(
    kube: FakeKubeServer, client: KubeClient, clock: Clock
) -> AsyncIterator[WorkloadResolver]:
    r = world_resolver(kube, client, clock)
    yield r
    await r.close()


async def known(r: WorkloadResolver, namespace: str, name: str) -> tuple[tuple[str, str], ...]:
    """The pod's labels once its lookup has answered."""
    r.pod(namespace, name)
    await r.settled()
    return r.pod(namespace, name)


def test_label_names_are_sanitised_as_kube_state_metrics_does() -> None:
    assert sanitize("app.kubernetes.io/name") == "app_kubernetes_io_name"
    assert sanitize("nvidia.com/gpu-product") == "nvidia_com_gpu_product"
    assert sanitize("team_2") == "team_2"


async def test_each_pod_is_attributed_to_its_top_controller_with_allowlisted_labels(
    resolver: WorkloadResolver,
) -> None:
    for p in PODS:
        assert await known(resolver, p.namespace, p.name) == expected(p), p


async def test_the_first_answer_is_empty_and_never_waits(resolver: WorkloadResolver) -> None:
    assert resolver.pod("ml", "notebook") == ()
    await resolver.settled()
    assert resolver.pod("ml", "notebook") != ()


async def test_node_labels_are_copied_from_the_allowlist_only(resolver: WorkloadResolver) -> None:
    resolver.node(NODE)
    await resolver.settled()
    assert resolver.node(NODE) == NODE_OUT
    assert resolver.node("") == ()


async def test_a_reused_owner_chain_costs_one_get_per_link_and_no_list_or_watch(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    for p in PODS:
        await known(resolver, p.namespace, p.name)
    for p in PODS:  # named again: answered from the cache
        resolver.pod(p.namespace, p.name)
    await resolver.settled()
    assert len(kube.requests_for("pods", "get")) == len(PODS)
    assert len(kube.requests_for("replicasets", "get")) == 1
    assert len(kube.requests_for("jobs", "get")) == 1
    assert [r for r in kube.requests if r.verb in ("list", "watch")] == []
    assert resolver.requests == len(PODS) + 2


async def test_replicas_of_one_deployment_share_one_get_of_their_replicaset(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    kube.store.create(pod("trainer-7d9f8-fghij", "ml", owner=("ReplicaSet", "trainer-7d9f8")))
    await known(resolver, "ml", "trainer-7d9f8-abcde")
    labels = await known(resolver, "ml", "trainer-7d9f8-fghij")
    assert labels[:2] == (("workload_kind", "Deployment"), ("workload", "trainer"))
    assert len(kube.requests_for("replicasets", "get")) == 1
    assert len(kube.requests_for("pods", "get")) == 2


async def test_an_owner_of_a_kind_the_agent_cannot_read_is_reported_by_its_kind(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    kube.store.create(pod("llm-worker-0", "ml", labels={"team": "llm"}, owner=("TrainJob", "llm")))
    labels = await known(resolver, "ml", "llm-worker-0")
    assert labels[:3] == (("workload_kind", "TrainJob"), ("workload", "llm"), ("label_team", "llm"))


async def test_a_replicaset_without_a_controller_is_its_own_workload(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    kube.store.create(controlled("ReplicaSet", "loose", "ml"))
    kube.store.create(pod("loose-x1", "ml", owner=("ReplicaSet", "loose")))
    labels = await known(resolver, "ml", "loose-x1")
    assert labels == (("workload_kind", "ReplicaSet"), ("workload", "loose"))


async def test_a_pod_recreated_under_another_owner_is_attributed_anew_after_the_ttl(
    kube: FakeKubeServer, resolver: WorkloadResolver, clock: Clock
) -> None:
    assert (await known(resolver, "ml", "notebook"))[:2] == (
        ("workload_kind", "Pod"),
        ("workload", "notebook"),
    )
    kube.store.delete("pod", "ml", "notebook")
    kube.store.create(controlled("Job", "notebook-run", "ml"))
    kube.store.create(pod("notebook", "ml", owner=("Job", "notebook-run")))
    before = resolver.generation
    resolver.touch([("ml", "notebook")], "")
    await resolver.settled()
    assert resolver.pod("ml", "notebook")[0] == ("workload_kind", "Pod")  # within the ttl
    clock.now += OPTIONS.ttl
    resolver.touch([("ml", "notebook")], "")
    await resolver.settled()
    assert resolver.pod("ml", "notebook")[:2] == (
        ("workload_kind", "Job"),
        ("workload", "notebook-run"),
    )
    assert resolver.generation == before + 1


async def test_an_entry_no_longer_named_is_forgotten(
    resolver: WorkloadResolver, clock: Clock
) -> None:
    await known(resolver, "ml", "notebook")
    await known(resolver, "serving", "infer-0")
    clock.now += OPTIONS.forget_after + 1
    resolver.touch([("serving", "infer-0")], "")
    await resolver.settled()
    assert resolver.snapshot()["entries"] == 1


async def test_a_missing_pod_gets_no_labels_and_is_counted_then_attributed_once_it_appears(
    kube: FakeKubeServer, resolver: WorkloadResolver, clock: Clock
) -> None:
    before = metric("openagent_attribution_misses_total", reason="not_found")
    assert await known(resolver, "ml", "later-0") == ()
    assert metric("openagent_attribution_misses_total", reason="not_found") == before + 1
    assert resolver.snapshot()["misses"] == {"not_found": 1}
    assert "ml/later-0" in resolver.snapshot()["last_miss"]["not_found"]
    kube.store.create(pod("later-0", "ml", labels={"team": "late"}, owner=None))
    clock.now += OPTIONS.ttl
    resolver.touch([("ml", "later-0")], "")
    await resolver.settled()
    assert resolver.pod("ml", "later-0")[:2] == (("workload_kind", "Pod"), ("workload", "later-0"))


async def test_a_forbidden_owner_leaves_the_pod_without_labels_and_counts_a_miss(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    kube.faults.forbid("replicasets")
    before = metric("openagent_attribution_misses_total", reason="forbidden")
    assert await known(resolver, "ml", "trainer-7d9f8-abcde") == ()
    assert metric("openagent_attribution_misses_total", reason="forbidden") == before + 1
    assert await known(resolver, "ml", "notebook") != ()  # other pods go on


async def test_an_api_server_that_is_down_leaves_pods_without_labels(
    kube: FakeKubeServer, resolver: WorkloadResolver
) -> None:
    await kube.stop()
    before = metric("openagent_attribution_misses_total", reason="unavailable")
    assert await known(resolver, "ml", "notebook") == ()
    assert metric("openagent_attribution_misses_total", reason="unavailable") == before + 1
    assert resolver.snapshot()["unattributed"] == 1
