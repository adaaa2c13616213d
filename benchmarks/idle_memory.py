"""The agent's memory baseline: RSS of a lightly loaded agent, per shape.

Run: ``python -m benchmarks.idle_memory [--wait 10] [--repeat 3] [--shape NAME ...]``.

Every shape runs ``python -m openagent run`` in a fresh child process with
this checkout's code, scraping four synthetic dcgm-exporter nodes (320
series each, every 15 s) served from this process on loopback, and reads
``VmRSS`` (and the peak, ``VmHWM``) from ``/proc/<pid>/status`` after
``--wait`` seconds; the figure is the median over ``--repeat`` runs. Shapes:

* ``jsonl``, ``whatap``, ``remote_write``: a static config (the targets of
  ``config/static-demo.yaml``) delivering to a file, to the Whatap collector
  emulator, or to a remote-write receiver that accepts everything;
* ``in-cluster``: a PodMonitor config, discovery talking to the fake API
  server over TLS as the production Deployment does: the service-account
  token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount`` and
  ``KUBERNETES_SERVICE_HOST/PORT``. The files are put there in a private
  mount namespace (``unshare --mount``, root only), so the host sees nothing;
* ``deployment``: the in-cluster shape delivering to the Whatap collector
  emulator, as the single overlay (``deploy/overlays/single``) runs the agent;
* ``kubeconfig``: the in-cluster shape's config, reaching the fake through a
  kubeconfig (``--kubeconfig``), as a local run does.

A kube shape also checks, through ``/targets``, that discovery found the
four pods, so a figure never comes from an agent that failed to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from benchmarks.fleet import Fleet
from benchmarks.whatap_collector import FAKE_LICENSE, Collector

REPO = Path(__file__).resolve().parents[1]
SHAPES = ("jsonl", "whatap", "remote_write", "in-cluster", "deployment", "kubeconfig")
#: The shapes that discover their targets through the fake API server.
KUBE_SHAPES = ("in-cluster", "deployment", "kubeconfig")
TOKEN = "idle-memory-token"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
PODMONITOR = """features:
  openAgent:
    enabled: true
    targets:
    - targetName: dcgm
      type: PodMonitor
      namespaceSelector: {matchNames: [gpu]}
      selector: {matchLabels: {app: dcgm}}
      endpoints:
      - {port: metrics, interval: 15s}
"""


def static_config(ports: list[int]) -> str:
    """``config/static-demo.yaml`` with these ports."""
    lines = "".join(f"      - address: 127.0.0.1:{p}\n        interval: 15s\n" for p in ports)
    return (
        "features:\n  openAgent:\n    enabled: true\n    targets:\n"
        "    - targetName: synthetic-dcgm\n      type: StaticEndpoints\n      enabled: true\n"
        f"      endpoints:\n{lines}"
    )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def status_kib(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Bench:
    """What the shapes share: the fleet, the peers, a scratch directory."""

    tmp: Path
    ports: list[int]
    collector_port: int = 0
    receiver_url: str = ""
    kube_env: dict[str, str] = field(default_factory=dict)
    kubeconfig: Path | None = None
    sa_files: Path | None = None

    def command(self, shape: str, listen: int) -> tuple[list[str], dict[str, str]]:
        """The agent's argv and environment for ``shape``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAGENT_", "WHATAP_"))}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        env.pop("KUBECONFIG", None)
        env["HOME"] = str(self.tmp)  # no ~/.kube/config from the machine
        config = self.tmp / f"{shape}.yaml"
        config.write_text(PODMONITOR if shape in KUBE_SHAPES else static_config(self.ports))
        argv = [sys.executable, "-m", "openagent", "run", "--config", str(config)]
        argv += ["--listen", f"127.0.0.1:{listen}", "--spool-dir", str(self.tmp / "spool" / shape)]
        if shape in ("jsonl", "in-cluster", "kubeconfig"):
            argv += ["--sink", "jsonl", "--jsonl-path", str(self.tmp / f"{shape}.jsonl")]
        elif shape in ("whatap", "deployment"):
            argv += ["--sink", "whatap"]
            env.update(WHATAP_LICENSE=FAKE_LICENSE, WHATAP_HOST="127.0.0.1")
            env["WHATAP_PORT"] = str(self.collector_port)
        elif shape == "remote_write":
            argv += ["--sink", "remote_write", "--remote-write-url", self.receiver_url]
        if shape == "kubeconfig":
            argv += ["--kubeconfig", str(self.kubeconfig)]
        if shape in ("in-cluster", "deployment"):
            env.update(self.kube_env)
            argv = in_private_mounts(argv, self.sa_files)
        return argv, env


def in_private_mounts(argv: list[str], sa_files: Path | None) -> list[str]:
    """``argv`` run where ``SA_DIR`` holds ``sa_files``, in a mount namespace of its own."""
    if sa_files is None or os.geteuid() != 0 or shutil.which("unshare") is None:
        raise SystemExit("the in-cluster shape needs root and unshare(1)")
    run = os.path.realpath(SA_DIR.parents[2])  # /var/run, a symlink to /run on most systems
    script = (
        f'mount -t tmpfs tmpfs "{run}" && mkdir -p "{SA_DIR}" && '
        f'cp "{sa_files}"/* "{SA_DIR}"/ && exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def tail(path: str, lines: int = 20) -> str:
    """The last lines of a log."""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


async def discovered(listen: int) -> int:
    """How many targets the agent at ``listen`` has."""
    url = f"http://127.0.0.1:{listen}/targets"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        body = await r.json()
    return len(body)


async def measure(bench: Bench, shape: str, wait: float) -> tuple[int, int]:
    """One run: (VmRSS, VmHWM) in KiB after ``wait`` seconds."""
    listen = free_port()
    argv, env = bench.command(shape, listen)
    log = (bench.tmp / f"{shape}.log").open("ab")
    proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=REPO, stdout=log, stderr=log)
    try:
        await asyncio.sleep(wait)
        if proc.returncode is not None:
            raise SystemExit(f"{shape}: the agent exited {proc.returncode}:\n{tail(log.name)}")
        rss, hwm = status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM")
        if shape in KUBE_SHAPES and await discovered(listen) < len(bench.ports):
            raise SystemExit(f"{shape}: discovery did not find the pods:\n{tail(log.name)}")
        return rss, hwm
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()


@asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    """A remote-write receiver that accepts every request."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v1/write", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/write"
    finally:
        await runner.cleanup()


async def with_kube(stack: AsyncExitStack, bench: Bench) -> None:
    """Start the fake API server with one dcgm pod per fleet node; fill in how to reach it."""
    from tests.kubefake import FakeKubeServer
    from tests.kubefake import objects as o

    kube = await stack.enter_async_context(
        FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=60.0)
    )
    for i, port in enumerate(bench.ports):
        pod = o.pod(f"dcgm-{i}", "gpu", {"app": "dcgm"}, "127.0.0.1", f"node-{i}")
        pod["spec"]["containers"][0]["ports"][0]["containerPort"] = port
        kube.store.create(pod)
    files = kube.write_incluster_files(bench.tmp / "serviceaccount")
    (files.token_path.parent / "namespace").write_text("whatap-monitoring")
    bench.sa_files, bench.kube_env = files.token_path.parent, files.environ
    bench.kubeconfig = kube.write_kubeconfig(bench.tmp / "kubeconfig")


async def run(shapes: list[str], wait: float, repeat: int, out: Callable[[str], None]) -> None:
    """Measure every shape and print one table row each."""
    with tempfile.TemporaryDirectory(prefix="idle-memory-") as tmp:
        async with AsyncExitStack() as stack:
            fleet = await stack.enter_async_context(Fleet(4, update_interval=15.0))
            bench = Bench(Path(tmp), [n.port for n in fleet.nodes])
            collector = await stack.enter_async_context(Collector(keep_records=False))
            bench.collector_port = collector.port
            bench.receiver_url = await stack.enter_async_context(receiver())
            if set(KUBE_SHAPES) & set(shapes):
                await with_kube(stack, bench)
            out(f"{'shape':14} {'RSS MiB':>8} {'peak MiB':>9}  runs (RSS)")
            for shape in shapes:
                runs = [await measure(bench, shape, wait) for _ in range(repeat)]
                rss = statistics.median(r for r, _ in runs) / 1024
                hwm = statistics.median(h for _, h in runs) / 1024
                each = " ".join(f"{r / 1024:.1f}" for r, _ in runs)
                out(f"{shape:14} {rss:8.1f} {hwm:9.1f}  {each}")


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.idle_memory", description=__doc__)
    p.add_argument("--wait", type=float, default=10.0, help="seconds before reading (10)")
    p.add_argument("--repeat", type=int, default=3, help="runs per shape, median (3)")
    p.add_argument("--shape", action="append", choices=SHAPES, help="repeatable (all)")
    args = p.parse_args(argv)
    asyncio.run(run(args.shape or list(SHAPES), args.wait, args.repeat, print))


if __name__ == "__main__":
    main()
