"""Discovery against the fake API server: churn, faults, scale, and a real scrape."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from openagent import wiring
from openagent.agent import Agent
from openagent.commands import list_targets
from openagent.config import ScrapeConfig, load_config
from openagent.discovery import Discovery, DiscoveryOptions
from openagent.kube import Cluster, InformerOptions, KubeOptions, Timeouts
from openagent.kube.client import KubeClient, connect
from openagent.model import Target
from openagent.settings import load_settings
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as k
from tests.support import eventually

from .targets_support import config_of

FAST = InformerOptions(watch_timeout=(5, 10), backoff_initial=0.02, backoff_max=0.2)
TIMEOUTS = Timeouts(connect=2.0, read=5.0, watch_read=2.0)
STATIC = "http://127.0.0.1:19400/metrics"
REPO = Path(__file__).resolve().parents[2]

PODS = """
- targetName: dcgm
  type: PodMonitor
  namespaceSelector: {matchNames: [gpu]}
  selector: {matchLabels: {app: dcgm}}
  endpoints: [{port: metrics, addNodeLabel: true}]
- targetName: static
  type: StaticEndpoints
  endpoints: [{address: '127.0.0.1:19400'}]
"""


class Watcher:
    """A `Discovery` on the fake server that records every published set."""

    def __init__(self, kube: FakeKubeServer, kubeconfig: Path) -> None:
        self.kube = kube
        self.published: list[list[Target]] = []

        async def make_client() -> KubeClient:
            return await connect(kubeconfig, timeouts=TIMEOUTS)

        self.cluster = Cluster(make_client, FAST)
        options = DiscoveryOptions(debounce=0.05, max_delay=0.3)
        self.discovery = Discovery(self._record, options, self.cluster)
        self.task: asyncio.Task[None] | None = None

    async def _record(self, targets: list[Target]) -> None:
        self.published.append(targets)

    async def start(self, config: ScrapeConfig) -> None:
        await self.discovery.apply_config(config)
        self.task = asyncio.create_task(self.discovery.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.discovery.close()
        await self.cluster.close()

    @property
    def current(self) -> list[Target]:
        return self.published[-1] if self.published else []

    def urls(self) -> set[str]:
        return {t.url for t in self.current}

    async def until(self, urls: set[str], within: float = 10.0) -> list[Target]:
        await eventually(lambda: self.urls() == urls, within)
        return self.current


@pytest.fixture
async def watcher(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[Watcher]:
    w = Watcher(kube, kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield w
    await w.stop()


def dcgm(name: str, ip: str, ns: str = "gpu", **kw: Any) -> dict[str, Any]:
    return k.pod(name, ns, kw.pop("labels", {"app": "dcgm"}), ip=ip, **kw)


def url(ip: str, port: int = 9400) -> str:
    return f"http://{ip}:{port}/metrics"


async def test_pods_come_change_labels_change_ip_and_go(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    store = kube.store
    store.create(dcgm("a", "127.0.3.1", node="n1"))
    await watcher.start(config_of(PODS))
    (static,) = [t for t in watcher.current if t.url == STATIC]  # published before any sync
    targets = await watcher.until({STATIC, url("127.0.3.1")})
    (a,) = [t for t in targets if t.job == "dcgm"]
    assert dict(a.labels)["node"] == "n1" and dict(a.labels)["pod"] == "a"

    store.create(dcgm("b", "127.0.3.2"))
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})
    store.patch_labels("pods", "gpu", "a", {"app": "other"})
    await watcher.until({STATIC, url("127.0.3.2")})

    def move(obj: dict[str, Any]) -> None:
        obj["status"]["podIP"] = "127.0.3.9"
        obj["status"]["podIPs"] = [{"ip": "127.0.3.9"}]

    old = next(t for t in watcher.current if t.url == url("127.0.3.2"))
    store.modify("pods", "gpu", "b", move)
    moved = await watcher.until({STATIC, url("127.0.3.9")})
    new = next(t for t in moved if t.job == "dcgm")
    assert new.id != old.id and old.id not in {t.id for t in moved}

    store.mark_deleting("pods", "gpu", "b")
    await watcher.until({STATIC})
    store.delete("pods", "gpu", "b")
    store.create(dcgm("c", "127.0.3.3"))
    await watcher.until({STATIC, url("127.0.3.3")})
    store.delete("pods", "gpu", "c")
    await watcher.until({STATIC})
    # the static target was never replaced along the way
    assert all(static in published for published in watcher.published)


async def test_namespace_gains_and_loses_a_label(kube: FakeKubeServer, watcher: Watcher) -> None:
    store = kube.store
    store.create_many(
        [
            k.namespace("ml", {"gpu": "true"}),
            k.namespace("web"),
            dcgm("a", "127.0.3.1", ns="ml"),
            dcgm("b", "127.0.3.2", ns="web"),
        ]
    )
    cfg = config_of(PODS.replace("{matchNames: [gpu]}", "{matchLabels: {gpu: 'true'}}"))
    await watcher.start(cfg)
    await watcher.until({STATIC, url("127.0.3.1")})
    store.patch_labels("namespaces", None, "web", {"gpu": "true"})
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})
    store.patch_labels("namespaces", None, "ml", {"gpu": None})
    await watcher.until({STATIC, url("127.0.3.2")})
    assert {d.reason for d in watcher.discovery.kube_dropped} == {"namespace 'ml' not selected"}


async def test_watch_dropped_mid_stream(kube: FakeKubeServer, watcher: Watcher) -> None:
    kube.store.create(dcgm("a", "127.0.3.1"))
    await watcher.start(config_of(PODS))
    await watcher.until({STATIC, url("127.0.3.1")})
    await kube.wait_for_watches(1, "pods")
    started = kube.watches_started
    assert kube.drop_watches() == 1
    kube.store.create(dcgm("b", "127.0.3.2"))
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})
    assert kube.watches_started > started


async def test_history_expired_while_away(kube: FakeKubeServer, watcher: Watcher) -> None:
    kube.store.create_many([dcgm("a", "127.0.3.1"), dcgm("b", "127.0.3.2")])
    await watcher.start(config_of(PODS))
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})
    await kube.stop()
    kube.store.delete("pods", "gpu", "a")
    kube.store.create(dcgm("c", "127.0.3.3"))
    kube.store.compact()
    await kube.start()
    await watcher.until({STATIC, url("127.0.3.2"), url("127.0.3.3")})
    lists = kube.requests_for("pods", "list")
    assert len(lists) >= 2  # the expired watch led to a fresh list


async def test_api_server_down_at_start(kube: FakeKubeServer, watcher: Watcher) -> None:
    kube.store.create(dcgm("a", "127.0.3.1"))
    await kube.stop()
    await watcher.start(config_of(PODS))
    assert watcher.urls() == {STATIC}
    await eventually(
        lambda: watcher.discovery.waiting and "list pods" in watcher.discovery.waiting[0]
    )
    assert watcher.urls() == {STATIC}
    await kube.start()
    await watcher.until({STATIC, url("127.0.3.1")})
    assert watcher.discovery.waiting == []


async def test_no_cluster_configured_keeps_static_targets(tmp_path: Path) -> None:
    published: list[list[Target]] = []

    async def record(targets: list[Target]) -> None:
        published.append(targets)

    no_cluster = Cluster.of(KubeOptions(kubeconfig=tmp_path / "missing-kubeconfig"))
    discovery = Discovery(record, cluster=no_cluster)
    await discovery.apply_config(config_of(PODS))
    assert [t.url for t in published[-1]] == [STATIC]
    assert discovery.kube_error is not None and "missing-kubeconfig" in discovery.kube_error
    assert discovery.waiting == [
        f"targets[0] (dcgm): no Kubernetes connection: {discovery.kube_error}"
    ]
    await discovery.close()


async def test_forbidden_namespaces_named_and_matchnames_still_work(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    kube.faults.forbid("namespaces")
    kube.store.create_many(
        [
            k.namespace("ml", {"gpu": "true"}),
            dcgm("a", "127.0.3.1"),
            dcgm("b", "127.0.3.2", ns="ml"),
        ]
    )
    by_label = (
        PODS.replace("targetName: dcgm", "targetName: by-label")
        .replace("{matchNames: [gpu]}", "{matchLabels: {gpu: 'true'}}")
        .split("- targetName: static")[0]
    )
    await watcher.start(config_of(PODS + by_label))
    await watcher.until({STATIC, url("127.0.3.1")})
    waiting = await eventually(lambda: watcher.discovery.waiting)
    assert any(
        line.startswith("targets[2] (by-label): waiting for namespaces")
        and "grant list/watch on namespaces" in line
        and "need permission to list and watch namespaces" in line
        for line in waiting
    ), waiting
    kube.faults.clear()
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})


async def test_a_rollout_is_debounced(kube: FakeKubeServer, watcher: Watcher) -> None:
    await watcher.start(config_of(PODS))
    await eventually(lambda: kube.watch_count("pods") == 1)
    before = len(watcher.published)
    kube.store.create_many(
        dcgm(f"p{i}", f"127.0.4.{i % 250 + 1}" if i < 250 else f"127.0.5.{i - 249}")
        for i in range(500)
    )
    await eventually(lambda: sum(t.job == "dcgm" for t in watcher.current) == 500)
    await asyncio.sleep(0.3)
    assert len(watcher.published) - before <= 5


async def test_5000_pods_across_50_namespaces_converge_exactly(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    pods = []
    expected: dict[str, tuple[str, str]] = {}
    for n in range(50):
        ns = f"team-{n:02d}"
        pods.append(k.namespace(ns, {"gpu": "true"} if n % 5 else {}))
        for i in range(100):
            ip = f"127.{10 + n}.{i // 250}.{i % 250 + 1}"
            labels = {"app": "dcgm" if i % 10 else "other"}
            pods.append(k.pod(f"dcgm-{i}", ns, labels, ip=ip, node=f"node-{i % 7}"))
            if n % 5 and i % 10:
                expected[url(ip)] = (ns, f"dcgm-{i}")
    kube.store.create_many(pods)
    cfg = config_of(PODS.replace("{matchNames: [gpu]}", "{matchLabels: {gpu: 'true'}}"))
    await watcher.start(cfg)
    targets = await watcher.until({STATIC, *expected}, within=30)
    assert len(expected) == 3600
    for t in targets:
        if t.job == "dcgm":
            labels = dict(t.labels)
            assert (labels["namespace"], labels["pod"]) == expected[t.url]
    assert len({t.id for t in targets}) == len(targets) == 3601


async def test_operator_dcgm_exporter_auto_finds_the_node_agents(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    """The operator's injected target, read from config/ as rendered, on a node-agent DaemonSet."""
    gpu_nodes = [f"gpu-node-{i}" for i in range(3)]
    kube.store.create_many(
        [
            k.pod(
                f"whatap-node-agent-{n[-1]}",
                "whatap-monitoring",
                {"name": "whatap-node-agent", "whatap-gpu": "true"},
                node=n,
                host_network=True,
                containers=[
                    ("whatap-node-agent", [("helper", 6801)]),
                    ("dcgm-exporter", [("metrics", 9400)]),
                ],
            )
            for n in gpu_nodes
        ]
        + [k.pod("whatap-open-agent-0", "whatap-monitoring", {"name": "whatap-open-agent"})]
    )
    await watcher.start(load_config(REPO / "config" / "dcgm-exporter-auto.yaml").config)
    targets = await watcher.until({url(k.node_ip(n)) for n in gpu_nodes})
    for t in targets:
        labels = dict(t.labels)
        assert labels["job"] == "dcgm-exporter-auto"
        assert labels["instance"] == f"{k.node_ip(labels['node'])}:9400"
        assert (labels["container"], labels["endpoint"]) == ("dcgm-exporter", "9400")


SERVICES = """
- targetName: svc
  type: ServiceMonitor
  namespaceSelector: {matchNames: [gpu]}
  selector: {matchLabels: {app: dcgm-svc}}
  endpoints: [{port: "80"}]
"""


async def test_service_monitor_follows_endpoint_slices(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    store = kube.store
    a, b = dcgm("a", "127.0.3.1"), dcgm("b", "127.0.3.2")
    store.create_many(
        [
            a,
            b,
            k.service("dcgm", "gpu", {"app": "dcgm-svc"}, ports=[("http", 80, 8080)]),
            k.endpoint_slice(
                "dcgm",
                "gpu",
                [("127.0.3.1", True, False, a), ("127.0.3.2", True, False, b)],
                ports=[("http", 8080)],
                name="dcgm-1",
            ),
        ]
    )
    await watcher.start(config_of(SERVICES))
    targets = await watcher.until({url("127.0.3.1", 8080), url("127.0.3.2", 8080)})
    assert {dict(t.labels)["pod"] for t in targets} == {"a", "b"}
    assert {dict(t.labels)["service"] for t in targets} == {"dcgm"}

    def terminating(obj: dict[str, Any]) -> None:
        obj["endpoints"][1]["conditions"] = {"ready": False, "serving": True, "terminating": True}

    store.modify("endpointslices", "gpu", "dcgm-1", terminating)
    await watcher.until({url("127.0.3.1", 8080)})
    store.patch_labels("services", "gpu", "dcgm", {"app": None})
    await watcher.until(set())


async def test_node_local_mode(kube: FakeKubeServer, tmp_path: Path) -> None:
    kube.store.create_many([dcgm("a", "127.0.3.1", node="n1"), dcgm("b", "127.0.3.2", node="n2")])
    settings = load_settings(
        kubeconfig=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        node_local=True,
        NODE_NAME="n2",
    )
    published: list[list[Target]] = []

    async def record(targets: list[Target]) -> None:
        published.append(targets)

    cluster = wiring.cluster(settings)
    options = dataclasses.replace(wiring.discovery_options(settings), debounce=0.05)
    discovery = Discovery(record, options, cluster)
    await discovery.apply_config(config_of(PODS))
    task = asyncio.create_task(discovery.run())
    try:
        await eventually(lambda: {t.url for t in published[-1]} == {STATIC, url("127.0.3.2")})
        (watch,) = kube.requests_for("pods", "watch")[:1]
        assert watch.query["fieldSelector"] == "spec.nodeName=n2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await discovery.close()
        await cluster.close()


def test_node_local_mode_needs_the_node_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)

    async def record(targets: list[Target]) -> None:
        pass

    with pytest.raises(ValueError, match="NODE_NAME"):
        wiring.discovery_options(load_settings(node_local=True))


async def test_reload_keeps_targets_until_the_new_informer_syncs(
    kube: FakeKubeServer, watcher: Watcher
) -> None:
    kube.store.create_many(
        [dcgm("a", "127.0.3.1"), dcgm("b", "127.0.3.2", labels={"app": "dcgm2"})]
    )
    await watcher.start(config_of(PODS))
    await watcher.until({STATIC, url("127.0.3.1")})
    kube.faults.stall_requests = True
    widened = PODS.replace(
        "{matchLabels: {app: dcgm}}",
        "{matchExpressions: [{key: app, operator: In, values: [dcgm, dcgm2]}]}",
    )
    await watcher.discovery.apply_config(config_of(widened))
    assert watcher.urls() == {STATIC, url("127.0.3.1")}
    assert watcher.discovery.waiting == ["targets[0] (dcgm): waiting for pods in namespace gpu"]
    kube.faults.stall_requests = False
    await watcher.until({STATIC, url("127.0.3.1"), url("127.0.3.2")})


class Exporter:
    """A dcgm-exporter look-alike bound to one loopback address."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.scrapes = 0
        self.runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        async def handle(_: web.Request) -> web.Response:
            self.scrapes += 1
            body = (
                "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
                f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",at="{self.host}"}} 42\n'
            )
            return web.Response(text=body, content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_discovered_pod_is_scraped_and_follows_its_ip(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    first, second = Exporter("127.0.3.7"), Exporter("127.0.3.8")
    await first.start()
    await second.start(first.port)
    kube.store.create(
        k.pod(
            "dcgm-exporter-x1",
            "gpu-monitoring",
            {"app": "custom-dcgm"},
            ip="127.0.3.7",
            node="gpu-node-1",
            containers=[("dcgm-exporter", [("metrics", first.port)])],
        )
    )
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: custom-dcgm\n      type: PodMonitor\n"
        "      namespaceSelector: {matchNames: [gpu-monitoring]}\n"
        "      selector: {matchLabels: {app: custom-dcgm}}\n"
        "      endpoints: [{port: metrics, interval: 1s, addNodeLabel: true}]\n"
    )
    out = tmp_path / "out.jsonl"
    settings = load_settings(
        config=str(cfg),
        kubeconfig=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        listen="127.0.0.1:0",
        jsonl_path=str(out),
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())

    def samples(at: str) -> list[dict[str, Any]]:
        lines = (
            [orjson.loads(x) for x in out.read_bytes().splitlines() if x] if out.exists() else []
        )
        return [x for x in lines if x["name"] == "DCGM_FI_DEV_GPU_UTIL" and x["labels"]["at"] == at]

    try:
        (sample, *_) = await eventually(lambda: samples("127.0.3.7"))
        labels = sample["labels"]
        assert {
            k: labels[k] for k in ("job", "namespace", "pod", "container", "endpoint", "node")
        } == {
            "job": "custom-dcgm",
            "namespace": "gpu-monitoring",
            "pod": "dcgm-exporter-x1",
            "container": "dcgm-exporter",
            "endpoint": "metrics",
            "node": "gpu-node-1",
        }
        assert labels["instance"] == f"127.0.3.7:{first.port}"

        def move(obj: dict[str, Any]) -> None:
            obj["status"]["podIP"] = "127.0.3.8"
            obj["status"]["podIPs"] = [{"ip": "127.0.3.8"}]

        kube.store.modify("pods", "gpu-monitoring", "dcgm-exporter-x1", move)
        await eventually(lambda: samples("127.0.3.8"))
        await asyncio.sleep(0.2)
        left = first.scrapes
        await eventually(lambda: second.scrapes >= 2)
        assert first.scrapes == left  # the old address is no longer scraped
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
        await first.stop()
        await second.stop()


# -- openagent targets ----------------------------------------------------------


def cli_cluster(kube: FakeKubeServer) -> None:
    kube.store.create_many(
        [
            k.pod(
                f"whatap-node-agent-{i}",
                "whatap-monitoring",
                {"name": "whatap-node-agent"},
                node=f"gpu-node-{i}",
                host_network=True,
            )
            for i in range(2)
        ]
        + [
            k.pod(
                "whatap-node-agent-2",
                "whatap-monitoring",
                {"name": "whatap-node-agent"},
                phase="Pending",
                ip=None,
            ),
            k.pod("custom-0", "gpu-monitoring", {"app": "custom-dcgm"}, ip="127.0.5.1"),
            k.pod(
                "custom-1",
                "gpu-monitoring",
                {"app": "custom-dcgm"},
                ip="127.0.5.2",
                containers=[("dcgm", [("http", 9400)])],
            ),
        ]
    )


async def test_targets_command_lists_targets_and_drop_reasons(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    cli_cluster(kube)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openagent",
        "targets",
        "--config",
        str(REPO / "config" / "hybrid.yaml"),
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
    out = out_b.decode()
    assert proc.returncode == 0, err_b.decode()
    lines = out.splitlines()
    for i in range(2):
        ip = k.node_ip(f"gpu-node-{i}")
        assert any(
            line.startswith(f'http://{ip}:9400/metrics\t{{job="dcgm-exporter-auto"')
            and f'pod="whatap-node-agent-{i}"' in line
            and line.count('node="') == 1
            for line in lines
        ), out
    assert any(
        line.startswith('http://127.0.5.1:9400/metrics\t{job="custom-dcgm"') for line in lines
    )
    assert (
        "dropped\ttargets[0].endpoints[0] (dcgm-exporter-auto) pod "
        "whatap-monitoring/whatap-node-agent-2: pod not Running (phase Pending)"
    ) in lines
    assert (
        "dropped\ttargets[1].endpoints[0] (custom-dcgm) pod gpu-monitoring/custom-1: "
        "port 'metrics' not found (named ports: http)"
    ) in lines
    assert any(line.startswith("http://127.0.0.1:19400/metrics\t") for line in lines)
    assert (
        "empty\ttargets[2] (dcgm-exporter-service): no services labelled app=dcgm-exporter "
        "in namespace whatap-monitoring"
    ) in lines
    assert "failed" not in out


async def run_targets(
    kube: FakeKubeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], wait: float = 5.0
) -> tuple[int, str, str]:
    cfg = load_config(REPO / "config" / "customer-dcgm.yaml")
    kubeconfig = str(kube.write_kubeconfig(tmp_path / "kubeconfig"))
    code = await list_targets(cfg, kubeconfig, wait)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_targets_command_says_which_permission_is_missing(
    kube: FakeKubeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube.faults.forbid("pods", namespace="gpu-monitoring")
    code, out, _ = await run_targets(kube, tmp_path, capsys)
    assert code == 1
    (failed,) = [line for line in out.splitlines() if line.startswith("failed\t")]
    assert failed.startswith(
        "failed\ttargets[0] (custom-dcgm): waiting for pods in namespace gpu-monitoring: "
        "cannot list pods in namespace gpu-monitoring: grant list/watch on pods (RBAC)"
    ), out


async def test_targets_command_when_the_api_server_is_unreachable(
    kube: FakeKubeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    await kube.stop()
    cfg = load_config(REPO / "config" / "customer-dcgm.yaml")
    code = await list_targets(cfg, str(kubeconfig), 5.0)
    out = capsys.readouterr().out
    assert code == 1
    assert "failed\ttargets[0] (custom-dcgm): waiting for pods in namespace gpu-monitoring" in out
    assert "Cannot connect to host 127.0.0.1" in out


async def test_targets_command_times_out(
    kube: FakeKubeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube.faults.stall_requests = True
    try:
        code, _, err = await run_targets(kube, tmp_path, capsys, wait=0.3)
    finally:
        kube.faults.stall_requests = False
    assert code == 1
    assert "timeout: no answer for pods in namespace gpu-monitoring" in err


async def test_targets_command_with_a_bad_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(REPO / "config" / "customer-dcgm.yaml")
    code = await list_targets(cfg, str(tmp_path / "nope"), 1.0)
    out = capsys.readouterr().out
    assert code == 2
    assert out.startswith(
        "skipped\ttargets[0] (custom-dcgm): PodMonitor needs Kubernetes discovery"
    )
    assert str(tmp_path / "nope") in out
