"""Informer cost against the fake API server: start-up, memory, CPU per event.

Run: ``python -m benchmarks.discovery_bench [--pods 5000 20000] [--burst 2000]``.

For each pod count, a fake API server (``tests.kubefake``, loopback only)
runs in its own process with that many realistic pods (as a 1.32 cluster
serves them: managedFields, the service-account volume, env, probes,
tolerations, statuses) over ``--namespaces`` namespaces. Each measurement
runs in a fresh process of its own so memory figures do not mix:

* converge: wall and CPU seconds from start to ``synced`` (paginated list,
  500 a page; the median of ``--repeat`` runs; the wall time includes the
  fake server's own serving, on the same machine), and the RSS growth (after
  the list and at the peak, from ``/proc/self/status``);
* retained: bytes tracemalloc still attributes to the live informer after
  the list (pruned as the agent runs it, and unpruned for comparison), and
  tracemalloc's peak during start-up;
* burst: the server changes a label on ``--burst`` pods at once; the CPU
  time of the informer process until it has seen every one, per event.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import statistics
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

NAMESPACES = 50
TOKEN = "bench-token"


def realistic_pod(i: int, namespaces: int) -> dict[str, Any]:
    """A pod shaped like one a real API server returns (about 5 KB of JSON)."""
    from tests.kubefake import objects as o

    ns = f"ns-{i % namespaces:02d}"
    name = f"worker-{i:06d}"
    pod = o.pod(
        name,
        ns,
        {"app": "nvidia-dcgm-exporter" if i % 5 == 0 else "worker", "idx": str(i)},
        f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        f"node-{i % 500:03d}",
        owner=("ReplicaSet", f"worker-{i % 300}-7d4b9c"),
        annotations={"kubectl.kubernetes.io/restartedAt": "2026-11-20T08:00:00Z"},
    )
    meta, spec = pod["metadata"], pod["spec"]
    meta["generateName"] = f"worker-{i % 300}-7d4b9c-"
    meta["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-20T08:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:generateName": {}, "f:labels": {"f:app": {}, "f:idx": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"dcgm-exporter"}': {
                            f"f:{k}": {}
                            for k in (
                                "image",
                                "imagePullPolicy",
                                "name",
                                "ports",
                                "resources",
                                "env",
                                "livenessProbe",
                                "readinessProbe",
                                "volumeMounts",
                                "terminationMessagePath",
                                "terminationMessagePolicy",
                            )
                        }
                    },
                    **{
                        f"f:{k}": {}
                        for k in (
                            "dnsPolicy",
                            "enableServiceLinks",
                            "restartPolicy",
                            "schedulerName",
                            "securityContext",
                            "serviceAccount",
                            "serviceAccountName",
                            "terminationGracePeriodSeconds",
                            "tolerations",
                            "volumes",
                        )
                    },
                },
            },
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-20T08:00:05Z",
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {
                        f'k:{{"type":"{t}"}}': {
                            ".": {},
                            "f:lastProbeTime": {},
                            "f:lastTransitionTime": {},
                            "f:status": {},
                            "f:type": {},
                        }
                        for t in ("ContainersReady", "Initialized", "Ready", "PodScheduled")
                    },
                    "f:containerStatuses": {},
                    "f:hostIP": {},
                    "f:hostIPs": {},
                    "f:phase": {},
                    "f:podIP": {},
                    "f:podIPs": {},
                    "f:startTime": {},
                }
            },
        },
    ]
    container = spec["containers"][0]
    container["env"] = [
        {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    probe = {"httpGet": {"path": "/health", "port": 9400, "scheme": "HTTP"}, "periodSeconds": 10}
    container["livenessProbe"] = container["readinessProbe"] = probe
    container["volumeMounts"] = [
        {
            "name": "kube-api-access-x7k2p",
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        },
    ]
    spec["volumes"] = [
        {
            "name": "kube-api-access-x7k2p",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    ]
    spec["tolerations"] = [
        {
            "key": f"node.kubernetes.io/{t}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for t in ("not-ready", "unreachable")
    ]
    return pod


# -- the server process -------------------------------------------------------


def serve(conn: Connection, pods: int, namespaces: int) -> None:
    """Run a fake API server with ``pods`` pods; obey ``("burst", n)`` / ``("stop",)``."""
    asyncio.run(_serve(conn, pods, namespaces))


async def _serve(conn: Connection, pods: int, namespaces: int) -> None:
    from tests.kubefake import FakeKubeServer
    from tests.kubefake.kinds import kind_of

    loop = asyncio.get_running_loop()
    async with FakeKubeServer(token=TOKEN, bookmark_interval=60.0) as kube:
        kube.store.create_many(realistic_pod(i, namespaces) for i in range(pods))
        for stored in kube.store.state(kind_of("pods")).objects.values():
            stored.item_json()  # encode once now, so every run is served alike
        gc.collect()
        gc.freeze()  # the store is permanent: keep it out of the server's collections
        conn.send({"url": kube.url, "item_bytes": len(orjson.dumps(realistic_pod(0, namespaces)))})
        round_no = 0
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd[0] == "stop":
                break
            round_no += 1
            for i in range(cmd[1]):
                name = f"worker-{i:06d}"
                kube.store.patch_labels(
                    "pods", f"ns-{i % namespaces:02d}", name, {"round": str(round_no)}
                )
            conn.send("done")


# -- the measuring process ----------------------------------------------------


def _rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    except OSError:
        return False
    return True


def measure(url: str, control: Connection | None, burst: int, mode: str) -> dict[str, float]:
    """One informer run in this process; ``mode``: timed, traced or traced-unpruned."""
    return asyncio.run(_measure(url, control, burst, mode))


async def _measure(url: str, control: Connection | None, burst: int, mode: str) -> dict[str, float]:
    from openagent.kube import Informer, InformerKey, InformerOptions
    from openagent.kube.client import connect

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            orjson.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "b", "cluster": {"server": url}}],
                    "users": [{"name": "b", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "b", "context": {"cluster": "b", "user": "b"}}],
                    "current-context": "b",
                }
            ).decode()
        )
        client = await connect(kubeconfig)
    options = InformerOptions(prune=mode != "traced-unpruned")
    informer = Informer(client, InformerKey("pods"), options)
    modified = 0

    def count(event_type: str, old: Any, new: Any) -> None:
        nonlocal modified
        if event_type == "MODIFIED":
            modified += 1

    informer.subscribe(count)
    gc.collect()
    result: dict[str, float] = {}
    traced = mode.startswith("traced")
    if traced:
        tracemalloc.start()
        base_traced = tracemalloc.get_traced_memory()[0]
    rss0 = _rss_kib()
    peak_ok = _reset_peak()
    t0, cpu0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(informer.run())
    await informer.synced.wait()
    result["converge_s"] = time.perf_counter() - t0
    result["converge_cpu_s"] = time.process_time() - cpu0
    result["objects"] = len(informer.objects)
    gc.collect()
    if traced:
        current, peak = tracemalloc.get_traced_memory()
        result["retained_mb"] = (current - base_traced) / 2**20
        result["traced_peak_mb"] = (peak - base_traced) / 2**20
        tracemalloc.stop()
    else:
        result["rss_mb"] = (_rss_kib() - rss0) / 1024
        if peak_ok:
            result["rss_peak_mb"] = (_rss_kib("VmHWM") - rss0) / 1024
    if control is not None and burst:
        await asyncio.sleep(0.5)  # let the watch open
        cpu0, wall0 = time.process_time(), time.perf_counter()
        control.send(("burst", burst))
        while modified < burst:  # noqa: ASYNC110 (polling keeps the subscriber trivial)
            await asyncio.sleep(0.005)
        result["burst_cpu_us"] = (time.process_time() - cpu0) / burst * 1e6
        result["burst_wall_s"] = time.perf_counter() - wall0
        await asyncio.get_running_loop().run_in_executor(None, control.recv)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()
    return result


# -- orchestration --------------------------------------------------------------


def _in_child(target: Any, *args: Any) -> Any:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child_main, args=(child, target, *args))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def _child_main(conn: Connection, target: Any, *args: Any) -> None:
    conn.send(target(*args))


def run(pods: int, namespaces: int, burst: int, repeat: int) -> dict[str, float]:
    """All measurements for one pod count."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=serve, args=(theirs, pods, namespaces), daemon=True)
    server.start()
    hello = ours.recv()
    url = hello["url"]
    row: dict[str, float] = {"pods": pods, "item_kb": hello["item_bytes"] / 1024}
    try:
        timed = [_in_child(measure, url, ours, min(burst, pods), "timed") for _ in range(repeat)]
        for key in timed[0]:
            row[key] = statistics.median(t[key] for t in timed)
        traced = _in_child(measure, url, None, 0, "traced")  # slowed down by tracing
        row["retained_mb"], row["traced_peak_mb"] = traced["retained_mb"], traced["traced_peak_mb"]
        unpruned = _in_child(measure, url, None, 0, "traced-unpruned")
        row["retained_unpruned_mb"] = unpruned["retained_mb"]
    finally:
        ours.send(("stop",))
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    return row


COLUMNS = [
    ("pods", "pods", "{:.0f}"),
    ("item_kb", "KB/pod (wire)", "{:.1f}"),
    ("converge_s", "converge s", "{:.2f}"),
    ("converge_cpu_s", "converge CPU s", "{:.2f}"),
    ("rss_mb", "RSS +MB", "{:.1f}"),
    ("rss_peak_mb", "peak RSS +MB", "{:.1f}"),
    ("retained_mb", "held MB", "{:.1f}"),
    ("retained_unpruned_mb", "held unpruned MB", "{:.1f}"),
    ("traced_peak_mb", "traced peak MB", "{:.1f}"),
    ("burst_cpu_us", "CPU µs/event", "{:.0f}"),
    ("burst_wall_s", "burst s", "{:.2f}"),
]


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run every pod count, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--namespaces", type=int, default=NAMESPACES)
    parser.add_argument("--burst", type=int, default=2000, help="label updates in the burst")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    args = parser.parse_args(argv)
    rows = [run(n, args.namespaces, args.burst, args.repeat) for n in args.pods]
    print(" | ".join(title for _, title, _ in COLUMNS))
    for row in rows:
        print(" | ".join(fmt.format(row[k]) if k in row else "-" for k, _, fmt in COLUMNS))


if __name__ == "__main__":
    main()
