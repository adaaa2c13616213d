"""The running agent with GPU attribution on: a dcgm-exporter body naming pods of the fake
API server reaches the jsonl sink with each pod's workload, and ``/discovery`` shows the
resolver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.kube.attribution_world import PODS, populate
from tests.kube.support import kube
from tests.kubefake import FakeKubeServer
from tests.scrape.test_attribution import BODY
from tests.support import Exporter, eventually

__all__ = ["kube"]


def config_text(port: int) -> str:
    return f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: StaticEndpoints
      endpoints:
      - address: 127.0.0.1:{port}
        interval: 1s
"""


def lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [orjson.loads(x) for x in out.read_bytes().splitlines() if x]


async def test_the_agent_attributes_dcgm_samples_and_shows_the_resolver(
    tmp_path: Path, kube: FakeKubeServer, exporter: Exporter
) -> None:
    populate(kube)
    exporter.body = BODY
    cfg, out = tmp_path / "scrape_config.yaml", tmp_path / "out.jsonl"
    cfg.write_text(config_text(exporter.port))
    settings = load_settings(
        config=str(cfg),
        listen="127.0.0.1:0",
        jsonl_path=str(out),
        kubeconfig=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        gpu_attribution=True,
        attribution_pod_labels="team",
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:

        def workloads() -> set[tuple[str, str]]:
            return {
                (x["labels"]["workload"], x["labels"]["label_team"])
                for x in lines(out)
                if x["name"] == "DCGM_FI_DEV_GPU_UTIL" and "workload" in x["labels"]
            }

        wanted = {(p.workload, p.team) for p in PODS}
        assert await eventually(lambda: workloads() == wanted, within=20)
        url = f"http://127.0.0.1:{agent.listen_port}/discovery"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            view = orjson.loads(await r.read())["attribution"]
        assert view["entries"] == len(PODS) and view["misses"] == {}
        assert [r for r in kube.requests if r.verb in ("list", "watch")] == []
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
