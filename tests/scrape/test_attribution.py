"""GPU workload attribution in scraped series: a loopback dcgm-exporter whose body names
pods of the fake API server, scraped with the workload resolver as the attributor."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openagent.config import parse_config
from openagent.discovery.static import static_targets
from openagent.exposition import Limits
from openagent.kube.attribution import WorkloadResolver
from openagent.kube.client import KubeClient, connect
from openagent.model import Labels, ScrapeResult, Series, Target
from openagent.scrape.http import ScrapeClient
from openagent.scrape.loop import ScrapeLoop
from tests.kube.attribution_world import (
    NODE,
    NODE_OUT,
    OPTIONS,
    PODS,
    Clock,
    expected,
    world_resolver,
)
from tests.kube.support import TIMEOUTS, kube, metric
from tests.kubefake import FakeKubeServer
from tests.kubefake.objects import controlled, pod
from tests.support import Exporter

__all__ = ["kube"]

LIMITS = Limits(sample_limit=200_000)
FAMILIES = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED")


def body(names: tuple[tuple[str, str], ...]) -> bytes:
    """dcgm-exporter's exposition: one GPU per named pod, and one more GPU running none."""
    lines = []
    for family in FAMILIES:
        lines += [f"# HELP {family} {family}.", f"# TYPE {family} gauge"]
        for gpu, (namespace, name) in enumerate(names):
            lines.append(
                f'{family}{{gpu="{gpu}",UUID="GPU-{gpu}",modelName="NVIDIA A100",'
                f'container="main",namespace="{namespace}",pod="{name}"}} {gpu + 10}'
            )
        lines.append(f'{family}{{gpu="{len(names)}",UUID="GPU-idle",modelName="NVIDIA A100"}} 0')
    return ("\n".join(lines) + "\n").encode()


BODY = body(tuple((p.namespace, p.name) for p in PODS))


@pytest.fixture
async def kube_client(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[KubeClient]:
    c = await connect(kube.write_kubeconfig(tmp_path / "kubeconfig"), timeouts=TIMEOUTS)
    yield c
    await c.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def resolver(
    kube: FakeKubeServer, kube_client: KubeClient, clock: Clock
) -> AsyncIterator[WorkloadResolver]:
    r = world_resolver(kube, kube_client, clock)
    yield r
    await r.close()


def static_target(port: int, node: str = NODE) -> Target:
    text = f"""
features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:{port}
"""
    targets, _ = static_targets(parse_config(text).config)
    return dataclasses.replace(targets[0], node=node)


def dcgm(result: ScrapeResult) -> list[Series]:
    return [s for s in result.series if s.name.startswith("DCGM_")]


def pod_of(labels: Labels, prefix: str = "") -> tuple[str, str] | None:
    d = dict(labels)
    if prefix + "pod" not in d:
        return None
    return d[prefix + "namespace"], d[prefix + "pod"]


async def attributed(loop: ScrapeLoop, resolver: WorkloadResolver) -> ScrapeResult:
    """The scrape after the first one has named every pod and the lookups answered."""
    await loop.scrape_once()
    await resolver.settled()
    return await loop.scrape_once()


async def test_every_dcgm_sample_gets_its_workload_pod_labels_and_node_labels(
    kube: FakeKubeServer, exporter: Exporter, client: ScrapeClient, resolver: WorkloadResolver
) -> None:
    exporter.body = BODY
    target = static_target(exporter.port)
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS, attributor=resolver)
    first = await loop.scrape_once()
    assert all("workload" not in dict(s.labels) for s in dcgm(first))  # nothing waited
    result = await attributed(loop, resolver)
    by_pod = {(p.namespace, p.name): p for p in PODS}
    series = dcgm(result)
    assert len(series) == len(first.series) - 5 == 2 * (len(PODS) + 1)
    for s in series:
        key = pod_of(s.labels)
        own = () if key is None else expected(by_pod[key])
        assert s.labels[len(s.labels) - len(own) - len(NODE_OUT) :] == own + NODE_OUT, s
    assert [r for r in kube.requests if r.verb in ("list", "watch")] == []
    assert {r.resource for r in kube.requests} == {"pods", "replicasets", "jobs", "nodes"}


async def test_an_exporter_pods_own_namespace_and_pod_leave_the_exported_pair_attributed(
    exporter: Exporter, client: ScrapeClient, resolver: WorkloadResolver
) -> None:
    exporter.body = BODY
    plain = static_target(exporter.port)
    own = (("namespace", "gpu-operator"), ("pod", "nvidia-dcgm-exporter-x7k2p"))
    target = dataclasses.replace(plain, labels=plain.labels + own)
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS, attributor=resolver)
    result = await attributed(loop, resolver)
    by_pod = {(p.namespace, p.name): p for p in PODS}
    for s in dcgm(result):
        key = pod_of(s.labels, "exported_")
        labels = dict(s.labels)
        assert (labels["namespace"], labels["pod"]) == (own[0][1], own[1][1])
        if key is None:
            assert "workload" not in labels
        else:
            assert labels["workload"] == by_pod[key].workload
            assert labels["node_label_topology_kubernetes_io_zone"] == "us-east-1a"
    named = [s for s in dcgm(result) if "workload" in dict(s.labels)]
    assert len(named) == len(FAMILIES) * len(PODS)


async def test_a_recreated_pod_changes_owner_in_its_series_only(
    kube: FakeKubeServer,
    exporter: Exporter,
    client: ScrapeClient,
    resolver: WorkloadResolver,
    clock: Clock,
) -> None:
    exporter.body = BODY
    loop = ScrapeLoop(
        static_target(exporter.port), client, lambda r: None, limits=LIMITS, attributor=resolver
    )
    before = await attributed(loop, resolver)
    kube.store.delete("pod", "ml", "notebook")
    kube.store.create(controlled("Job", "notebook-run", "ml"))
    kube.store.create(pod("notebook", "ml", node=NODE, owner=("Job", "notebook-run")))
    clock.now += OPTIONS.ttl
    polled = 0
    while True:  # poll: each scrape names the pod; its refresh answers in the background
        result = await loop.scrape_once()
        await resolver.settled()
        notebook = [s for s in dcgm(result) if pod_of(s.labels) == ("ml", "notebook")]
        if dict(notebook[0].labels)["workload"] == "notebook-run":
            break
        polled += 1
        assert polled < 3
    assert {dict(s.labels)["workload_kind"] for s in notebook} == {"Job"}
    others = [s for s in dcgm(result) if pod_of(s.labels) != ("ml", "notebook")]
    assert all(any(s is b for b in dcgm(before)) for s in others)  # not built again
    assert {pod_of(s.labels) for s in result.stale} == {("ml", "notebook")}


@pytest.mark.parametrize("failure", ["not_found", "forbidden", "unavailable"])
async def test_a_failed_lookup_keeps_every_sample_without_its_workload_labels(
    failure: str,
    kube: FakeKubeServer,
    exporter: Exporter,
    client: ScrapeClient,
    resolver: WorkloadResolver,
) -> None:
    names = (("ml", "notebook"),) if failure != "not_found" else (("ml", "gone-0"),)
    exporter.body = body(names)
    if failure == "forbidden":
        kube.faults.forbid("pods")
    elif failure == "unavailable":
        await kube.stop()
    loop = ScrapeLoop(
        static_target(exporter.port, node=""),
        client,
        lambda r: None,
        limits=LIMITS,
        attributor=resolver,
    )
    misses = metric("openagent_attribution_misses_total", reason=failure)
    first = await loop.scrape_once()
    result = await attributed(loop, resolver)
    assert [s.labels for s in dcgm(result)] == [s.labels for s in dcgm(first)]
    assert len(dcgm(result)) == 4 and result.error is None
    assert all("workload" not in dict(s.labels) for s in dcgm(result))
    assert metric("openagent_attribution_misses_total", reason=failure) == misses + 1


async def test_only_dcgm_series_have_their_pod_looked_up(
    kube: FakeKubeServer, exporter: Exporter, client: ScrapeClient, resolver: WorkloadResolver
) -> None:
    exporter.body = BODY + b'kube_pod_info{namespace="ml",pod="web-0",uid="u1"} 1\n'
    target = static_target(exporter.port)
    loop = ScrapeLoop(target, client, lambda r: None, limits=LIMITS, attributor=resolver)
    result = await attributed(loop, resolver)
    info = [s for s in result.series if s.name == "kube_pod_info"]
    assert [s.labels[-len(NODE_OUT) :] for s in info] == [NODE_OUT]
    assert "workload" not in dict(info[0].labels)
    kube.store.create(pod("web-0", "ml", owner=("StatefulSet", "web")))
    await loop.scrape_once()
    await resolver.settled()
    assert "web-0" not in [r.name for r in kube.requests_for("pods", "get")]
    assert len(kube.requests_for("pods", "get")) == len(PODS)
