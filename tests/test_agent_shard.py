"""Three agent processes share 60 targets by live membership from the (fake) Kubernetes API.

Each agent is ``openagent run`` with its own POD_NAME, the shared
POD_NAMESPACE and OPENAGENT_SHARD_SELECTOR, and a kubeconfig for the fake API
server, which holds the three agent pods and 60 dcgm-exporter pods whose
addresses the loopback fleet listens on. Who scrapes what is read from each
agent's own ``openagent_target_scrapes_total``: over a stretch in which every
target was scraped at least `ROUNDS` times, the agents whose counter of a
target grew are its scrapers, and there must be exactly one, the member
rendezvous hashing names. A killed agent whose pod turns unready (as the
kubelet reports it) leaves its targets to the two others; back and Ready, it
takes exactly its own share back. Nothing is ever marked stale: no target
left discovery, targets only changed hands. One agent runs two worker
processes, so handing over also crosses the agent-worker link.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.fleet import Fleet
from openagent.agent import run
from openagent.rendezvous import owner
from tests.kubefake import FakeKubeServer, objects
from tests.support import eventually
from tests.test_agent import REPO
from tests.test_agent_workers import DEADLINE, AgentProcess

NS = "whatap-monitoring"
GPU_NS = "gpu"
SELECTOR = "app.kubernetes.io/name=openagent"
AGENTS = ("openagent-0", "openagent-1", "openagent-2")
TARGETS = 60
ROUNDS = 2
SCRAPES = re.compile(r'openagent_target_scrapes_total\{.*instance="([^"]+)".*result="success"')

CONFIG = f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: PodMonitor
      namespaceSelector: {{matchNames: [{GPU_NS}]}}
      selector: {{matchLabels: {{app: dcgm}}}}
      endpoints:
      - port: metrics
        interval: 1s
"""


def agent_pod(name: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "openagent"}
    return objects.pod(name, NS, labels, ip="127.0.0.1", owner=("StatefulSet", "openagent"))


def set_ready(kube: FakeKubeServer, name: str, ready: bool) -> None:
    """Flip the pod's Ready condition, as the kubelet does when probes fail or pass again."""

    def change(pod: dict[str, Any]) -> None:
        for condition in pod["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["status"] = "True" if ready else "False"

    kube.store.modify("pods", NS, name, change)


class Cluster:
    """The fake API server, the fleet behind the dcgm pods, and the agent processes."""

    def __init__(self, kube: FakeKubeServer, fleet: Fleet, tmp: Path) -> None:
        self.kube, self.fleet, self.tmp = kube, fleet, tmp
        self.kubeconfig = kube.write_kubeconfig(tmp / "kubeconfig")
        self.config = tmp / "scrape_config.yaml"
        self.config.write_text(CONFIG)
        self.agents: dict[str, AgentProcess] = {}
        self.ids: dict[str, str] = {}  # instance -> target id

    async def start(self, name: str, *flags: str) -> AgentProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env |= {
            "POD_NAME": name,
            "POD_NAMESPACE": NS,
            "KUBECONFIG": str(self.kubeconfig),
            "OPENAGENT_SHARD_SELECTOR": SELECTOR,
        }
        log = self.tmp / f"{name}-{len(self.agents)}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "openagent", "run", "--config", str(self.config)),
                *("--listen", "127.0.0.1:0", "--log-format", "json"),
                *("--jsonl-path", str(self.tmp / f"{name}.jsonl")),
                *flags,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=out,
            )
        agent = AgentProcess(proc, log)
        self.agents[name] = agent
        await agent.started()
        return agent

    def stale_lines(self) -> list[bytes]:
        """Every stale marker any agent has written."""
        return [
            line
            for path in self.tmp.glob("openagent-*.jsonl")
            for line in path.read_bytes().splitlines()
            if b'"stale":true' in line
        ]

    async def scrape_counts(self, alive: tuple[str, ...]) -> dict[tuple[str, str], float]:
        counts = {}
        for name in alive:
            for line in await self.agents[name].metric(r"openagent_target_scrapes_total\{"):
                found = SCRAPES.match(line)
                if found:
                    counts[(name, found.group(1))] = float(line.rsplit(" ", 1)[1])
        return counts

    async def scrapers(self, alive: tuple[str, ...]) -> dict[str, set[str]]:
        """Per target instance, the agents that scraped it while every one got `ROUNDS` scrapes."""
        before = await self.scrape_counts(alive)
        grown: dict[str, set[str]] = {}

        async def every_target_scraped() -> bool:
            after = await self.scrape_counts(alive)
            grown.clear()
            total: dict[str, float] = {}
            for (name, instance), n in after.items():
                delta = n - before.get((name, instance), 0.0)
                if delta > 0:
                    grown.setdefault(instance, set()).add(name)
                    total[instance] = total.get(instance, 0.0) + delta
            return len(total) == TARGETS and min(total.values()) >= ROUNDS

        await eventually(every_target_scraped, DEADLINE)
        return grown

    async def learn_ids(self, alive: tuple[str, ...]) -> None:
        """Target ids by instance, from the agents' ``/targets``."""
        for name in alive:
            for row in await self.agents[name].targets():
                self.ids[row["instance"]] = row["id"]

    async def shared_exactly_once(self, alive: tuple[str, ...]) -> dict[str, str]:
        """Wait until each target is scraped by exactly one agent, its rendezvous owner
        among ``alive``; return the owner of each instance."""
        last: dict[str, set[str]] = {}

        async def settled() -> bool:
            nonlocal last
            last = await self.scrapers(alive)
            await self.learn_ids(alive)
            want = {i: {owner(self.ids[i], alive)} for i in last if i in self.ids}
            return len(want) == TARGETS and last == want

        try:
            await eventually(settled, 2 * DEADLINE)
        except TimeoutError:
            twice = {i: s for i, s in last.items() if len(s) != 1}
            pytest.fail(f"not shared exactly once among {alive}: scraped by several {twice}")
        return {i: next(iter(s)) for i, s in last.items()}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with (
        FakeKubeServer(token="shard-token", bookmark_interval=0.2) as kube,
        Fleet(TARGETS, gpus=1, families=3, ip_per_node=True, node_port=0) as fleet,
    ):
        for node in fleet.nodes:
            kube.store.create(
                objects.pod(
                    f"dcgm-exporter-{node.index}",
                    GPU_NS,
                    {"app": "dcgm"},
                    ip=node.host,
                    containers=(("dcgm-exporter", (("metrics", node.port),)),),
                )
            )
        for name in AGENTS:
            kube.store.create(agent_pod(name))
        made = Cluster(kube, fleet, tmp_path)
        try:
            yield made
        finally:
            for agent in made.agents.values():
                if agent.proc.returncode is None:
                    agent.proc.kill()
                    await agent.proc.wait()


async def ready(agent: AgentProcess) -> bool:
    return (await agent.get("/readyz")).startswith(b"ready")


async def test_three_agents_share_the_targets_and_take_over_from_a_killed_one(
    cluster: Cluster,
) -> None:
    # openagent-0 scrapes in two worker processes: a target it hands over leaves a worker.
    started = await asyncio.gather(
        cluster.start(AGENTS[0], "--workers", "2"), *(cluster.start(n) for n in AGENTS[1:])
    )
    for agent in started:
        await eventually(lambda agent=agent: ready(agent), DEADLINE)
    first = await cluster.shared_exactly_once(AGENTS)
    assert set(first.values()) == set(AGENTS)

    killed = cluster.agents["openagent-2"]
    killed.proc.kill()
    await killed.proc.wait()
    set_ready(cluster.kube, "openagent-2", False)
    survivors = AGENTS[:2]
    second = await cluster.shared_exactly_once(survivors)
    moved = {i for i in first if first[i] != second[i]}
    assert moved == {i for i in first if first[i] == "openagent-2"}  # only the dead one's

    await cluster.start("openagent-2")
    set_ready(cluster.kube, "openagent-2", True)
    third = await cluster.shared_exactly_once(AGENTS)
    back = {i for i in third if third[i] != second[i]}
    assert back == {i for i in third if owner(cluster.ids[i], AGENTS) == "openagent-2"}
    assert third == first and 0 < len(back) < TARGETS
    assert cluster.stale_lines() == []  # handed over, never marked stale

    members = await cluster.agents["openagent-0"].metric(r"openagent_shard_members ")
    assert members == ["openagent_shard_members 3.0"]
    for name in AGENTS:
        rows: list[dict[str, Any]] = orjson.loads(await cluster.agents[name].get("/targets"))
        assert {r["instance"] for r in rows} == {i for i in third if third[i] == name}
        assert {r.get("shard") for r in rows} == {name}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"shard_selector": SELECTOR, "pod_namespace": NS},
            "OPENAGENT_SHARD_SELECTOR needs POD_NAME (from the downward API",
        ),
        (
            {"shard_selector": SELECTOR, "pod_name": "openagent-0"},
            "OPENAGENT_SHARD_SELECTOR needs POD_NAMESPACE",
        ),
        (
            {"shard_selector": "app in (", "pod_name": "openagent-0", "pod_namespace": NS},
            "OPENAGENT_SHARD_SELECTOR: 'app in (' in the label selector",
        ),
        (
            {"shard_selector": SELECTOR, "shard_count": "2", "pod_name": "a", "pod_namespace": NS},
            "are two ways to share the targets; set one",
        ),
        ({"shard_count": "3"}, "POD_NAME (unset) does not end in a StatefulSet ordinal"),
        (
            {"shard_count": "3", "pod_name": "openagent-3"},
            "the shard index 3, the ordinal of POD_NAME openagent-3, is not below",
        ),
        ({"shard_count": "2", "shard_index": "2"}, "shard_index 2 must be below shard_count 2"),
    ],
)
async def test_shard_settings_the_agent_cannot_run_with_exit_2_in_one_line(
    settings: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("POD_NAME", "POD_NAMESPACE", "OPENAGENT_SHARD_SELECTOR", "OPENAGENT_SHARD_COUNT"):
        monkeypatch.delenv(name, raising=False)
    # Logging set up on the captured stderr would outlive this test's capture.
    monkeypatch.setattr("openagent.agent.setup_logging", lambda *_: None)
    config = tmp_path / "scrape_config.yaml"
    config.write_text(CONFIG)
    code = await run(config=str(config), listen="127.0.0.1:0", **settings)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    problems = [line for line in err.splitlines() if line.strip()]
    assert len([line for line in problems if "shard" in line.lower()]) == 1, err


async def test_the_process_exits_2_with_one_line_when_the_selector_has_no_pod_name(
    tmp_path: Path,
) -> None:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("POD_NAME", "POD_NAMESPACE")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "openagent", "run", "--config", str(config), "--listen", "127.0.0.1:0"),
        *("--shard-selector", SELECTOR),
        cwd=REPO,
        env=env | {"POD_NAMESPACE": NS},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 2
    assert out == b"" and len(err.decode().splitlines()) == 1, err
    assert b"OPENAGENT_SHARD_SELECTOR needs POD_NAME (from the downward API" in err
