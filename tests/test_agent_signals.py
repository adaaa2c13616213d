"""Signals to the real agent process: SIGHUP reloads, SIGUSR1 reports, none of SIGUSR1,
SIGUSR2, SIGPIPE and SIGHUP kills it (nor its workers, sent to the process group),
SIGQUIT stops it gracefully, and a second SIGTERM ends the drain at once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.support import eventually
from tests.test_agent import Exporters, config_text
from tests.test_agent_workers import DEADLINE, AgentProcess, children, running
from tests.test_agent_workers import launch as launch_agent


@pytest.fixture
async def exporters() -> AsyncIterator[Exporters]:
    e = Exporters()
    await e.start(2)
    yield e
    await e.stop()


def logged(agent: AgentProcess, event: str) -> list[dict[str, Any]]:
    """The agent's JSON log lines whose event is ``event``."""
    lines = agent.log.read_bytes().splitlines()
    return [
        entry
        for entry in (orjson.loads(x) for x in lines if x.startswith(b"{"))
        if entry.get("event") == event
    ]


def scraped_ports(out: Path) -> set[int]:
    if not out.exists():
        return set()
    rows = (orjson.loads(x) for x in out.read_bytes().splitlines() if x)
    return {int(r["labels"]["port"]) for r in rows if r["name"] == "dcgm_test"}


async def launch(
    tmp_path: Path, *flags: str, new_session: bool = False, log_name: str = "agent.log"
) -> AgentProcess:
    """The agent on ``tmp_path/scrape_config.yaml``, its log in ``tmp_path/<log_name>``."""
    cfg = tmp_path / "scrape_config.yaml"
    return await launch_agent(cfg, tmp_path / log_name, *flags, new_session=new_session)


async def healthy(agent: AgentProcess) -> bool:
    return await agent.get("/healthz") != b""


async def finish(agent: AgentProcess, sig: signal.Signals = signal.SIGTERM) -> int:
    """Stop the agent with ``sig`` and return its exit code (kill it if it hangs)."""
    if agent.proc.returncode is None:
        agent.proc.send_signal(sig)
    try:
        return await asyncio.wait_for(agent.proc.wait(), DEADLINE)
    finally:
        if agent.proc.returncode is None:
            agent.proc.kill()
            await agent.proc.wait()


async def test_sighup_reloads_the_config_and_keeps_the_last_good_one_when_bad(
    tmp_path: Path, exporters: Exporters
) -> None:
    """File polling is slowed to an hour, so only SIGHUP can make the agent see the edits."""
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config_text(exporters.ports[:1]))
    out = tmp_path / "out.jsonl"
    agent = await launch(tmp_path, "--jsonl-path", str(out), "--reload-interval", "3600")
    try:
        await eventually(lambda: scraped_ports(out) == {exporters.ports[0]}, DEADLINE)
        cfg.write_text(config_text(exporters.ports))
        agent.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: scraped_ports(out) == set(exporters.ports), DEADLINE)
        assert logged(agent, "SIGHUP received: reloading the config")
        assert logged(agent, "config reloaded")

        cfg.write_text(config_text(exporters.ports).replace("interval: 1s", "interval: 15x"))
        agent.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: logged(agent, "config rejected, keeping the last good one"))
        metrics = await agent.get("/metrics")
        assert b"openagent_config_last_reload_successful 0.0" in metrics
        assert len(orjson.loads(await agent.get("/targets"))) == 2  # the last good config

        agent.proc.send_signal(signal.SIGHUP)  # the same bad file again: no second error
        await eventually(lambda: len(logged(agent, "SIGHUP received: reloading the config")) == 3)
        await eventually(lambda: logged(agent, "config unchanged"))
        assert len(logged(agent, "config rejected, keeping the last good one")) == 1
    finally:
        assert await finish(agent) == 0


async def test_sigusr1_sigusr2_sigpipe_and_sighup_leave_the_agent_serving_and_sigquit_drains(
    tmp_path: Path, exporters: Exporters
) -> None:
    (tmp_path / "scrape_config.yaml").write_text(config_text(exporters.ports))
    out = tmp_path / "out.jsonl"
    agent = await launch(tmp_path, "--jsonl-path", str(out), "--reload-interval", "3600")
    try:
        await eventually(lambda: scraped_ports(out) == set(exporters.ports), DEADLINE)
        for sig in (signal.SIGUSR2, signal.SIGPIPE, signal.SIGHUP, signal.SIGUSR1):
            agent.proc.send_signal(sig)
        (status,) = await eventually(lambda: logged(agent, "status (SIGUSR1)"), DEADLINE)
        assert status["targets"] == 2 and status["targets_up"] == 2
        assert status["targets_down"] == 0 and status["ready"] == "ready"
        assert set(status["queued_batches"]) == {"jsonl"}
        assert logged(agent, "SIGUSR2 received; it means nothing to the agent (ignored)")
        assert await healthy(agent)
        assert agent.proc.returncode is None
    finally:
        code = await finish(agent, signal.SIGQUIT)
    assert code == 0
    assert logged(agent, "SIGQUIT received: shutting down (again to end the drain at once)")
    assert logged(agent, "agent stopped")


async def test_workers_survive_sighup_sigusr1_and_sigusr2_sent_to_the_process_group(
    tmp_path: Path, exporters: Exporters
) -> None:
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config_text(exporters.ports[:1]))
    out = tmp_path / "out.jsonl"
    flags = ("--jsonl-path", str(out), "--reload-interval", "3600", "--workers", "2")
    agent = await launch(tmp_path, *flags, new_session=True)
    try:
        await eventually(agent.all_up, DEADLINE)
        workers = children(agent.proc.pid)
        assert len(workers) == 2
        cfg.write_text(config_text(exporters.ports))
        for sig in (signal.SIGHUP, signal.SIGUSR2):
            os.killpg(agent.proc.pid, sig)
        await eventually(lambda: scraped_ports(out) == set(exporters.ports), DEADLINE)
        await eventually(lambda: agent_status_up(agent), DEADLINE)
        # The status asks every worker for the states of its targets: a worker the signals
        # had killed would not answer, and its targets would not count as up.
        status = logged(agent, "status (SIGUSR1)")[-1]
        assert status["targets_up"] == status["targets"] == 2
        assert children(agent.proc.pid) == workers and all(running(p) for p in workers)
        assert not logged(agent, "worker exited; starting it again")
        os.killpg(agent.proc.pid, signal.SIGTERM)  # what Ctrl-C in a terminal does
        assert await asyncio.wait_for(agent.proc.wait(), DEADLINE) == 0
    finally:
        if agent.proc.returncode is None:
            os.killpg(agent.proc.pid, signal.SIGKILL)
            await agent.proc.wait()


async def agent_status_up(agent: AgentProcess) -> bool:
    """Ask for a status line (SIGUSR1 to the process group) until one shows every target up;
    the targets of a freshly started worker show as not scraped yet."""
    before = len(logged(agent, "status (SIGUSR1)"))
    os.killpg(agent.proc.pid, signal.SIGUSR1)
    await eventually(lambda: len(logged(agent, "status (SIGUSR1)")) > before, DEADLINE)
    status = logged(agent, "status (SIGUSR1)")[-1]
    return bool(status["targets"] and status["targets_up"] == status["targets"])


def dead_port() -> int:
    """A loopback port nothing listens on (bound once, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def queued(agent: AgentProcess) -> float:
    lines = await agent.metric(r'openagent_delivery_queue_batches\{sink="remote_write"')
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


async def recovered(agent: AgentProcess) -> float:
    pattern = r'openagent_delivery_samples_recovered_total\{.*sink="remote_write"'
    return sum(float(line.rsplit(" ", 1)[1]) for line in await agent.metric(pattern))


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_second_sigterm_ends_a_long_drain_and_the_spool_keeps_the_queue(
    tmp_path: Path, exporters: Exporters, workers: str
) -> None:
    """A receiver that refuses every connection and a drain grace of an hour: the second
    SIGTERM ends the drain, and the next start finds the queued samples in the spool."""
    (tmp_path / "scrape_config.yaml").write_text(config_text(exporters.ports))
    spool = tmp_path / "spool"
    flags = (
        *("--sink", "remote_write", "--remote-write-url", f"http://127.0.0.1:{dead_port()}/"),
        *("--spool-dir", str(spool), "--drain-grace", "3600", "--workers", workers),
        *("--remote-write-batch-delay", "0"),
    )
    agent = await launch(tmp_path, *flags)
    try:
        await eventually(lambda: queued(agent), DEADLINE)
        agent.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: logged(agent, "shutting down: stopping scrapes"), DEADLINE)
        agent.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(agent.proc.wait(), DEADLINE)
    finally:
        if agent.proc.returncode is None:
            agent.proc.kill()
            await agent.proc.wait()
    assert code == 0
    assert logged(
        agent,
        "SIGTERM received again: ending the drain now; what is still queued is kept in the "
        "spool (counted dropped, reason shutdown, without one)",
    )
    assert any(p.stat().st_size for p in spool.rglob("*") if p.is_file())

    again = await launch(tmp_path, *flags, log_name="again.log")
    try:
        # Every worker's spool is read as it starts: the sum grows until all have started.
        await eventually(lambda: recovered(again), DEADLINE)
    finally:
        again.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: logged(again, "shutting down: stopping scrapes"), DEADLINE)
        again.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(again.proc.wait(), DEADLINE)


async def test_sighup_and_sigusr1_during_shutdown_start_nothing(tmp_path: Path) -> None:
    """The config source and the scrapers are going away: a reload or a status then would
    touch them half-closed."""
    settings = load_settings(
        config=str(tmp_path / "c.yaml"), listen="127.0.0.1:0", jsonl_path=str(tmp_path / "o")
    )
    agent = Agent(settings)
    agent.request_stop()
    handlers = agent.signal_handlers()
    with capture_logs() as logs:
        handlers[signal.SIGHUP]()
        handlers[signal.SIGUSR1]()
    assert [(x["event"], x["action"]) for x in logs] == [
        ("signal ignored: the agent is shutting down", "_on_sighup"),
        ("signal ignored: the agent is shutting down", "_log_status"),
    ]
    assert not agent._signal_tasks


async def test_a_second_sigterm_without_a_spool_counts_the_queue_dropped_at_shutdown(
    tmp_path: Path, exporters: Exporters
) -> None:
    (tmp_path / "scrape_config.yaml").write_text(config_text(exporters.ports))
    flags = (
        *("--sink", "remote_write", "--remote-write-url", f"http://127.0.0.1:{dead_port()}/"),
        *("--drain-grace", "3600", "--remote-write-batch-delay", "0"),
    )
    agent = await launch(tmp_path, *flags)
    try:
        await eventually(lambda: queued(agent), DEADLINE)
        agent.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: logged(agent, "shutting down: stopping scrapes"), DEADLINE)
        agent.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(agent.proc.wait(), DEADLINE) == 0
    finally:
        if agent.proc.returncode is None:
            agent.proc.kill()
            await agent.proc.wait()
    (dropped,) = logged(agent, "batches left undelivered at shutdown (no spool configured)")
    assert dropped["sink"] == "remote_write" and dropped["samples"] > 0
