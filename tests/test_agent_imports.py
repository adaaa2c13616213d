"""What a running agent loads: libraries that only some paths need stay out of the others.

kubernetes_asyncio alone is 37-43 MiB of RSS (`openagent.kube.incluster`):
an agent with static targets must not load it, and neither must one in a pod
that discovers its targets through the service account. Each run is a
process of its own (this one has loaded everything for other tests): the
agent runs from the command line until its jsonl sink has written a sample
from the expected target, stops on SIGTERM and prints its ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.kubefake import FakeKubeServer
from tests.kubefake import objects as o
from tests.support import Exporter

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[1]
TOKEN = "agent-imports-token"
#: Only the Whatap sink needs cryptography and zlib-ng, only remote write cramjam.
SINK_LIBRARIES = ("cryptography", "zlib_ng", "cramjam")

#: Runs ``openagent`` with argv[3:]; stops it once argv[1] (the jsonl file) holds argv[2].
RUNNER = """
import json, os, signal, sys, threading, time
from pathlib import Path

out, marker = Path(sys.argv[1]), sys.argv[2]
if os.environ.get("SA_DIR"):  # the pod's service-account directory, moved for the test
    import openagent.kube.cluster as cluster, openagent.kube.incluster as incluster
    cluster.SERVICE_ACCOUNT_DIR = incluster.SERVICE_ACCOUNT_DIR = Path(os.environ["SA_DIR"])

def stop_after_a_sample():
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if out.exists() and marker in out.read_text():
            break
        time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_after_a_sample, daemon=True).start()
from openagent.cli import main
code = main(sys.argv[3:])
seen = out.exists() and marker in out.read_text()
print(json.dumps({"code": code, "seen": seen, "modules": sorted(sys.modules)}))
"""


async def run_agent(
    tmp_path: Path, config: str, marker: str, env: dict[str, str] | None = None
) -> set[str]:
    """Run the agent on ``config`` until ``marker`` is delivered; the modules it loaded."""
    (tmp_path / "scrape_config.yaml").write_text(config)
    out = tmp_path / "out.jsonl"
    argv = ["run", "--config", str(tmp_path / "scrape_config.yaml"), "--sink", "jsonl"]
    argv += ["--jsonl-path", str(out), "--listen", "127.0.0.1:0"]
    argv += ["--spool-dir", str(tmp_path / "spool")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAGENT_", "WHATAP_"))}
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG"):
        clean.pop(name, None)
    clean.update(HOME=str(tmp_path), **(env or {}))
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-c", RUNNER, str(out), marker, *argv],
        cwd=REPO,
        env=clean,
        stdout=PIPE,
        stderr=PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    report = json.loads(stdout.decode().splitlines()[-1])
    assert report["code"] == 0 and report["seen"], stderr.decode()[-3000:]
    return set(report["modules"])


def loaded(modules: set[str], *packages: str) -> list[str]:
    """The modules of ``packages`` among ``modules``."""
    return sorted(m for m in modules if m.split(".")[0] in packages)


async def test_a_static_run_loads_no_kubernetes_client(tmp_path: Path, exporter: Exporter) -> None:
    exporter.body = b'# TYPE dcgm_test gauge\ndcgm_test{gpu="0"} 1\n'
    config = f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: static
      type: StaticEndpoints
      endpoints:
      - {{address: "127.0.0.1:{exporter.port}", interval: 1s}}
"""
    modules = await run_agent(tmp_path, config, '"name":"dcgm_test"')
    assert loaded(modules, "kubernetes_asyncio") == []
    assert loaded(modules, *SINK_LIBRARIES) == []
    assert "openagent.kube.client" not in modules  # no cluster asked for


@pytest.fixture
async def kube_tls() -> AsyncIterator[FakeKubeServer]:
    """HTTPS with a trustme CA, bearer token required."""
    async with FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=0.5) as server:
        yield server


async def test_an_in_cluster_run_loads_no_kubernetes_client(
    tmp_path: Path, exporter: Exporter, kube_tls: FakeKubeServer
) -> None:
    exporter.body = b'# TYPE dcgm_test gauge\ndcgm_test{gpu="0"} 1\n'
    pod = o.pod("dcgm-a", "gpu", {"app": "dcgm"}, "127.0.0.1", "node-1")
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = exporter.port
    kube_tls.store.create(pod)
    files = kube_tls.write_incluster_files(tmp_path / "serviceaccount")
    config = """features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: PodMonitor
      namespaceSelector: {matchNames: [gpu]}
      selector: {matchLabels: {app: dcgm}}
      endpoints:
      - {port: metrics, interval: 1s}
"""
    env = {**files.environ, "SA_DIR": str(files.token_path.parent), "POD_NAMESPACE": "gpu"}
    modules = await run_agent(tmp_path, config, '"pod":"dcgm-a"', env)
    assert "openagent.kube.incluster" in modules  # it did go through the service account
    assert loaded(modules, "kubernetes_asyncio") == []
    pods = kube_tls.requests_for("pods", "list")
    assert pods and pods[0].headers["Authorization"] == f"Bearer {TOKEN}"
