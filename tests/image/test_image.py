"""The container image, built for real (scripts/image.py) and run through its filesystem.

The build is the one ``scripts/dev.sh image`` does: a Debian bookworm base made
by mmdebstrap, then ``podman build`` of the Dockerfile on it. The first build on
a machine makes the base and downloads the wheels (about a minute); later ones
reuse the cache under ``~/.cache/openagent``. The image is then started the way
the Whatap Operator's Deployment starts it (see `tests.image.chroot`), as its
user on a read-only root, against a synthetic dcgm-exporter fleet on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.image.chroot import ImageConfig, ImageRoot, mounted

ROOT = Path(__file__).resolve().parents[2]
UID = GID = 1001
#: Names a C compiler goes by; the image must hold none (every dependency is a wheel).
COMPILER = re.compile(r"^(cc|c\+\+|gcc|g\+\+|clang|clang\+\+|tcc)(-[\d.]+)?$|-linux-gnu-gcc")
SPOOL = "/var/lib/openagent/spool"

pytestmark = [
    pytest.mark.image,
    # A first build makes the base and fetches the wheels; later ones are cached.
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (shutil.which("podman") and shutil.which("mmdebstrap")),
        reason="podman and mmdebstrap are needed to build the image (scripts/dev.sh setup)",
    ),
]

#: What the builds measured, printed at the end of the run (conftest.py).
MEASURED: dict[str, Any] = {}


@dataclass(frozen=True)
class Built:
    """A build's result as scripts/image.py prints it with --json."""

    tag: str
    image_id: str
    base: str
    podman: list[str]
    seconds: float
    size_bytes: int


def build(tag: str) -> Built:
    """Build the image with scripts/image.py, as ``scripts/dev.sh image`` does."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "image.py"), "build", "--tag", tag, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads(proc.stdout)
    seconds = time.monotonic() - started
    return Built(
        doc["tag"], doc["image_id"], doc["base"], doc["podman"], seconds, doc["size_bytes"]
    )


@pytest.fixture(scope="module")
def built() -> Built:
    """The image of this checkout, under a tag of its own (worktrees share the cache)."""
    tag = "localhost/openagent-test:" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    result = build(tag)
    MEASURED.update(tag=tag, size_mb=result.size_bytes / 1e6, first_build_s=result.seconds)
    return result


@pytest.fixture(scope="module")
def image(built: Built) -> Iterator[ImageRoot]:
    """The built image, mounted read-only for the test module."""
    with mounted(built.podman, built.tag) as path:
        yield ImageRoot(path, ImageConfig.inspect(built.podman, built.tag))


def scratch(path: Path) -> Path:
    """A host directory the image's user may write, to mount as a volume."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, GID)
    return path


def test_config_starts_openagent_as_1001_in_app_with_no_default_arguments(
    image: ImageRoot,
) -> None:
    assert image.config.user == f"{UID}:{GID}"
    assert image.config.entrypoint == ["openagent"]
    # The operator's Deployment gives no args or "-d": any CMD would be taken as args.
    assert image.config.cmd == []
    assert image.config.workdir == "/app"
    assert image.config.exposed_ports == ["9401/tcp"]


def test_version_runs_as_the_image_user(image: ImageRoot) -> None:
    proc = image.run(["version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"openagent {project_version()}"


def test_check_accepts_the_operator_rendered_config(image: ImageRoot, tmp_path: Path) -> None:
    app = scratch(tmp_path / "app")
    shutil.copy(ROOT / "config" / "operator-rendered.yaml", app / "scrape_config.yaml")
    proc = image.run(["check", "--config", "/app/scrape_config.yaml"], volumes={"/app": app})
    assert proc.returncode == 0, proc.stderr
    assert "scrape_config.yaml: OK" in proc.stdout


def test_started_like_the_operator_does_it_delivers_the_fleets_samples(
    image: ImageRoot, tmp_path: Path
) -> None:
    """No arguments and ./scrape_config.yaml, as the operator's Deployment (outside a
    cluster: file mode), on a read-only root with only the spool and /tmp writable."""
    fleet_file = tmp_path / "fleet.json"
    fleet = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fleet", "--nodes", "2", "--gpus", "2",
         "--families", "5", "--base-port", "0", "--endpoints-file", str(fleet_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        nodes = wait_for_fleet(fleet, fleet_file)
        app, tmp, spool = (scratch(tmp_path / d) for d in ("app", "tmp", "spool"))
        (app / "scrape_config.yaml").write_text(static_config(nodes))
        agent = image.start(
            args=None,
            volumes={"/app": app, "/tmp": tmp, SPOOL: spool},
            env={
                "OPENAGENT_SINKS": "jsonl",
                "OPENAGENT_JSONL_PATH": "/tmp/samples.jsonl",
                "OPENAGENT_SPOOL_DIR": SPOOL,
                "OPENAGENT_LISTEN": "127.0.0.1:0",
            },
        )
        try:
            hostnames = {n["hostname"] for n in nodes}
            seen = wait_for_samples(agent, tmp / "samples.jsonl", hostnames)
            ids = process_ids(agent.pid)
        finally:
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=60)
    finally:
        fleet.terminate()
        fleet.wait(timeout=30)
    assert seen == hostnames
    assert ids == {"Uid": UID, "Gid": GID}
    assert agent.returncode == 0, stderr[-4000:]
    assert "Read-only file system" not in stderr


def test_installs_exactly_the_pinned_dependencies(image: ImageRoot) -> None:
    listing = "import importlib.metadata as m\nfor d in m.distributions(): print(d.name, d.version)"
    proc = image.run(["-c", listing], entrypoint=["python3"])
    assert proc.returncode == 0, proc.stderr
    installed = {pin(*line.split()) for line in proc.stdout.splitlines()}
    pinned = {
        pin(*line.split("=="))
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert installed - pinned == {pin("openagent", project_version())}
    assert pinned - installed == set()


def test_holds_no_compiler(image: ImageRoot) -> None:
    found = []
    for directory in ("usr/bin", "usr/local/bin", "bin", "opt/openagent/bin"):
        where = image.path / directory
        if where.is_dir() and not where.is_symlink():
            found += [f"/{directory}/{p.name}" for p in where.iterdir() if COMPILER.search(p.name)]
    assert found == []


def test_trusts_the_base_cas_not_the_build_machines(image: ImageRoot, built: Built) -> None:
    """The build mounts this machine's CA bundle for pip; it must not end up in the image."""
    bundle = "etc/ssl/certs/ca-certificates.crt"
    with mounted(built.podman, built.base) as base:
        assert (image.path / bundle).read_bytes() == (base / bundle).read_bytes()


def test_build_context_holds_only_what_the_package_build_needs(
    built: Built, tmp_path: Path
) -> None:
    """.dockerignore, as podman applies it: editing tests or docs leaves the layers cached."""
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text(f"FROM {built.base}\nCOPY . /context\nRUN find /context -type f\n")
    tag = built.tag + "-context"
    proc = subprocess.run(
        [*built.podman, "build", "--isolation", "chroot", "--network", "host", "--layers=false",
         "--file", str(containerfile), "--tag", tag, str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    subprocess.run([*built.podman, "rmi", "--force", tag], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    sent = {line.removeprefix("/context/") for line in proc.stdout.split() if "/context/" in line}
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "openagent").rglob("*") if p.is_file()}
    package = {name for name in package if "__pycache__" not in name}
    assert sent == {"constraints.txt", "pyproject.toml", "README.md"} | package


def test_rebuild_with_nothing_changed_reuses_the_image(built: Built) -> None:
    again = build(built.tag)
    MEASURED["cached_build_s"] = again.seconds
    assert again.image_id == built.image_id


def pin(name: str, version: str) -> str:
    """``name==version`` with the name normalised as in PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower() + "==" + version


def project_version() -> str:
    """The version pyproject.toml declares."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


def static_config(nodes: list[dict[str, Any]]) -> str:
    """A StaticEndpoints config scraping every fleet node each second."""
    endpoints = "".join(
        f"      - address: {n['host']}:{n['port']}\n        interval: 1s\n" for n in nodes
    )
    return (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: fleet\n      type: StaticEndpoints\n      enabled: true\n"
        f"      endpoints:\n{endpoints}"
    )


def wait_for_fleet(fleet: subprocess.Popen[str], endpoints: Path) -> list[dict[str, Any]]:
    """The fleet's nodes, once it wrote its endpoints file."""
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        assert fleet.poll() is None, fleet.communicate()[1]
        assert time.monotonic() < deadline, "the fleet did not start"
        time.sleep(0.05)
    nodes: list[dict[str, Any]] = json.loads(endpoints.read_text())["nodes"]
    return nodes


def wait_for_samples(agent: subprocess.Popen[str], path: Path, hostnames: set[str]) -> set[str]:
    """The fleet hostnames seen in the jsonl file, once samples of all of them arrived."""
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while seen != hostnames:
        if agent.poll() is not None:
            pytest.fail(f"the agent exited {agent.returncode}: {agent.communicate()[1][-4000:]}")
        assert time.monotonic() < deadline, f"samples from {hostnames - seen} never arrived"
        if path.exists():
            *complete, _ = path.read_text().split("\n")  # the last line may be partial
            for line in complete:
                labels = json.loads(line)["labels"]
                seen.add(labels.get("Hostname") or labels.get("hostname", ""))
            seen &= hostnames
        time.sleep(0.2)
    return seen


def process_ids(pid: int) -> dict[str, int]:
    """The real user and group id of a running process (from /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("Uid", "Gid")}
