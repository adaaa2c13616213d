"""The ConfigMap config source against the fake API server: load, change, errors, recovery."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from openagent.config import ConfigError, ConfigLimits, LoadedConfig
from openagent.config.configmap_source import ConfigMapSource
from openagent.kube import DEFAULT_NAMESPACE, Cluster, KubeConfigError, own_namespace
from openagent.kube.client import KubeClient, connect
from openagent.kube.prune import prune
from tests.kube.support import FAST, TIMEOUTS
from tests.kubefake import FakeKubeServer, objects
from tests.support import eventually

NS = "whatap-monitoring"
NAME = "whatap-open-agent-config"
KEY = "scrape_config.yaml"


def config_text(target: str, interval: str = "15s") -> str:
    return f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: {target}
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:9400
        interval: {interval}
"""


class Recorder:
    """What the source reported, in order."""

    def __init__(self) -> None:
        self.changes: list[LoadedConfig] = []
        self.errors: list[ConfigError] = []
        self.order: list[str] = []

    async def on_change(self, loaded: LoadedConfig) -> None:
        self.changes.append(loaded)
        self.order.append("change")

    async def on_error(self, error: ConfigError) -> None:
        self.errors.append(error)
        self.order.append("error")

    def targets(self) -> list[str]:
        """The target name of each reported config."""
        return [c.config.targets[0].target_name for c in self.changes]

    def error_texts(self) -> list[str]:
        return ["; ".join(str(p) for p in e.problems) for e in self.errors]


Start = Callable[..., tuple[ConfigMapSource, Recorder]]


@pytest.fixture
async def start_source(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[Start]:
    """Start sources against ``kube`` (FAST informer options); cancelled at teardown."""
    tasks: list[asyncio.Task[None]] = []
    clusters: list[Cluster] = []
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def make_client() -> KubeClient:
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    def start(
        name: str = NAME,
        key: str = KEY,
        namespace: str = NS,
        make: Callable[[], Awaitable[KubeClient]] = make_client,
    ) -> tuple[ConfigMapSource, Recorder]:
        rec = Recorder()
        cluster = Cluster(make, FAST)
        clusters.append(cluster)
        source = ConfigMapSource(
            cluster, namespace, name, key, rec.on_change, rec.on_error, retry=FAST
        )
        tasks.append(asyncio.create_task(source.run()))
        return source, rec

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for cluster in clusters:
        await cluster.close()


def put(kube: FakeKubeServer, text: str, **extra: str) -> dict[str, Any]:
    """Create the ConfigMap, or replace its data; returns it as stored."""
    data = {KEY: text, **extra}
    if kube.store.get("configmaps", NS, NAME) is None:
        return kube.store.create(objects.config_map(NAME, NS, data))

    def change(obj: dict[str, Any]) -> None:
        obj["data"] = data

    return kube.store.modify("configmaps", NS, NAME, change)


async def test_initial_load_watches_one_configmap_by_field_selector(
    kube: FakeKubeServer, start_source: Start
) -> None:
    put(kube, config_text("gpu-a"))
    kube.store.create(objects.config_map("other", NS, {KEY: config_text("other")}))
    source, rec = start_source()
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"] and rec.errors == []
    assert source.name == f"configmap {NS}/{NAME}:{KEY}"
    await kube.wait_for_watches(1, "configmaps")
    requests = kube.requests_for("configmaps")
    assert {r.verb for r in requests} == {"list", "watch"}
    for r in requests:
        assert r.namespace == NS
        assert r.query.get("fieldSelector") == f"metadata.name={NAME}"


async def test_a_change_is_reported_and_identical_content_is_not(
    kube: FakeKubeServer, start_source: Start
) -> None:
    put(kube, config_text("gpu-a"))
    source, rec = start_source()
    await eventually(lambda: rec.changes)
    put(kube, config_text("gpu-b"))
    await eventually(lambda: len(rec.changes) == 2)
    assert rec.targets() == ["gpu-a", "gpu-b"]

    async def examined(obj: dict[str, Any]) -> None:
        rv = obj["metadata"]["resourceVersion"]
        await eventually(lambda: source.resource_version == rv)
        await asyncio.sleep(0.1)  # time for a (wrong) report to land, if one were made

    # The same content under the key: a new label, then another key changed.
    await examined(kube.store.patch_labels("configmaps", NS, NAME, {"touched": "yes"}))
    assert len(rec.changes) == 2
    await examined(put(kube, config_text("gpu-b"), notes="unrelated"))
    assert len(rec.changes) == 2
    put(kube, config_text("gpu-c"))
    await eventually(lambda: len(rec.changes) == 3)
    assert rec.targets() == ["gpu-a", "gpu-b", "gpu-c"]
    assert rec.errors == []


async def test_an_invalid_change_is_an_error_naming_the_configmap_and_path(
    kube: FakeKubeServer, start_source: Start
) -> None:
    good = config_text("gpu-a")
    put(kube, good)
    _, rec = start_source()
    await eventually(lambda: rec.changes)
    put(kube, config_text("gpu-a", interval="15x"))
    await eventually(lambda: rec.errors)
    text = rec.error_texts()[0]
    assert f"configmap {NS}/{NAME}:{KEY}: targets[0].endpoints[0].interval" in text
    assert "'15x' is not a duration" in text
    # The last good content again is reported, so the caller can clear its error.
    put(kube, good)
    await eventually(lambda: len(rec.changes) == 2)
    assert rec.changes[1].digest == rec.changes[0].digest
    assert rec.order == ["change", "error", "change"]


async def test_missing_configmap_then_created(kube: FakeKubeServer, start_source: Start) -> None:
    _, rec = start_source()
    await eventually(lambda: rec.errors)
    assert rec.error_texts() == [
        f"configmap {NS}/{NAME}:{KEY}: ConfigMap '{NAME}' not found in namespace '{NS}'; "
        "waiting for it to be created"
    ]
    assert rec.changes == []
    put(kube, config_text("gpu-a"))
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"] and len(rec.errors) == 1


async def test_missing_key_names_the_keys_there(kube: FakeKubeServer, start_source: Start) -> None:
    kube.store.create(objects.config_map(NAME, NS, {"config.yaml": config_text("x")}))
    _, rec = start_source()
    await eventually(lambda: rec.errors)
    assert rec.error_texts()[0].endswith(
        f"the ConfigMap has no key '{KEY}' (its keys: config.yaml)"
    )
    put(kube, config_text("gpu-a"))
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"]


async def test_deletion_keeps_reporting_an_error_until_it_is_back(
    kube: FakeKubeServer, start_source: Start
) -> None:
    put(kube, config_text("gpu-a"))
    _, rec = start_source()
    await eventually(lambda: rec.changes)
    kube.store.delete("configmaps", NS, NAME)
    await eventually(lambda: rec.errors)
    assert "the ConfigMap was deleted; keeping the last good config" in rec.error_texts()[0]
    put(kube, config_text("gpu-a"))  # the same content as before
    await eventually(lambda: len(rec.changes) == 2)
    assert rec.order == ["change", "error", "change"]


async def test_forbidden_is_one_error_naming_the_permission(
    kube: FakeKubeServer, start_source: Start
) -> None:
    put(kube, config_text("gpu-a"))
    kube.faults.forbid("configmaps")
    _, rec = start_source()
    await eventually(lambda: rec.errors)
    await eventually(lambda: len(kube.requests_for("configmaps", "list")) >= 4)
    assert len(rec.errors) == 1  # retried, reported once
    text = rec.error_texts()[0]
    assert f"cannot list configmaps in namespace {NS}" in text
    assert "grant list/watch on configmaps (RBAC)" in text
    assert "system:serviceaccount:" in text
    kube.faults.clear()
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"]


async def test_api_server_down_at_start(kube: FakeKubeServer, start_source: Start) -> None:
    put(kube, config_text("gpu-a"))
    await kube.stop()
    _, rec = start_source()
    await eventually(lambda: rec.errors)
    assert f"list configmaps in namespace {NS} failed: ConnectionError" in rec.error_texts()[0]
    assert rec.changes == []
    await kube.start()
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"]


async def test_no_connection_is_retried(
    kube: FakeKubeServer, start_source: Start, tmp_path: Path
) -> None:
    put(kube, config_text("gpu-a"))
    attempts = 0
    kubeconfig = kube.write_kubeconfig(tmp_path / "later-kubeconfig")

    async def flaky() -> KubeClient:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise KubeConfigError("no kubeconfig: /nowhere does not exist")
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    _, rec = start_source(make=flaky)
    await eventually(lambda: rec.changes)
    assert attempts == 4
    assert rec.error_texts() == [
        f"configmap {NS}/{NAME}:{KEY}: no Kubernetes connection: "
        "no kubeconfig: /nowhere does not exist"
    ]


async def test_binary_data_is_read_and_bad_bytes_are_named(
    kube: FakeKubeServer, start_source: Start
) -> None:
    cm = objects.config_map(NAME, NS)
    cm["binaryData"] = {KEY: base64.b64encode(b"\xff\xfe not yaml").decode()}
    kube.store.create(cm)
    _, rec = start_source()
    await eventually(lambda: rec.errors)
    assert rec.error_texts()[0] == (
        f"configmap {NS}/{NAME}:{KEY}: is not valid UTF-8 (byte 0 is 0xff)"
    )

    def fix(obj: dict[str, Any]) -> None:
        obj["binaryData"] = {KEY: base64.b64encode(config_text("gpu-a").encode()).decode()}

    kube.store.modify("configmaps", NS, NAME, fix)
    await eventually(lambda: rec.changes)
    assert rec.targets() == ["gpu-a"]


def test_namespace_order(tmp_path: Path) -> None:
    sa = tmp_path / "namespace"
    assert own_namespace("team-a", sa) == "team-a"
    assert own_namespace(None, sa) == DEFAULT_NAMESPACE == "whatap-monitoring"
    sa.write_text("gpu-ops\n")
    assert own_namespace(None, sa) == "gpu-ops"
    assert own_namespace("  ", sa) == "gpu-ops"
    assert own_namespace("team-a", sa) == "team-a"
    sa.write_text("")
    assert own_namespace(None, sa) == DEFAULT_NAMESPACE


def test_prune_keeps_metadata_and_data() -> None:
    cm = objects.config_map(NAME, NS, {KEY: "x"}, labels={"app": "a"})
    cm["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    cm["binaryData"] = {"b": "AA=="}
    cm["immutable"] = False
    pruned = prune("configmaps", cm)
    assert set(pruned) == {"metadata", "data", "binaryData"}
    assert pruned["data"] == {KEY: "x"} and pruned["binaryData"] == {"b": "AA=="}
    assert pruned["metadata"]["labels"] == {"app": "a"}
    assert "managedFields" not in pruned["metadata"]


async def test_reload_fetches_the_configmap_without_waiting_for_the_watch(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    """What SIGHUP calls: a GET, reported as a watch event would be, and only when new."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def make_client() -> KubeClient:
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    rec = Recorder()
    cluster = Cluster(make_client, FAST)
    source = ConfigMapSource(cluster, NS, NAME, KEY, rec.on_change, rec.on_error, retry=FAST)
    try:
        assert await source.reload() is True  # not there yet
        assert rec.error_texts() == [
            f"configmap {NS}/{NAME}:{KEY}: ConfigMap '{NAME}' not found in namespace '{NS}'; "
            "waiting for it to be created"
        ]
        put(kube, config_text("gpu-a"))
        assert await source.reload() is True
        assert rec.targets() == ["gpu-a"]
        assert await source.reload() is False
        assert rec.targets() == ["gpu-a"] and len(rec.errors) == 1
        assert {r.verb for r in kube.requests_for("configmaps")} == {"get"}
    finally:
        await cluster.close()


async def test_a_value_over_the_limit_is_refused_before_it_is_encoded_or_decoded(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    async def make_client() -> KubeClient:
        return await connect(kubeconfig, timeouts=TIMEOUTS)

    rec = Recorder()
    cluster = Cluster(make_client, FAST)
    limits = ConfigLimits(max_bytes=len(config_text("gpu-a")))
    source = ConfigMapSource(
        cluster, NS, NAME, KEY, rec.on_change, rec.on_error, retry=FAST, limits=limits
    )
    try:
        put(kube, config_text("gpu-a") + "#")
        assert await source.reload() is True
        assert rec.error_texts() == [
            f"configmap {NS}/{NAME}:{KEY}: is {limits.max_bytes + 1:,} bytes, more than the "
            f"limit of {limits.max_bytes}B (--config-max-bytes); not loaded"
        ]
        big = base64.b64encode(b"#" * (limits.max_bytes + 3)).decode()
        kube.store.modify(
            "configmaps", NS, NAME, lambda o: o.update(data={}, binaryData={KEY: big})
        )
        assert await source.reload() is True
        assert len(rec.errors) == 2 and "more than the limit" in rec.error_texts()[1]
        put(kube, config_text("gpu-a"))
        assert await source.reload() is True
        assert rec.targets() == ["gpu-a"]
    finally:
        await cluster.close()
