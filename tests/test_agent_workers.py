"""``--workers``: the real agent process and its workers against a loopback fleet.

Each target must be scraped by exactly one worker. The fleet counts the
requests each node gets; over a stretch in which every node got at least
`ROUNDS` scrapes, a node scraped by two workers would have about twice as
many as the others, so no node may reach twice the smallest count.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from benchmarks.fleet import Fleet
from tests.support import eventually
from tests.test_agent import REPO

ROUNDS = 4
DEADLINE = 60.0


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def config(fleet: Fleet) -> str:
    endpoints = "\n".join(
        f"      - address: {n.host}:{n.port}\n        interval: 1s" for n in fleet.nodes
    )
    return (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: fleet\n      type: StaticEndpoints\n      endpoints:\n"
        f"{endpoints}\n"
    )


class AgentProcess:
    """``python -m openagent run`` with its log in a file."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.port = 0

    async def started(self) -> None:
        def port() -> int:
            for line in self.log.read_bytes().splitlines():
                if line.startswith(b"{") and b'"agent started"' in line:
                    return int(orjson.loads(line)["port"])
            return 0

        self.port = await eventually(port, DEADLINE)

    async def get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return await r.read()

    async def targets(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = orjson.loads(await self.get("/targets"))
        return rows

    async def metric(self, pattern: str) -> list[str]:
        text = (await self.get("/metrics")).decode()
        return [line for line in text.splitlines() if re.match(pattern, line)]

    async def all_up(self) -> bool:
        up = await self.metric(r"openagent_worker_up\{")
        return len(up) == 2 and all(line.endswith(" 1.0") for line in up)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(10, gpus=1, families=5) as f:
        yield f


async def launch(cfg: Path, log: Path, *flags: str, new_session: bool = False) -> AgentProcess:
    """``openagent run`` on ``cfg``, listening on a free port, its JSON log in ``log``;
    returned once it serves."""
    # The agent and its workers print JSON lines; a file needs no reader to keep up.
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "openagent", "run", "--config", str(cfg), "--listen", "127.0.0.1:0"),
            *("--log-format", "json"),
            *flags,
            cwd=REPO,
            stdout=out,
            stderr=out,
            start_new_session=new_session,
        )
    agent = AgentProcess(proc, log)
    try:
        await agent.started()
    except BaseException:
        proc.kill()  # its workers follow it
        await proc.wait()
        raise
    return agent


async def start_agent(tmp_path: Path, fleet: Fleet, *flags: str) -> AgentProcess:
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config(fleet))
    jsonl = ("--jsonl-path", str(tmp_path / "out.jsonl"))
    return await launch(cfg, tmp_path / "agent.log", *jsonl, *flags)


def requests(fleet: Fleet) -> list[int]:
    return [n.stats.requests for n in fleet.nodes]


async def rounds_are_even(fleet: Fleet) -> None:
    """Wait until every node got `ROUNDS` more scrapes; none may have twice the least."""
    base = requests(fleet)

    def deltas() -> list[int]:
        return [now - then for now, then in zip(requests(fleet), base, strict=True)]

    await eventually(lambda: min(deltas()) >= ROUNDS, DEADLINE)
    got = deltas()
    assert max(got) < 2 * min(got), got


async def owners(agent: AgentProcess) -> dict[str, int]:
    rows = await agent.targets()
    return {r["instance"]: r["worker"] for r in rows}


async def test_two_workers_share_the_targets_and_survive_a_killed_worker(
    tmp_path: Path, fleet: Fleet
) -> None:
    spool = tmp_path / "spool"
    agent = await start_agent(tmp_path, fleet, "--workers", "2", "--spool-dir", str(spool))
    try:
        await eventually(lambda: min(requests(fleet)) >= 2, DEADLINE)
        await rounds_are_even(fleet)

        owned = await owners(agent)
        assert len(owned) == len(fleet.nodes) and set(owned.values()) == {0, 1}
        scraped = await agent.metric(r'openagent_target_scrapes_total\{.*result="success"')
        by_instance: dict[str, set[str]] = {}
        for line in scraped:
            instance = re.search(r'instance="([^"]+)"', line)
            worker = re.search(r'worker="(\d)"', line)
            assert instance and worker, line
            by_instance.setdefault(instance.group(1), set()).add(worker.group(1))
        assert {i: {str(w)} for i, w in owned.items()} == by_instance
        sent = await agent.metric(r'openagent_delivery_samples_sent_total\{sink="jsonl"')
        assert {re.findall(r'worker="(\d)"', s)[0] for s in sent} == {"0", "1"}
        assert sorted(p.name for p in spool.iterdir()) == ["worker-0", "worker-1"]

        workers = children(agent.proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        restarted = r"openagent_worker_restarts_total\{worker=\"\d\"\} 1.0"
        assert await eventually(lambda: agent.metric(restarted), DEADLINE)
        await eventually(lambda: len(set(children(agent.proc.pid)) - {workers[0]}) == 2, DEADLINE)
        await eventually(agent.all_up, DEADLINE)
        await rounds_are_even(fleet)
        assert await owners(agent) == owned  # the restarted worker took its own targets back

        now = children(agent.proc.pid)
        agent.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(agent.proc.wait(), DEADLINE) == 0
        assert not [p for p in now if running(p)]
    finally:
        if agent.proc.returncode is None:
            agent.proc.kill()
            await agent.proc.wait()
    log = agent.log.read_text()
    assert "worker exited; starting it again" in log and "agent stopped" in log


async def test_workers_exit_when_the_agent_is_killed(tmp_path: Path, fleet: Fleet) -> None:
    agent = await start_agent(tmp_path, fleet, "--workers", "2", "--drain-grace", "1")
    try:
        await eventually(lambda: len(children(agent.proc.pid)) == 2, DEADLINE)
        workers = children(agent.proc.pid)
        await eventually(agent.all_up, DEADLINE)
    finally:
        agent.proc.kill()
        await agent.proc.wait()
    await eventually(lambda: not any(running(p) for p in workers), DEADLINE)


async def test_one_worker_is_this_process_alone(tmp_path: Path, fleet: Fleet) -> None:
    agent = await start_agent(tmp_path, fleet)
    try:
        await eventually(lambda: min(requests(fleet)) >= 1, DEADLINE)
        assert children(agent.proc.pid) == []
        assert {r["worker"] for r in await agent.targets()} == {None}
    finally:
        agent.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(agent.proc.wait(), DEADLINE) == 0


def spool_warnings(log: Path) -> int:
    """How many times the log says that a crash loses the memory queue."""
    return sum(b"no spool directory" in line for line in log.read_bytes().splitlines())


@pytest.mark.parametrize("spooled", [False, True])
async def test_a_run_without_a_spool_says_once_that_a_crash_loses_the_queue(
    tmp_path: Path, fleet: Fleet, spooled: bool
) -> None:
    flags = ("--spool-dir", str(tmp_path / "spool")) if spooled else ()
    agent = await start_agent(tmp_path, fleet, "--workers", "2", *flags)
    try:
        await eventually(agent.all_up, DEADLINE)  # both workers run their delivery
    finally:
        agent.proc.send_signal(signal.SIGTERM)
        await agent.proc.wait()
    assert spool_warnings(agent.log) == (0 if spooled else 1)
