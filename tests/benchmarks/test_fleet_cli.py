"""The fleet's command line, run as a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[bytes]:
    """Start ``python -m benchmarks.fleet`` with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fleet", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Wait (bounded) until the fleet wrote its endpoints file."""
    deadline = time.monotonic() + 20
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "fleet did not write its endpoints file"
        time.sleep(0.05)
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def get(url: str) -> tuple[int, bytes]:
    """GET ``url``; return the status and body, also for HTTP errors."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_exits_zero_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    endpoints = tmp_path / "endpoints.json"
    proc = start(
        "--nodes", "2", "--base-port", "0", "--families", "2", "--fail-node", "1:503",
        "--endpoints-file", str(endpoints),
    )  # fmt: skip
    try:
        doc = wait_for(endpoints, proc)
        assert doc["pid"] == proc.pid
        nodes = doc["nodes"]
        assert [n["hostname"] for n in nodes] == ["gpu-node-0", "gpu-node-1"]
        status, body = get(nodes[0]["url"])
        assert status == 200
        assert body.count(b"# TYPE ") == 2
        assert get(nodes[1]["url"])[0] == 503
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ip_per_node_and_urls_on_stdout() -> None:
    proc = start("--nodes", "2", "--ip-per-node", "--port", "0", "--families", "1")
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().decode().strip() for _ in range(2)]
        assert urls[0].startswith("http://127.0.1.1:")
        assert urls[1].startswith("http://127.0.1.2:")
        for i, url in enumerate(urls):
            status, body = get(url)
            assert status == 200
            assert f'Hostname="gpu-node-{i}"'.encode() in body
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "2", "--fail-node", "7:500"], "node 7 does not exist"),
        (["--slow-node", "x"], "expected NODE:SECONDS"),
        (["--fail-node", "0:99"], "fault.status"),
        (["--host", "192.0.2.1"], "not a loopback address"),
        (["--families", "99"], "families must be in"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    proc = start(*args)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert message in err.decode()
