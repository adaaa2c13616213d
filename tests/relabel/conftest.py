"""Fixtures for comparing relabelling with a real Prometheus 2.42 on loopback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def promtool_check() -> Callable[[dict[str, Any], Path], tuple[bool, str]]:
    """Run ``promtool check config`` on a config; returns (accepted, output)."""
    promtool = _binary("promtool")

    def check(config: dict[str, Any], directory: Path) -> tuple[bool, str]:
        path = directory / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        proc = subprocess.run(
            [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=30
        )
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()

    return check


@pytest.fixture(scope="module")
def exposition_server() -> Iterator[tuple[int, dict[str, str]]]:
    """A loopback HTTP server answering GET <path> with ``pages[path]`` as text exposition."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Prometheus stopped mid-scrape

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], pages
    finally:
        server.shutdown()
        server.server_close()


class Prometheus:
    """A running Prometheus bound to loopback."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{LOOPBACK}:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def wait_scraped(self, jobs: int, timeout: float = 40.0) -> None:
        """Wait until every one of ``jobs`` targets has finished a scrape."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.get("/api/v1/targets")["data"]["activeTargets"]
            done = [t for t in active if not t["lastScrape"].startswith("0001")]
            if len(active) == jobs and len(done) == jobs:
                return
            time.sleep(0.2)
        raise TimeoutError(f"Prometheus did not scrape all {jobs} targets in {timeout}s")


@pytest.fixture(scope="module")
def run_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[dict[str, Any]], Prometheus]]:
    """Start Prometheus with a config (on loopback, fresh storage); stopped at teardown."""
    binary = _binary("prometheus")
    procs: list[subprocess.Popen[bytes]] = []

    def run(config: dict[str, Any]) -> Prometheus:
        directory = tmp_path_factory.mktemp("prometheus")
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address={LOOPBACK}:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "prometheus.log").open("wb"),
        )
        procs.append(proc)
        prometheus = Prometheus(port)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{prometheus.base}/-/ready", timeout=2):
                    return prometheus
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (directory / "prometheus.log").read_text()
                    raise RuntimeError(f"Prometheus did not start:\n{log[-2000:]}") from None
                time.sleep(0.05)

    yield run
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
