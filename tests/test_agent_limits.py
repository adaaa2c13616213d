"""The running agent and what it will take: a reload over a limit keeps the last good config
while the agent keeps answering; a short minimumInterval is warned of once and floored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from structlog.testing import capture_logs

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.support import eventually
from tests.test_agent import Exporters, config_text, exporters

__all__ = ["exporters"]


def padded(text: str, size: int) -> str:
    """``text`` with a trailing comment that makes it exactly ``size`` bytes."""
    return text + "#" + "x" * (size - len(text) - 2) + "\n"


async def get(agent: Agent, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{agent.listen_port}{path}"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.read()


async def failed_reloads(agent: Agent) -> float:
    """The process's count of failed reloads (earlier tests in this process count too)."""
    _, body = await get(agent, "/metrics")
    line = 'openagent_config_reloads_total{result="failure"} '
    found = [x for x in body.decode().splitlines() if x.startswith(line)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def rejections(logs: list[dict[str, Any]]) -> list[str]:
    return [
        str(problem)
        for entry in logs
        if entry["event"] == "config rejected, keeping the last good one"
        for problem in entry["problems"]
    ]


async def test_reloads_over_a_limit_keep_the_last_good_config_and_one_under_loads(
    tmp_path: Path, exporters: Exporters
) -> None:
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config_text(exporters.ports[:1]))
    limit = len(config_text(exporters.ports[:2])) + 100
    settings = load_settings(
        config=str(cfg), listen="127.0.0.1:0", jsonl_path=str(tmp_path / "o.jsonl"),
        reload_interval=0.1, config_max_bytes=limit, config_max_endpoints=2,
    )  # fmt: skip
    agent = Agent(settings)
    with capture_logs() as logs:
        task = asyncio.create_task(agent.run())
        try:
            assert agent.manager is not None
            await eventually(lambda: len(agent.manager.loops) == 1)  # type: ignore[union-attr]
            failures = await failed_reloads(agent)
            cfg.write_text(config_text(exporters.ports))  # three endpoints
            await eventually(lambda: rejections(logs))
            cfg.write_text(padded(config_text(exporters.ports[:2]), limit + 1))
            await eventually(lambda: len(rejections(logs)) == 2)
            assert rejections(logs) == [
                f"{cfg}: targets: 3 endpoints, more than the limit of 2 "
                "(--config-max-endpoints); not loaded",
                f"{cfg}: is {limit + 1:,} bytes, more than the limit of {limit}B "
                "(--config-max-bytes); not loaded",
            ]
            assert (await get(agent, "/healthz"))[0] == 200
            _, metrics = await get(agent, "/metrics")
            assert b"openagent_config_last_reload_successful 0.0" in metrics
            assert await failed_reloads(agent) == failures + 2
            assert len(agent.manager.loops) == 1  # the last good config still runs

            cfg.write_text(padded(config_text(exporters.ports[:2]), limit))
            await eventually(lambda: len(agent.manager.loops) == 2)  # type: ignore[union-attr]
        finally:
            agent.request_stop()
            assert await asyncio.wait_for(task, 15) == 0


async def test_a_short_minimum_interval_is_warned_of_once_and_scrapes_are_floored(
    tmp_path: Path, exporters: Exporters
) -> None:
    """Measured before: ``minimumInterval: 0s`` and ``interval: 1ms`` gave 565 scrapes a
    second, without a word."""
    cfg = tmp_path / "scrape_config.yaml"
    text = config_text(exporters.ports[:1], interval="1ms")
    cfg.write_text(text.replace("enabled: true", "enabled: true\n    minimumInterval: 0s"))
    settings = load_settings(
        config=str(cfg), listen="127.0.0.1:0", jsonl_path=str(tmp_path / "o.jsonl"),
        reload_interval=0.05,
    )  # fmt: skip
    agent = Agent(settings)

    def warned(logs: list[dict[str, Any]]) -> list[str]:
        return [
            str(x["problem"])
            for x in logs
            if x["event"] == "config warning" and "minimumInterval: 0s" in str(x["problem"])
        ]

    with capture_logs() as logs:
        task = asyncio.create_task(agent.run())
        try:
            assert agent.manager is not None
            await eventually(lambda: agent.manager.loops)  # type: ignore[union-attr]
            (loop,) = agent.manager.loops.values()
            assert loop.target.endpoint.interval == 1.0
            polls = agent.config_source.poll  # type: ignore[attr-defined]
            for _ in range(3):
                await polls()  # the unchanged file, read again: nothing is said again
            assert len(warned(logs)) == 1
        finally:
            agent.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
