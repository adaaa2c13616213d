"""The README is true: its commands run as written, and the metrics it names exist.

Every ``sh`` block in README.md carries a marker on the line before its
fence: ``<!-- runnable -->`` blocks are run here as they stand, as one bash
script (``set -euo pipefail``) from the repository's root, and must exit 0;
``<!-- not run: why -->`` blocks say why they cannot run here (a cluster, a
remote collector) and where else they are checked. A new block without a
marker fails `test_every_shell_block_says_whether_it_runs`, so no command
slips into the README untested. The blocks use the fixed loopback ports the
README shows (19400-19403 for the fleet, 9401 for the agent), so they run one
at a time, and whatever a block leaves running is killed with its session.

The first command of the README, ``scripts/dev.sh demo``, runs in the
foreground until Ctrl-C; `test_the_demo_delivers_the_fleet_to_the_collector_emulator`
runs it, waits until the collector emulator has DCGM samples, and stops it
as a user would. The second, ``scripts/dev.sh test``, is this suite.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_agent import REPO
from tests.test_agent_workers import start_agent

README = REPO / "README.md"
RUNNABLE = "<!-- runnable -->"
NOT_RUN = re.compile(r"<!-- not run: (?P<why>.+) -->")
#: A runnable block's longest run; the slowest, "Running locally", takes about 20 s.
BLOCK_TIMEOUT = 240.0


@dataclass(frozen=True)
class Block:
    """One fenced block: the heading it sits under, its marker line and its text."""

    heading: str
    line: int
    marker: str
    language: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.heading} (line {self.line})"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``, with the non-blank line before its fence."""
    found: list[Block] = []
    heading, before = "top", ""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            body = "\n".join(lines[i + 1 : end]) + "\n"
            found.append(Block(heading, i + 1, before.strip(), line[3:].strip(), body))
            i = end + 1
            continue
        if line.strip():
            before = line
        i += 1
    return found


def shell_blocks() -> list[Block]:
    return [b for b in blocks(README.read_text()) if b.language in ("sh", "bash", "console")]


def runnable_blocks() -> list[Block]:
    return [b for b in shell_blocks() if b.marker == RUNNABLE]


def run_in_own_session(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` from the repo root in a new session; kill what it leaves behind."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, out)


def test_every_shell_block_says_whether_it_runs() -> None:
    unmarked = [
        b.name for b in shell_blocks() if b.marker != RUNNABLE and not NOT_RUN.match(b.marker)
    ]
    assert not unmarked, (
        f"README blocks without <!-- runnable --> or <!-- not run: why -->: {unmarked}"
    )
    assert runnable_blocks(), "the README has no runnable block"


def test_the_block_parser_sees_markers_fences_and_headings() -> None:
    text = "# A\n\n<!-- runnable -->\n```sh\necho 1\n```\n## B\n```sh\necho 2\n```\n"
    found = blocks(text)
    assert [(b.heading, b.marker, b.text) for b in found] == [
        ("A", RUNNABLE, "echo 1\n"),
        ("B", "## B", "echo 2\n"),
    ]


@pytest.mark.timeout(BLOCK_TIMEOUT + 30)
@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: b.name)
def test_runnable_block_exits_zero(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "block.sh"
    script.write_text("set -euo pipefail\n" + block.text)
    done = run_in_own_session(["bash", str(script)], BLOCK_TIMEOUT)
    assert done.returncode == 0, f"{block.name} failed ({done.returncode}):\n{done.stdout[-4000:]}"


@pytest.mark.timeout(300)
def test_the_demo_delivers_the_fleet_to_the_collector_emulator() -> None:
    received = REPO / ".demo" / "received.jsonl"
    received.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    log = REPO / ".demo" / "test-demo.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        demo = subprocess.Popen(
            ["scripts/dev.sh", "demo"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while b"DCGM_FI_" not in (received.read_bytes() if received.exists() else b""):
            assert demo.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
        demo.wait(timeout=60)  # the agent drains and exits; dev.sh stops the fleet and emulator
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()


#: ``openagent_*`` words in the docs that are not metrics: the Go agent's setting names.
NOT_METRICS = frozenset({"openagent_enable_protobuf"})


def metric_names(text: str) -> set[str]:
    """The ``openagent_*`` metric names that ``text`` mentions."""
    return set(re.findall(r"\bopenagent_[a-z0-9_]*[a-z0-9]", text)) - NOT_METRICS


def served_names(exposition: str) -> set[str]:
    """Every family and sample name in a Prometheus text exposition."""
    names = set(re.findall(r"^# (?:HELP|TYPE) (\S+)", exposition, re.M))
    names |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", exposition, re.M))
    return names


def test_metric_names_are_found_in_a_prometheus_text() -> None:
    text = '# TYPE openagent_a_total counter\nopenagent_a_total 1\nopenagent_b{x="1"} 2\n'
    assert served_names(text) == {"openagent_a_total", "openagent_b"}
    assert metric_names("see `openagent_a_total` and openagent_b.") == {
        "openagent_a_total",
        "openagent_b",
    }


async def test_every_metric_the_docs_name_is_served_on_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web

    from benchmarks.fleet import Fleet
    from benchmarks.whatap_collector import FAKE_LICENSE, Collector

    docs = [REPO / "README.md", REPO / "deploy" / "README.md", REPO / "benchmarks" / "README.md"]
    named = set().union(*(metric_names(p.read_text()) for p in docs if p.exists()))
    assert named
    served: set[str] = set()

    async def took(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/api/v1/write", took)
    runner = web.AppRunner(receiver)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rw_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with (
            Fleet(2, gpus=1, families=3, base_port=0) as fleet,
            Collector() as collector,
        ):
            every_sink = ("--sink", "jsonl", "--sink", "whatap", "--sink", "remote-write")
            runs = (
                ("--workers", "1"),  # one process serves every family of the jsonl sink
                ("--workers", "2"),  # worker processes add the worker families
                (*every_sink, "--remote-write-url", f"{rw_url}/api/v1/write"),  # the sinks' own
            )
            for n, flags in enumerate(runs):
                if "whatap" in flags:
                    for name, value in {
                        "WHATAP_LICENSE": FAKE_LICENSE,
                        "WHATAP_HOST": "127.0.0.1",
                        "WHATAP_PORT": str(collector.port),
                        "WHATAP_ONAME": "readme-agent",
                    }.items():
                        monkeypatch.setenv(name, value)
                run_dir = tmp_path / str(n)
                run_dir.mkdir()
                agent = await start_agent(run_dir, fleet, *flags)
                try:
                    served |= served_names((await agent.get("/metrics")).decode())
                finally:
                    agent.proc.send_signal(signal.SIGTERM)
                    await agent.proc.wait()
    finally:
        await runner.cleanup()
    assert named <= served, f"named in the docs but not on /metrics: {sorted(named - served)}"


if __name__ == "__main__":  # pragma: no cover - a way to list the blocks by hand
    for b in shell_blocks():
        print(b.name, b.marker, file=sys.stdout)
