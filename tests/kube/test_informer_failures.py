"""Informers when the API server refuses, fails or is away: errors, backoff, recovery."""

from __future__ import annotations

import asyncio
import random

import pytest
from structlog.testing import capture_logs

from openagent.backoff import Backoff
from openagent.kube import InformerKey
from openagent.telemetry import REGISTRY
from tests.kube.support import InformerFactory, metric, synced
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.support import eventually

pytestmark = pytest.mark.timeout(30)


def up(resource: str) -> float | None:
    """``openagent_discovery_informer_up`` of ``resource`` (None when no informer runs)."""
    return REGISTRY.get_sample_value("openagent_discovery_informer_up", {"resource": resource})


async def test_forbidden_resource_reports_once_and_recovers(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    kube.store.create(o.service("dcgm", "gpu"))
    kube.faults.forbid("pods")
    errors = metric(
        "openagent_discovery_informer_errors_total", resource="pods", reason="Forbidden"
    )
    with capture_logs() as logs:
        pods = start_informer(InformerKey("pods"))
        services = await synced(start_informer(InformerKey("services")))
        await eventually(
            lambda: (
                metric(
                    "openagent_discovery_informer_errors_total", resource="pods", reason="Forbidden"
                )
                >= errors + 3
            )
        )
        assert pods.error == (
            "cannot list pods at the cluster scope: grant list/watch on pods (RBAC) "
            "to system:serviceaccount:whatap-monitoring:whatap-open-agent"
        )
        assert not pods.synced.is_set() and not pods.up
        assert up("pods") == 0 and up("services") == 1
        # The other informer keeps working meanwhile.
        await kube.wait_for_watches(1, "services")
        kube.store.create(o.service("late", "gpu"))
        await eventually(lambda: ("gpu", "late") in services.objects)
        kube.faults.clear("pods")
        await synced(pods)
        assert pods.error is None and ("gpu", "a") in pods.objects
        assert up("pods") == 1
    mine = [e for e in logs if e.get("informer") == "pods"]
    failing = [e for e in mine if e["event"].startswith("informer failing")]
    assert len(failing) == 1, failing
    assert failing[0]["error"].startswith("cannot list pods at the cluster scope")
    assert failing[0]["log_level"] == "warning"
    assert [e["event"] for e in mine].count("informer recovered") == 1


async def test_server_errors_back_off_and_recover(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.pod("a", "gpu"))
    kube.faults.fail("pods", 500, "etcdserver: leader changed", verbs="list")
    informer = start_informer(InformerKey("pods"))
    await eventually(lambda: informer.error is not None)
    assert "HTTP 500" in informer.error and "leader changed" in informer.error
    await asyncio.sleep(0.6)
    attempts = len(kube.requests_for("pods", "list"))
    # Backoff (0.02 s doubling to 0.2 s, jittered) allows a handful of tries in 0.6 s,
    # where a retry loop without it would make hundreds.
    assert 3 <= attempts <= 20
    kube.faults.clear()
    await synced(informer)
    assert informer.error is None and informer.objects.keys() == {("gpu", "a")}


async def test_failing_watch_retries_from_the_same_resource_version(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    informer = await synced(start_informer(InformerKey("pods")))
    await kube.wait_for_watches(1)
    rv = informer.resource_version
    kube.faults.fail("pods", 503, "overloaded", verbs="watch", times=2)
    kube.drop_watches()
    kube.store.create(o.pod("b", "gpu"))
    await eventually(lambda: ("gpu", "b") in informer.objects)
    watches = kube.requests_for("pods", "watch")
    assert [w.status for w in watches[1:3]] == [503, 503]
    assert {w.query["resourceVersion"] for w in watches[1:]} == {rv}
    assert len(kube.requests_for("pods", "list")) == 1  # no relist for a passing failure
    await eventually(lambda: informer.error is None)


async def test_api_server_down_at_start_then_up(
    kube: FakeKubeServer, start_informer: InformerFactory
) -> None:
    kube.store.create(o.node("node-1"))
    await kube.stop()
    nodes = start_informer(InformerKey("nodes"))
    await eventually(lambda: nodes.error is not None)
    assert "ConnectionError" in nodes.error and f"127.0.0.1:{kube.port}" in nodes.error
    await asyncio.sleep(0.3)  # still retrying, still not synced, nothing waits on it
    assert not nodes.synced.is_set()
    await kube.start()
    await synced(nodes)
    assert nodes.objects.keys() == {("", "node-1")} and nodes.error is None


def test_backoff_doubles_caps_jitters_and_forgets() -> None:
    now = [0.0]
    jitter = [0.0]

    class Rng(random.Random):
        def random(self) -> float:
            return jitter[0]

    backoff = Backoff(0.5, 4.0, jitter=0.5, reset_after=60.0, clock=lambda: now[0], rng=Rng())
    delays = []
    for _ in range(6):
        delays.append(backoff.next())
        now[0] += delays[-1] + 0.1  # fails again soon after each retry
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    jitter[0] = 1.0
    assert backoff.next() == 2.0  # jitter keeps 50-100 % of the step
    now[0] += 2.0 + 61.0  # healthy for longer than reset_after
    jitter[0] = 0.0
    assert backoff.next() == 0.5
    with pytest.raises(ValueError, match="initial <= maximum"):
        Backoff(5.0, 1.0)
