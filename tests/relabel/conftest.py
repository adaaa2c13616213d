"""Fixtures for comparing relabelling with a real Prometheus 2.42 on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
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
