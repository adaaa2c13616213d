"""Every overlay's pod, started as a process, runs the agent it describes.

Its args and env (mount paths moved to scratch directories, see `podrun`) start
the real agent, which reads the ConfigMap's config from the mounted directory,
finds the operator's GPU target through a fake API server over TLS, answers the
probes' paths, and stops on SIGTERM within the pod's termination grace.

Not reproduced here: the container (image, UID 1001, read-only root); the
cluster reached through a kubeconfig instead of the service-account files; and
the config's port 9400, which becomes the synthetic exporter's own port, since a
fixed port may be taken on a shared machine.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from benchmarks.fleet import Fleet
from benchmarks.idle_memory import free_port, receiver
from benchmarks.whatap_collector import FAKE_LICENSE, Collector
from tests.deploy.agent_settings import FIELD_VALUES
from tests.deploy.podrun import Peers, command, mount_volumes
from tests.deploy.rendered import CONFIG_PATH, NAMESPACE, OVERLAYS, ROOT, pod_spec, workload
from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o

T = TypeVar("T")
TOKEN = "deploy-test-token"
OWN_NODE = FIELD_VALUES["spec.nodeName"]
#: Only so that a hung agent fails the test instead of hanging it; a healthy one
#: is ready in about a second.
READY_DEADLINE = 60.0


@pytest.fixture
async def exporter_port() -> AsyncIterator[int]:
    """One synthetic dcgm-exporter node on loopback; its port."""
    async with Fleet(1, update_interval=60.0) as fleet:
        yield fleet.nodes[0].port


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def peers(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[Peers]:
    async with Collector(keep_records=False) as collector, receiver() as url:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        yield Peers(kubeconfig, collector.port, FAKE_LICENSE, url)


def node_agent(name: str, ip: str, node: str, port: int) -> dict[str, object]:
    """A Whatap node-agent pod with its dcgm-exporter sidecar (at ``ip``: the real one
    is on the host network, which the fake would give a non-loopback address)."""
    containers = (("dcgm-exporter", (("metrics", port),)),)
    labels = {"name": "whatap-node-agent"}
    return o.pod(name, NAMESPACE, labels, ip, node, containers=containers)


def populate(kube: FakeKubeServer, overlay: str, port: int) -> None:
    """Two GPU nodes' exporters (one on this pod's node) and the agent's own pod."""
    kube.store.create(node_agent("whatap-node-agent-a", "127.0.0.1", OWN_NODE, port))
    kube.store.create(node_agent("whatap-node-agent-b", "127.0.0.2", "gpu-node-2", port))
    labels = workload(overlay)["spec"]["template"]["metadata"]["labels"]
    owner = (workload(overlay)["kind"], "openagent")
    own = o.pod(
        FIELD_VALUES["metadata.name"],
        NAMESPACE,
        labels,
        "127.0.0.1",
        OWN_NODE,
        containers=(("openagent", (("http", 9401),)),),
        owner=owner,
    )
    kube.store.create(own)


def point_config_at(mounts: dict[str, Path], port: int) -> None:
    """The ConfigMap's exporter port 9400 → the synthetic exporter's."""
    config = mounts[str(Path(CONFIG_PATH).parent)] / Path(CONFIG_PATH).name
    text = config.read_text()
    assert text.count('port: "9400"') == 1
    config.write_text(text.replace('port: "9400"', f'port: "{port}"'))


@dataclass
class Running:
    """The agent process, its log and its HTTP base URL."""

    proc: asyncio.subprocess.Process
    log: Path
    base: str

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def assert_alive(self) -> None:
        assert self.proc.returncode is None, f"the agent exited:\n{self.tail()}"


async def poll(running: Running, what: str, probe: Callable[[], Awaitable[T | None]]) -> T:
    """``probe()``'s first answer that is not None."""
    deadline = asyncio.get_running_loop().time() + READY_DEADLINE
    while asyncio.get_running_loop().time() < deadline:
        running.assert_alive()
        answer = await probe()
        if answer is not None:
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {READY_DEADLINE} s:\n{running.tail()}")


async def ready(session: aiohttp.ClientSession, running: Running) -> bool | None:
    try:
        async with session.get(running.base + "/readyz") as r:
            return True if r.status == 200 else None
    except aiohttp.ClientConnectionError:
        return None


async def target_urls(session: aiohttp.ClientSession, running: Running) -> set[str] | None:
    """The targets' URLs, None while there are none: discovery publishes its first
    build (both exporter pods arrive in one list) a moment after the informers sync."""
    headers = {"Accept": "application/json"}
    async with session.get(running.base + "/targets", headers=headers) as r:
        assert r.status == 200
        return {row["url"] for row in await r.json()} or None


async def start(argv: list[str], env: dict[str, str], log: Path, listen: int) -> Running:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=ROOT, stdout=out, stderr=out
        )
    return Running(proc, log, f"http://127.0.0.1:{listen}")


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_the_pod_starts_an_agent_that_finds_its_targets_and_stops_in_time(
    overlay: str, kube: FakeKubeServer, peers: Peers, exporter_port: int, tmp_path: Path
) -> None:
    populate(kube, overlay, exporter_port)
    mounts = mount_volumes(overlay, tmp_path / "volumes")
    point_config_at(mounts, exporter_port)
    listen = free_port()
    argv, env = command(overlay, mounts, listen, peers)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    running = await start(argv, env, tmp_path / "agent.log", listen)
    try:
        async with aiohttp.ClientSession() as session:
            await poll(running, "ready", lambda: ready(session, running))
            async with session.get(running.base + "/healthz") as r:
                assert r.status == 200
            urls = await poll(running, "targets", lambda: target_urls(session, running))
    finally:
        if running.proc.returncode is None:
            running.proc.terminate()
        grace = pod_spec(overlay)["terminationGracePeriodSeconds"]
        code = await asyncio.wait_for(running.proc.wait(), timeout=grace)
    own = f"http://127.0.0.1:{exporter_port}/metrics"
    other = f"http://127.0.0.2:{exporter_port}/metrics"
    assert urls == ({own} if overlay == "node-local" else {own, other})
    assert code == 0, running.tail()
