"""The harness' parts: process-tree accounting, the receiver, variants, launches, metrics."""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import cramjam
import pytest
import yaml

from benchmarks import compare_run as cr
from benchmarks import compare_tools as ct
from benchmarks.fleet import Fleet
from benchmarks.prompb_reader import decompress, read_write_request
from benchmarks.rw_receiver import Receiver
from openagent.model import Series
from openagent.sinks.remote_write.prompb import WriteRequestBuilder

BURN = "import time\nwhile time.process_time() < 0.4: pass\n"
BURN_THEN_SLEEP = BURN + "time.sleep(30)\n"
BINS = SimpleNamespace(vmagent="/usr/bin/vmagent", prometheus="/usr/bin/prometheus")


async def test_tree_usage_counts_live_and_reaped_descendants() -> None:
    py = sys.executable
    # The shell reaps the first burner (its cutime) and waits on the second (live).
    script = f"{py} -c '{BURN}'; {py} -c '{BURN_THEN_SLEEP}' & wait"
    proc = await asyncio.create_subprocess_exec("sh", "-c", script)
    try:
        for _ in range(300):
            cpu, rss = cr.tree_usage(proc.pid)
            if cpu >= 0.7:
                break
            await asyncio.sleep(0.05)
        assert cpu >= 0.7
        assert rss > 4 << 20  # a shell and a live Python interpreter
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _write_request(timestamp_ms: int) -> bytes:
    builder = WriteRequestBuilder()
    builder.add_samples([Series("up", (("job", "x"),))], [1.0], timestamp_ms)
    return bytes(cramjam.snappy.compress_raw(builder.buf))


async def test_receiver_counts_everything_and_keeps_a_bounded_sample_while_recording() -> None:
    receiver = Receiver(keep=3, rng=random.Random(1))
    await receiver.start()
    try:
        assert receiver.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as s:
            for i in range(12):
                if i == 2:
                    receiver.record()
                body = _write_request(1_000 * i)
                headers = {"Content-Encoding": "snappy"}
                async with s.post(receiver.url, data=body, headers=headers) as resp:
                    assert resp.status == 204
        recording = receiver.stop_recording()
    finally:
        await receiver.stop()
    assert receiver.requests == 12
    assert recording.seen == 10
    assert len(recording.bodies) == 3
    facts = recording.facts()
    assert (facts.bodies, facts.samples, facts.errors) == (3, 3, 0)
    # Only bodies sent while recording (sample timestamps 2,000 ms and later) were kept.
    kept = [read_write_request(decompress(b.data, b.encoding)) for b in recording.bodies]
    assert all(ts.samples[0][1] >= 2_000 for series in kept for ts in series)
    assert receiver.stop_recording().seen == 0


def test_parse_agent_takes_name_and_template() -> None:
    tool = ct.parse_agent("old=env PYTHONPATH=/tmp/old python -m openagent run --config {config}")
    assert (tool.name, tool.kind, tool.sink) == ("old", "openagent", "remote_write")
    assert tool.template.startswith("env PYTHONPATH=/tmp/old")
    assert ct.parse_agent("w=x --listen {listen}", sink="whatap").sink == "whatap"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openagent run --config {config}", "expected NAME=COMMAND_TEMPLATE"),
        ("=cmd {config}", "expected NAME=COMMAND_TEMPLATE"),
        ("name=", "expected NAME=COMMAND_TEMPLATE"),
        ("bad name=cmd", "bad variant name 'bad name'"),
        ("vmagent=cmd", "taken by the tool of that name"),
        ("x=cmd --config {cfg}", "unknown placeholder {cfg}"),
        ("x=cmd --config {config", "bad command template"),
        ("x=cmd 'unclosed", "bad command template"),
    ],
)
def test_parse_agent_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("{", r"\{").replace("(", r"\(")):
        ct.parse_agent(text)


def test_version_argv_replaces_run_and_what_follows() -> None:
    tool = ct.parse_agent("old=env PYTHONPATH=/tmp/old /opt/py -m openagent run --config {config}")
    head = ["env", "PYTHONPATH=/tmp/old", "/opt/py", "-m", "openagent"]
    assert ct.version_argv(tool) == [*head, "version"]
    default = ct.Tool("openagent", "openagent", ct.DEFAULT_AGENT)
    assert ct.version_argv(default) == [sys.executable, "-m", "openagent", "version"]
    assert ct.version_argv(ct.parse_agent("x=some-agent {config}")) is None
    assert ct.tool_version(default, BINS).startswith("openagent ")


async def test_launches_list_every_node_and_keep_runs_apart(tmp_path: Path) -> None:
    rw = "http://127.0.0.1:1/api/v1/write"
    agent = ct.Tool("openagent", "openagent", ct.DEFAULT_AGENT)
    async with Fleet(3, families=1) as fleet:
        expected = [f"127.0.0.1:{n.port}" for n in fleet.nodes]
        common = {"fleet": fleet, "interval": "5s", "rw_url": rw, "work": tmp_path, "bins": BINS}
        vm = ct.launch(ct.Tool("vmagent", "vmagent"), listen="127.0.0.1:7", **common)
        prom = ct.launch(ct.Tool("prometheus", "prometheus"), listen="127.0.0.1:8", **common)
        oa = ct.launch(agent, listen="127.0.0.1:9", **common)
    assert vm.argv[0] == BINS.vmagent and f"-remoteWrite.url={rw}" in vm.argv
    assert f"-remoteWrite.tmpDataPath={tmp_path}/vmagent-3-data" in vm.argv
    assert f"--storage.agent.path={tmp_path}/prometheus-3-data" in prom.argv
    prom_cfg = yaml.safe_load((tmp_path / "prometheus-3.yml").read_text())
    assert prom_cfg["scrape_configs"][0]["static_configs"][0]["targets"] == expected
    assert prom_cfg["remote_write"] == [{"url": rw}]
    assert oa.argv[:3] == [sys.executable, "-m", "openagent"]
    assert oa.argv[oa.argv.index("--remote-write-url") + 1] == rw
    assert oa.listen == "127.0.0.1:9" and "127.0.0.1:9" in oa.argv
    assert oa.env["PYTHONPATH"].split(":")[0] == str(ct.REPO)
    oa_cfg = yaml.safe_load((tmp_path / "openagent-3.yaml").read_text())
    (target,) = oa_cfg["features"]["openAgent"]["targets"]
    assert target["type"] == "StaticEndpoints"
    assert [e["address"] for e in target["endpoints"]] == expected
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/dev.sh installs it)")
    check = await asyncio.create_subprocess_exec(
        promtool, "check", "config", str(tmp_path / "prometheus-3.yml"), stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(check.communicate(), timeout=60)
    assert check.returncode == 0, (out + err).decode()


LAG = "openagent_event_loop_lag_distribution_seconds"
OWN = "openagent_scrape_duration_seconds"


def _metrics(lag: tuple[int, int, int], own: tuple[int, int, int]) -> str:
    lines = []
    for name, counts, labels in ((LAG, lag, ""), (OWN, own, 'job="dcgm",')):
        for bound, count in zip(("0.001", "0.005", "+Inf"), counts, strict=True):
            lines.append(f'{name}_bucket{{{labels}le="{bound}"}} {count}.0')
    return "\n".join(lines) + "\n"


def test_own_metrics_give_loop_lag_and_fill_a_missing_scrape_duration() -> None:
    before, after = _metrics((10, 10, 10), (0, 0, 0)), _metrics((10, 20, 20), (0, 4, 4))
    whatap = cr.Result("w", 1, 320)
    cr.apply_own_metrics(whatap, before, after)
    assert whatap.loop_lag_p99_ms == pytest.approx(1 + 4 * 0.99)
    assert whatap.scrape_source == "own /metrics histogram"
    assert whatap.scrape_p50_ms == pytest.approx(3.0)
    rw = cr.Result("r", 1, 320, scrape_source="remote write", scrape_p50_ms=9.0)
    cr.apply_own_metrics(rw, before, after)
    assert (rw.scrape_source, rw.scrape_p50_ms) == ("remote write", 9.0)
    silent = cr.Result("old", 1, 320)
    cr.apply_own_metrics(silent, "", "")
    assert (silent.loop_lag_p99_ms, silent.scrape_p50_ms, silent.scrape_source) == (None, None, "")
