"""The whole agent with its config in a ConfigMap (fake API server), and the Go-style default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from openagent.agent import Agent
from openagent.cli import main
from openagent.config.configmap_source import ConfigMapSource
from openagent.settings import DEFAULT_CONFIG_MAP, go_agent_config_map, load_settings
from openagent.telemetry import REGISTRY
from tests.kubefake import FakeKubeServer, objects
from tests.support import Exporter, eventually

NS = "whatap-monitoring"
KEY = "scrape_config.yaml"
TOKEN = "agent-configmap-token"


def config_text(job: str, port: int, interval: str = "1s") -> str:
    return f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: {job}
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:{port}
        interval: {interval}
"""


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Running:
    """An agent reading its config from ``kube`` and writing samples to a jsonl file."""

    def __init__(self, agent: Agent, out: Path, kube: FakeKubeServer) -> None:
        self.agent, self.out, self.kube = agent, out, kube

    async def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.agent.listen_port}{path}"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return r.status, await r.read()

    def jobs(self, name: str = "up") -> list[str]:
        """The job label of every sample of ``name`` written so far, in order."""
        if not self.out.exists():
            return []
        lines = [orjson.loads(x) for x in self.out.read_bytes().splitlines() if x]
        return [x["labels"]["job"] for x in lines if x["name"] == name]

    def put(self, text: str) -> dict[str, Any]:
        """Create the ConfigMap or replace its key; returns it as stored."""
        store = self.kube.store
        if store.get("configmaps", NS, DEFAULT_CONFIG_MAP) is None:
            return store.create(objects.config_map(DEFAULT_CONFIG_MAP, NS, {KEY: text}))

        def change(obj: dict[str, Any]) -> None:
            obj["data"][KEY] = text

        return store.modify("configmaps", NS, DEFAULT_CONFIG_MAP, change)

    def jobs_running(self) -> set[str]:
        return {loop.target.job for loop in self.agent.manager.loops.values()}


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def running(
    kube: FakeKubeServer, exporter: Exporter, tmp_path: Path
) -> AsyncIterator[Running]:
    """The agent as the operator runs it: ConfigMap by name; a mounted file it must ignore."""
    exporter.body = b"# TYPE dcgm_test gauge\ndcgm_test 1\n"
    mounted = tmp_path / "scrape_config.yaml"
    mounted.write_text(config_text("from-file", exporter.port))
    out = tmp_path / "out.jsonl"
    settings = load_settings(
        config=str(mounted),
        config_map=DEFAULT_CONFIG_MAP,
        pod_namespace=NS,
        kubeconfig=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        listen="127.0.0.1:0",
        jsonl_path=str(out),
        sinks="jsonl",
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    await eventually(lambda: agent.listen_port)
    yield Running(agent, out, kube)
    agent.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


async def test_configmap_update_changes_what_is_scraped(
    running: Running, exporter: Exporter
) -> None:
    running.put(config_text("gpu-a", exporter.port))
    await eventually(lambda: "gpu-a" in running.jobs())
    status, body = await eventually(lambda: running.get("/readyz"))
    assert status == 200, body
    _, body = await running.get("/config")
    view = orjson.loads(body)
    assert view["source"] == f"configmap {NS}/{DEFAULT_CONFIG_MAP}:{KEY}"
    assert view["config"]["targets"][0]["target_name"] == "gpu-a"

    running.put(config_text("gpu-b", exporter.port))
    await eventually(lambda: running.jobs_running() == {"gpu-b"})
    seen = len(running.jobs())
    await eventually(lambda: "gpu-b" in running.jobs()[seen:])
    assert "from-file" not in running.jobs()  # the mounted file is never read
    assert metric("openagent_config_last_reload_successful") == 1


async def test_invalid_then_identical_content(running: Running, exporter: Exporter) -> None:
    good = config_text("gpu-a", exporter.port)
    running.put(good)
    await eventually(lambda: running.jobs_running() == {"gpu-a"})
    loops = dict(running.agent.manager.loops)
    successes = metric("openagent_config_reloads_total", result="success")

    running.put(config_text("gpu-a", exporter.port, interval="15x"))
    await eventually(lambda: metric("openagent_config_last_reload_successful") == 0)
    assert running.agent.manager.loops == loops  # the last good config keeps running
    assert running.agent.loaded is not None
    assert "targets[0].endpoints[0].interval" in (running.agent.config_error or "")

    running.put(good)  # back to the last good content: the error clears
    await eventually(lambda: metric("openagent_config_last_reload_successful") == 1)
    assert running.agent.config_error is None
    assert running.agent.manager.loops == loops
    successes += 1
    assert metric("openagent_config_reloads_total", result="success") == successes

    source = running.agent.config_source
    assert isinstance(source, ConfigMapSource)
    touched = running.kube.store.patch_labels(
        "configmaps", NS, DEFAULT_CONFIG_MAP, {"touched": "yes"}
    )
    await eventually(lambda: source.resource_version == touched["metadata"]["resourceVersion"])
    await asyncio.sleep(0.1)
    assert metric("openagent_config_reloads_total", result="success") == successes


async def test_missing_configmap_at_start_is_picked_up(
    running: Running, exporter: Exporter
) -> None:
    async def not_ready() -> bytes | None:
        status, body = await running.get("/readyz")
        return body if status != 200 and b"not found" in body else None

    body = await eventually(not_ready)
    assert f"ConfigMap '{DEFAULT_CONFIG_MAP}' not found in namespace '{NS}'".encode() in body
    assert metric("openagent_config_last_reload_successful") == 0
    running.put(config_text("gpu-a", exporter.port))
    await eventually(lambda: "gpu-a" in running.jobs())
    status, _ = await eventually(lambda: running.get("/readyz"))
    assert status == 200


# -- the Go agent's invocation ----------------------------------------------


@pytest.fixture
def go_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Capture what ``main`` hands to ``run`` instead of running the agent."""
    import openagent.agent

    seen: list[dict[str, Any]] = []

    async def run(*, config_named: bool = False, **overrides: Any) -> int:
        seen.append(overrides)
        return 0

    monkeypatch.setattr(openagent.agent, "run", run)
    monkeypatch.delenv("OPENAGENT_CONFIG_MAP", raising=False)
    return seen


@pytest.mark.parametrize("argv", [[], ["-d"], ["foreground"]])
def test_go_style_start_in_a_cluster_reads_the_operator_configmap(
    argv: list[str], go_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert main(argv) == 0
    assert go_runs[0]["config_map"] == DEFAULT_CONFIG_MAP == "whatap-open-agent-config"
    settings = load_settings(**go_runs[0])
    assert settings.config_map == DEFAULT_CONFIG_MAP and settings.config_map_key == KEY


@pytest.mark.parametrize(
    ("argv", "cluster"),
    [
        (["standalone"], True),
        (["foreground", "standalone"], True),
        ([], False),
        (["-d"], False),
        (["run"], True),
    ],
)
def test_standalone_own_invocation_or_no_cluster_keep_the_file(
    argv: list[str],
    cluster: bool,
    go_runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # outside a cluster, a bare start needs a config file here
    (tmp_path / "scrape_config.yaml").write_text("features: {}\n")
    if cluster:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    else:
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main(argv) == 0
    assert go_runs[0]["config_map"] is None
    assert load_settings(**go_runs[0]).config_map is None


def test_an_explicit_configmap_wins(
    go_runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("OPENAGENT_CONFIG_MAP", "my-config")
    assert main([]) == 0
    assert load_settings(**go_runs[0]).config_map == "my-config"
    assert go_agent_config_map([], {"KUBERNETES_SERVICE_HOST": "h"}) == DEFAULT_CONFIG_MAP
    explicit = {"KUBERNETES_SERVICE_HOST": "h", "OPENAGENT_CONFIG_MAP": "x"}
    assert go_agent_config_map([], explicit) is None


def test_bad_configmap_settings_are_named() -> None:
    from openagent.settings import SettingsError

    with pytest.raises(SettingsError) as err:
        load_settings(config_map="Not_A_Name", config_map_key="a/b")
    text = str(err.value)
    assert "config_map (OPENAGENT_CONFIG_MAP, --config-map): expected a ConfigMap name" in text
    assert "config_map_key (OPENAGENT_CONFIG_MAP_KEY, --config-map-key)" in text
