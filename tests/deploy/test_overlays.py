"""What each overlay is for: one replica, a sharded StatefulSet, one agent per node, or
remote write without Whatap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.agent_settings import agent_settings
from tests.deploy.rendered import (
    OVERLAYS,
    SPOOL_PATH,
    container,
    env,
    one,
    pod_spec,
    render,
    workload,
)


def equality_selector(text: str) -> dict[str, str]:
    """``a=b,c=d`` as a dict; fails on any other form, which the test does not expect."""
    pairs = [term.split("=") for term in text.split(",")]
    assert all(len(p) == 2 and p[0] and p[1] for p in pairs), text
    return {key.strip(): value.strip() for key, value in pairs}


def pod_labels(overlay: str) -> dict[str, str]:
    labels: dict[str, str] = workload(overlay)["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", ["single", "remote-write"])
def test_one_replica_stops_before_its_successor_starts(overlay: str) -> None:
    deployment = workload(overlay)
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (0, 1)


def test_sharded_runs_three_replicas_started_in_parallel_behind_a_headless_service() -> None:
    stateful = workload("sharded")
    assert stateful["kind"] == "StatefulSet"
    assert stateful["spec"]["replicas"] == 3
    assert stateful["spec"]["podManagementPolicy"] == "Parallel"
    service = one("sharded", "Service")
    assert stateful["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"


def test_sharded_membership_selector_matches_its_own_pods_and_no_others() -> None:
    entries = env("sharded")
    selector = equality_selector(entries["OPENAGENT_SHARD_SELECTOR"]["value"])
    assert selector.items() <= pod_labels("sharded").items()
    assert selector.items() <= workload("sharded")["spec"]["selector"]["matchLabels"].items()
    for other in OVERLAYS:
        if other != "sharded":
            assert not selector.items() <= pod_labels(other).items(), other
    # Membership is POD_NAME among the pods of POD_NAMESPACE; a static count would
    # split the targets regardless of who is alive.
    assert entries["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert entries["POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert "OPENAGENT_SHARD_COUNT" not in entries
    assert "OPENAGENT_SHARD_INDEX" not in entries


def test_sharded_drains_take_one_replica_at_a_time() -> None:
    """The memory limits assume two replicas can hold a missing one's share."""
    budget = one("sharded", "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == pod_labels("sharded")


def test_sharded_spools_on_a_claim_per_replica() -> None:
    (claim,) = workload("sharded")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    (mount,) = [m for m in container("sharded")["volumeMounts"] if m["mountPath"] == SPOOL_PATH]
    assert mount["name"] == claim["metadata"]["name"]
    assert mount["name"] not in {v["name"] for v in pod_spec("sharded")["volumes"]}


def test_node_local_runs_one_agent_per_node_that_scrapes_only_that_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon = workload("node-local")
    assert daemon["kind"] == "DaemonSet"
    assert daemon["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 0
    entries = env("node-local")
    assert entries["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert entries["OPENAGENT_NODE_LOCAL"]["value"] == "true"
    settings = agent_settings("node-local", monkeypatch)
    assert settings.node_local is True
    assert settings.node_name  # what discovery puts in spec.nodeName=<node>


def test_node_local_tolerates_the_taints_of_gpu_nodes() -> None:
    """An agent kept off a tainted node would leave that node's GPUs unscraped."""
    tolerations = pod_spec("node-local")["tolerations"]
    assert {"operator": "Exists"} in tolerations  # no key and no effect: every taint


def secret_mentions(node: Any, path: str = "") -> list[str]:
    """Where in ``node`` a Secret is referenced (env, envFrom, volumes, projections)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "secretRef", "secret", "secretName"):
                found.append(f"{path}.{key}")
            found.extend(secret_mentions(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found.extend(secret_mentions(item, f"{path}[{i}]"))
    return found


def test_remote_write_references_no_secret_and_sends_to_its_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [m for o in render("remote-write") for m in secret_mentions(o)] == []
    assert secret_mentions(workload("single"))  # the search finds what is there
    settings = agent_settings("remote-write", monkeypatch)
    assert settings.sinks == ["remote_write"]
    assert settings.remote_write_url is not None
    assert settings.remote_write_url.endswith("/api/v1/write")
    assert settings.license is None
