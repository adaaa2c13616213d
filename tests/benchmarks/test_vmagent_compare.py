"""The comparison harness: CPU accounting over a process tree, sink, configs, a real vmagent run."""

from __future__ import annotations

import asyncio
import shutil
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import aiohttp
import pytest
import yaml

from benchmarks import vmagent_compare as vc
from benchmarks.fleet import Fleet

BURN = "import time\nwhile time.process_time() < 0.4: pass\n"
BURN_THEN_SLEEP = BURN + "time.sleep(30)\n"


async def test_tree_usage_counts_live_and_reaped_descendants() -> None:
    py = sys.executable
    # The shell reaps the first burner (its cutime) and waits on the second (live).
    script = f"{py} -c '{BURN}'; {py} -c '{BURN_THEN_SLEEP}' & wait"
    proc = await asyncio.create_subprocess_exec("sh", "-c", script)
    try:
        for _ in range(300):
            cpu, rss = vc.tree_usage(proc.pid)
            if cpu >= 0.7:
                break
            await asyncio.sleep(0.05)
        assert cpu >= 0.7
        assert rss > 4 << 20  # a shell and a live Python interpreter
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_sink_accepts_and_counts() -> None:
    sink = vc.Sink()
    await sink.start()
    try:
        assert sink.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as s, s.post(sink.url, data=b"x" * 100) as resp:
            assert resp.status == 204
        assert (sink.requests, sink.bytes) == (1, 100)
    finally:
        await sink.stop()


async def test_configs_list_every_node(tmp_path: Path) -> None:
    async with Fleet(3, families=1) as fleet:
        prom = vc.prometheus_config(fleet, "5s", "http://127.0.0.1:1/api/v1/write")
        agent = vc.openagent_config(fleet, "5s")
        expected = [f"127.0.0.1:{n.port}" for n in fleet.nodes]
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == expected
    (target,) = agent["features"]["openAgent"]["targets"]
    assert target["type"] == "StaticEndpoints"
    assert [e["address"] for e in target["endpoints"]] == expected
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/dev.sh installs it)")
    path = tmp_path / "prom.yml"
    path.write_text(yaml.safe_dump(prom))
    check = await asyncio.create_subprocess_exec(
        promtool, "check", "config", str(path), stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(check.communicate(), timeout=60)
    assert check.returncode == 0, (out + err).decode()


@pytest.mark.peer
async def test_short_vmagent_run_scrapes_and_remote_writes(tmp_path: Path) -> None:
    if shutil.which("vmagent") is None:
        pytest.skip("vmagent is not installed (scripts/dev.sh installs it)")
    workdir = str(tmp_path / "w")
    argv = ["--tools", "vmagent", "--nodes", "2", "--families", "2", "--interval", "1s"]
    argv += ["--warmup", "2", "--window", "3", "--workdir", workdir]
    args = vc._parser().parse_args(argv)
    (result,) = await vc.run(args)
    assert result.error == ""
    assert result.scrapes >= 2
    assert result.samples == result.scrapes * 16
    assert result.rw_requests >= 1
    assert result.rss_peak_mb >= result.rss_avg_mb > 0
    assert "vmagent" in vc.report([result], args, 16)


async def test_missing_tool_is_reported(tmp_path: Path) -> None:
    argv = ["--tools", "agent", "--nodes", "1", "--warmup", "0", "--window", "1"]
    argv += ["--agent-cmd", "no-such-agent-binary {config}", "--workdir", str(tmp_path)]
    args = vc._parser().parse_args(argv)
    (result,) = await vc.run(args)
    assert "cannot start no-such-agent-binary" in result.error
    assert "FAILED" in vc.report([result], args, 320)
