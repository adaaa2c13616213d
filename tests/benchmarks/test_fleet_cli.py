"""The fleet's command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_detach_returns_once_every_node_serves_and_names_its_pid(tmp_path: Path) -> None:
    pid_file = tmp_path / "fleet.pid"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fleet", "--nodes", "2", "--base-port", "0",
         "--families", "2", "--detach", "--pid-file", str(pid_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pid = int(pid_file.read_text())
    try:
        urls = re.findall(r"http://\S+/metrics", done.stdout)
        assert len(urls) == 2
        for url in urls:  # no wait: the parent returned only once both listen
            status, body = get(url)
            assert status == 200 and b"DCGM_FI_" in body
        assert f"kill {pid}" in done.stdout
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_detach_reports_a_fleet_that_cannot_start_and_exits_one(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.fleet", "--nodes", "1",
             "--base-port", str(port), "--detach"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert "did not start" in done.stderr and "exit 1" in done.stderr
