"""The whole agent in-process: config → scrapes → jsonl, the HTTP server, hot reload, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.support import eventually

REPO = Path(__file__).resolve().parents[1]


class Exporters:
    """A few loopback exporters, each serving a small body that names its port."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.runners: list[web.AppRunner] = []
        self.scrapes: dict[int, int] = {}

    async def start(self, n: int) -> None:
        for _ in range(n):
            app = web.Application()
            runner = web.AppRunner(app)

            async def handle(request: web.Request) -> web.Response:
                port = request.url.port or 0
                self.scrapes[port] = self.scrapes.get(port, 0) + 1
                body = f'# TYPE dcgm_test gauge\ndcgm_test{{gpu="0",port="{port}"}} {port}\n'
                return web.Response(text=body, content_type="text/plain")

            app.router.add_get("/metrics", handle)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.ports.append(runner.addresses[0][1])
            self.runners.append(runner)

    async def stop(self) -> None:
        for r in self.runners:
            await r.cleanup()


def config_text(ports: list[int], interval: str = "1s") -> str:
    endpoints = "\n".join(
        f"      - address: 127.0.0.1:{p}\n        interval: {interval}" for p in ports
    )
    return f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: fleet
      type: StaticEndpoints
      endpoints:
{endpoints}
"""


@pytest.fixture
async def exporters() -> AsyncIterator[Exporters]:
    e = Exporters()
    await e.start(3)
    yield e
    await e.stop()


class Running:
    def __init__(self, agent: Agent, task: asyncio.Task[int], out: Path) -> None:
        self.agent, self.task, self.out = agent, task, out

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.agent.listen_port}"

    async def get(self, path: str, **kw: Any) -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as s, s.get(self.base + path, **kw) as r:
            return r.status, await r.read()

    def lines(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [orjson.loads(x) for x in self.out.read_bytes().splitlines() if x]


@pytest.fixture
async def running(tmp_path: Path, exporters: Exporters) -> AsyncIterator[Running]:
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config_text(exporters.ports[:2]))
    out = tmp_path / "out.jsonl"
    settings = load_settings(
        config=str(cfg), listen="127.0.0.1:0", jsonl_path=str(out), reload_interval=0.2
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    r = Running(agent, task, out)
    await eventually(lambda: agent.listen_port)
    yield r
    agent.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


async def test_scrapes_reach_the_jsonl_sink(running: Running, exporters: Exporters) -> None:
    def samples() -> set[str]:
        return {
            line["labels"].get("port", "")
            for line in running.lines()
            if line["name"] == "dcgm_test"
        }

    ports = {str(p) for p in exporters.ports[:2]}
    assert await eventually(lambda: samples() == ports)
    up = [x for x in running.lines() if x["name"] == "up"]
    assert up and all(x["value"] == 1 for x in up)
    assert all(x["labels"]["job"] == "fleet" for x in up)


async def test_server_endpoints(running: Running) -> None:
    status, _ = await running.get("/healthz")
    assert status == 200
    status, body = await eventually(lambda: running.get("/readyz"))
    assert status == 200, body
    await eventually(lambda: running.lines())
    status, body = await running.get("/targets")
    targets = orjson.loads(body)
    assert status == 200 and len(targets) == 2
    assert {t["job"] for t in targets} == {"fleet"}
    assert all(
        set(t) >= {"health", "last_scrape", "last_error", "samples", "next_scrape"} for t in targets
    )
    status, body = await running.get("/targets", headers={"Accept": "text/html"})
    assert b"<table>" in body
    status, body = await running.get("/discovery")
    discovery = orjson.loads(body)
    assert status == 200 and discovery["kubernetes_error"] is None
    assert discovery["dropped"] == [] and discovery["informers"] == []
    status, body = await running.get("/metrics")
    text = body.decode()
    assert "openagent_config_last_reload_successful 1.0" in text
    assert "openagent_target_scrapes_total" in text
    assert "openagent_event_loop_lag_seconds" in text


async def test_hot_reload_keeps_unchanged_targets(
    running: Running, exporters: Exporters, tmp_path: Path
) -> None:
    loops_before = dict(running.agent.manager.loops)
    assert len(loops_before) == 2
    (tmp_path / "scrape_config.yaml").write_text(config_text(exporters.ports))
    await eventually(lambda: len(running.agent.manager.loops) == 3)
    for tid, loop in loops_before.items():
        assert running.agent.manager.loops[tid] is loop  # undisturbed


async def test_invalid_reload_keeps_last_good_config(running: Running, tmp_path: Path) -> None:
    loops_before = dict(running.agent.manager.loops)
    (tmp_path / "scrape_config.yaml").write_text(
        config_text([1]).replace("interval: 1s", "interval: 15x")
    )

    async def failed() -> bool:
        _, body = await running.get("/metrics")
        return b"openagent_config_last_reload_successful 0.0" in body

    await eventually(failed)
    assert running.agent.manager.loops == loops_before


async def test_configmap_symlink_swap_is_picked_up(tmp_path: Path, exporters: Exporters) -> None:
    data1 = tmp_path / "..2026_11_28_10_00_00.1"
    data1.mkdir()
    (data1 / "scrape_config.yaml").write_text(config_text(exporters.ports[:1]))
    (tmp_path / "..data").symlink_to(data1.name)
    cfg = tmp_path / "scrape_config.yaml"
    cfg.symlink_to("..data/scrape_config.yaml")
    settings = load_settings(
        config=str(cfg),
        listen="127.0.0.1:0",
        jsonl_path=str(tmp_path / "o.jsonl"),
        reload_interval=0.2,
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: len(agent.manager.loops) == 1)
        data2 = tmp_path / "..2026_11_28_10_05_00.2"
        data2.mkdir()
        (data2 / "scrape_config.yaml").write_text(config_text(exporters.ports))
        tmp_link = tmp_path / "..data_tmp"
        tmp_link.symlink_to(data2.name)
        os.replace(tmp_link, tmp_path / "..data")
        await eventually(lambda: len(agent.manager.loops) == 3)
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0


async def test_missing_config_at_start_is_picked_up_later(
    tmp_path: Path, exporters: Exporters
) -> None:
    cfg = tmp_path / "scrape_config.yaml"
    settings = load_settings(
        config=str(cfg),
        listen="127.0.0.1:0",
        jsonl_path=str(tmp_path / "o.jsonl"),
        reload_interval=0.2,
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.listen_port)
        assert not agent._ready()[0]
        cfg.write_text(config_text(exporters.ports[:1]))
        await eventually(lambda: len(agent.manager.loops) == 1)
        assert agent._ready()[0]
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0


def test_sigterm_flushes_and_exits_zero(tmp_path: Path) -> None:
    """The real CLI process: SIGTERM stops scraping, flushes the sink and exits 0."""

    async def serve_and_run() -> tuple[int, bytes]:
        e = Exporters()
        await e.start(1)
        cfg = tmp_path / "c.yaml"
        cfg.write_text(config_text(e.ports))
        out = tmp_path / "o.jsonl"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "openagent",
            "run",
            "--config",
            str(cfg),
            "--listen",
            "127.0.0.1:0",
            "--jsonl-path",
            str(out),
            "--log-format",
            "json",
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        try:
            await eventually(lambda: out.exists() and b'"up"' in out.read_bytes(), 20)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
            await e.stop()
        return proc.returncode or 0, err

    code, err = asyncio.run(serve_and_run())
    assert code == 0, err.decode()
    assert b"agent stopped" in err
    assert b"WHATAP_LICENSE" not in err


async def test_https_against_a_plain_http_endpoint_is_a_tls_failure(
    tmp_path: Path, exporters: Exporters
) -> None:
    """``scheme: https`` on an endpoint that serves plain HTTP: the target is down with
    reason ``tls``, counted, and /targets says why; the agent keeps running."""
    cfg = tmp_path / "scrape_config.yaml"
    https = "interval: 1s\n        scheme: https"
    cfg.write_text(config_text(exporters.ports[:1]).replace("interval: 1s", https))
    out = tmp_path / "o.jsonl"
    settings = load_settings(
        config=str(cfg), listen="127.0.0.1:0", jsonl_path=str(out), reload_interval=0.2
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    running = Running(agent, task, out)
    try:
        ups = await eventually(lambda: [x for x in running.lines() if x["name"] == "up"])
        assert ups[0]["value"] == 0
        _, body = await running.get("/targets")
        (target,) = orjson.loads(body)
        assert target["health"] == "down"
        assert target["last_error"].startswith(
            f"tls: TLS with 127.0.0.1:{exporters.ports[0]} failed: WRONG_VERSION_NUMBER"
        )
        _, metrics = await running.get("/metrics")
        counted = [
            line
            for line in metrics.decode().splitlines()
            if line.startswith("openagent_target_scrapes_total{")
            and f'instance="127.0.0.1:{exporters.ports[0]}"' in line
        ]
        assert counted and all('result="tls"' in line for line in counted)
        assert float(counted[0].rsplit(" ", 1)[1]) >= 1
        assert not task.done()
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0


async def test_an_unknown_key_is_logged_once_per_load_with_the_key_meant(
    tmp_path: Path, exporters: Exporters
) -> None:
    cfg = tmp_path / "scrape_config.yaml"
    typo = config_text(exporters.ports[:1]).replace("interval: 1s", "intreval: 1s")
    cfg.write_text(typo)
    settings = load_settings(
        config=str(cfg), listen="127.0.0.1:0", jsonl_path=str(tmp_path / "o.jsonl"),
        reload_interval=0.1,
    )  # fmt: skip
    agent = Agent(settings)

    def warned(logs: list[dict[str, Any]]) -> list[str]:
        return [str(x["problem"]) for x in logs if x["event"] == "config warning"]

    with capture_logs() as logs:
        task = asyncio.create_task(agent.run())
        try:
            await eventually(lambda: agent.loaded)
            await asyncio.sleep(0.5)  # several polls of the unchanged file
            assert warned(logs) == [
                f"{cfg}: targets[0].endpoints[0].intreval: unknown key 'intreval' (ignored); "
                "did you mean 'interval'?"
            ]
            digest = agent.loaded.digest if agent.loaded else ""
            cfg.write_text(typo + "\n")
            await eventually(lambda: agent.loaded and agent.loaded.digest != digest)
            assert len(warned(logs)) == 2
        finally:
            agent.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
