"""Mistakes at ``openagent run`` end the start with one line and the right exit code.

The real ``openagent`` runs in a subprocess, importing this tree, outside any
cluster and in an empty directory: its exit code and stderr are the point.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openagent.preflight import os_reason

REPO = Path(__file__).resolve().parents[1]
VALID = """features:
  openAgent:
    enabled: true
    targets: []
"""


def openagent(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAGENT_", "WHATAP_", "KUBERNETES_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "openagent", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the agent printed, checked to be the only output and to have no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(VALID)
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_missing_config_named_on_the_command_line_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = openagent(tmp_path, "run", "--config", str(missing), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert refused(result) == f"openagent: cannot load --config {missing}: file not found"


def test_an_invalid_config_named_on_the_command_line_exits_2_with_its_first_problem(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        VALID.replace(
            "targets: []",
            "targets:\n    - targetName: a\n      type: StaticEndpoints\n      endpoints:\n"
            "      - {address: '127.0.0.1:1', interval: 15x}\n"
            "      - {address: '127.0.0.1:2', timeout: 2y}",
        )
    )
    result = openagent(tmp_path, "run", "--config", str(bad), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert refused(result) == (
        f"openagent: cannot load --config {bad}: targets[0].endpoints[0].interval: '15x' is "
        f"not a duration (and 1 more; openagent check --config {bad} lists them)"
    )


def test_a_busy_listen_port_exits_1_naming_the_address(
    tmp_path: Path, config: Path, busy_port: int
) -> None:
    listen = f"127.0.0.1:{busy_port}"
    result = openagent(tmp_path, "run", "--config", str(config), "--listen", listen)
    assert result.returncode == 1
    assert refused(result) == (
        f"openagent: cannot listen on 127.0.0.1:{busy_port}: address already in use"
    )


def test_go_agent_words_keep_their_flags_in_the_real_process(
    tmp_path: Path, busy_port: int
) -> None:
    """``foreground --listen`` reaches the server: the busy port it names is refused."""
    result = openagent(tmp_path, "foreground", "--listen", f"127.0.0.1:{busy_port}")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr


@pytest.mark.parametrize(
    ("flag", "where", "why"),
    [
        ("--jsonl-path", "missing/out.jsonl", "no such file or directory"),
        ("--jsonl-path", "", "is a directory"),
        ("--spool-dir", "a-file/spool", "not a directory"),
    ],
)
def test_an_unwritable_output_exits_1_naming_the_path_and_why(
    tmp_path: Path, config: Path, flag: str, where: str, why: str
) -> None:
    (tmp_path / "a-file").write_text("")
    path = tmp_path / where
    result = openagent(
        tmp_path, "run", "--config", str(config), "--listen", "127.0.0.1:0", flag, str(path)
    )
    assert result.returncode == 1
    assert refused(result) == f"openagent: cannot write {flag} {path}: {why}"


def test_the_bare_command_outside_a_cluster_prints_usage_and_exits_2(tmp_path: Path) -> None:
    result = openagent(tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: openagent")
    assert "Traceback" not in result.stderr


def test_os_reason_is_the_errno_text_not_the_wrapping_sentence() -> None:
    wrapped = OSError(errno.EADDRINUSE, "error while attempting to bind on address: whatever")
    assert os_reason(wrapped) == "address already in use"
    assert os_reason(socket.gaierror(-2, "Name or service not known")) == (
        "name or service not known"
    )
    assert os_reason(OSError()) == "OSError"


def test_a_config_over_the_size_limit_named_on_the_command_line_exits_2_unread(
    tmp_path: Path, config: Path
) -> None:
    result = openagent(
        tmp_path, "run", "--config", str(config), "--config-max-bytes", "16",
        "--listen", "127.0.0.1:0",
    )  # fmt: skip
    assert result.returncode == 2
    assert refused(result) == (
        f"openagent: cannot load --config {config}: is {len(VALID)} bytes, more than the "
        "limit of 16B (--config-max-bytes); not loaded"
    )


def test_a_config_with_too_many_endpoints_named_on_the_command_line_exits_2(
    tmp_path: Path, config: Path
) -> None:
    config.write_text(
        VALID.replace(
            "targets: []",
            "targets:\n    - targetName: a\n      type: StaticEndpoints\n      endpoints:\n"
            "      - {address: '127.0.0.1:1'}\n      - {address: '127.0.0.1:2'}",
        )
    )
    result = openagent(
        tmp_path, "run", "--config", str(config), "--config-max-endpoints", "1",
        "--listen", "127.0.0.1:0",
    )  # fmt: skip
    assert result.returncode == 2
    assert refused(result) == (
        f"openagent: cannot load --config {config}: targets: 2 endpoints, more than the limit "
        "of 1 (--config-max-endpoints); not loaded"
    )
