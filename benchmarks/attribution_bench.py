"""GPU workload attribution at fleet scale: API requests, memory held, warm scrape cost.

Run: ``python -m benchmarks.attribution_bench [--nodes 200] [--gpus 25] [--rounds 5]``.

A fake API server (``tests.kubefake``, loopback, in a process of its own)
holds ``nodes`` GPU nodes and one pod per GPU (5,000 by default), named as
the fleet's exporters name them (``benchmarks.dcgm_payload`` with
``pods_per_gpu=1``): a quarter each owned through a ReplicaSet (Deployment),
through a Job (CronJob), by a StatefulSet, and by nothing. This process:

* resolves every pod and node the fleet's bodies name with the
  `WorkloadResolver`, and reports the requests the server saw (by verb and
  resource), the time until every answer is in, and the memory the resolver
  holds afterwards (tracemalloc: the drop when it is released);
* scrapes each node's body warm with a `TargetCache` per node, attribution
  on (every answer in) and off, and reports CPU ns per sample of parse and
  settle, the median of ``--rounds`` interleaved rounds, and the memory the
  caches hold.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import multiprocessing as mp
import re
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.dcgm_payload import NodeShape, Payload

TOKEN = "bench-token"
_POD = re.compile(r'namespace="([^"]+)",pod="([^"]+)"')
POD_LABELS = ("team", "app.kubernetes.io/name")
NODE_LABELS = ("nvidia.com/gpu.product", "node.kubernetes.io/instance-type")


def shapes(nodes: int, gpus: int) -> list[NodeShape]:
    """The fleet's nodes, one pod per GPU."""
    return [NodeShape(f"gpu-node-{i}", gpus, 40, 1, seed=i) for i in range(nodes)]


def named(payload: Payload) -> list[tuple[str, str]]:
    """The (namespace, pod) of each GPU of a node."""
    return [(m[1], m[2]) for b in payload.blocks if (m := _POD.search(b))]


def world(nodes: int, gpus: int) -> list[dict[str, Any]]:
    """Nodes, owners and pods for the fake server."""
    from tests.kubefake.objects import controlled, node, pod

    objs: list[dict[str, Any]] = []
    owners: set[tuple[str, str, str]] = set()
    seen: set[tuple[str, str]] = set()  # two nodes' random suffixes may meet: one pod
    for i, shape in enumerate(shapes(nodes, gpus)):
        labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "zone": f"z{i % 3}"}
        labels["node.kubernetes.io/instance-type"] = "p5.48xlarge"
        objs.append(node(shape.hostname, labels=labels))
        for gpu, (ns, name) in enumerate(named(Payload(shape))):
            if (ns, name) in seen:
                continue
            seen.add((ns, name))
            way = gpu % 4
            owner: tuple[str, str] | None = None
            if way == 0:
                owner = ("ReplicaSet", f"train-{i % 50}-5d8f")
                owners.add(("ReplicaSet", ns, owner[1]))
            elif way == 1:
                owner = ("Job", f"nightly-{i % 50}-2901")
                owners.add(("Job", ns, owner[1]))
            elif way == 2:
                owner = ("StatefulSet", f"infer-{i % 50}")
            team = {"team": f"team-{gpu % 7}", "app.kubernetes.io/name": "train"}
            objs.append(pod(name, ns, labels=team, node=shape.hostname, owner=owner))
    for kind, ns, name in sorted(owners):
        top = ("Deployment", name[:-5]) if kind == "ReplicaSet" else ("CronJob", name[:-5])
        objs.append(controlled(kind, name, ns, top))
    return objs


def serve(conn: Connection, nodes: int, gpus: int) -> None:
    """Run the fake API server; answer ``"requests"`` with its request counts."""
    asyncio.run(_serve(conn, nodes, gpus))


async def _serve(conn: Connection, nodes: int, gpus: int) -> None:
    from tests.kubefake import FakeKubeServer

    loop = asyncio.get_running_loop()
    async with FakeKubeServer(token=TOKEN, bookmark_interval=60.0) as kube:
        kube.store.create_many(world(nodes, gpus))
        conn.send(kube.url)
        while (await loop.run_in_executor(None, conn.recv)) != "stop":
            counts = Counter(f"{r.verb} {r.resource}" for r in kube.requests)
            conn.send(dict(counts))


async def resolve(url: str, nodes: int, gpus: int, tmp: Path) -> dict[str, float]:
    """Every pod and node named, until every answer is in; requests and memory held."""
    from openagent.kube.attribution import AttributionOptions, WorkloadResolver
    from openagent.kube.client import connect

    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(_kubeconfig(url))
    client = await connect(kubeconfig)
    payloads = [Payload(s) for s in shapes(nodes, gpus)]

    async def get_client() -> Any:
        return client

    options = AttributionOptions(pod_labels=POD_LABELS, node_labels=NODE_LABELS, concurrency=16)
    gc.collect()
    tracemalloc.start()
    resolver = WorkloadResolver(get_client, options)
    started = time.perf_counter()
    for shape, payload in zip(shapes(nodes, gpus), payloads, strict=True):
        for ns, name in named(payload):
            resolver.pod(ns, name)
        resolver.node(shape.hostname)
    await resolver.settled()
    wall = time.perf_counter() - started
    gc.collect()
    with_resolver = tracemalloc.get_traced_memory()[0]
    attributed = sum(1 for p in payloads for k in named(p) if resolver.pod(*k))
    requests = resolver.requests
    del resolver
    gc.collect()
    held = with_resolver - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    await client.close()
    return {"resolve_s": wall, "requests": requests, "held_mb": held / 2**20, "pods": attributed}


def _kubeconfig(url: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{url}"}}}}]
users: [{{name: bench, user: {{token: {TOKEN}}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: bench}}}}]
current-context: fake
"""


class Answers:
    """Every pod's and node's answer, fixed: the warm path after every lookup came back."""

    generation = 1

    def __init__(self, nodes: int, gpus: int) -> None:
        self.pods: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        for shape in shapes(nodes, gpus):
            for gpu, key in enumerate(named(Payload(shape))):
                self.pods[key] = (
                    ("workload_kind", "Deployment"),
                    ("workload", f"train-{gpu % 50}"),
                    ("label_team", f"team-{gpu % 7}"),
                    ("label_app_kubernetes_io_name", "train"),
                )
        self.node_labels = (
            ("node_label_nvidia_com_gpu_product", "NVIDIA-H100-80GB-HBM3"),
            ("node_label_node_kubernetes_io_instance_type", "p5.48xlarge"),
        )

    def pod(self, namespace: str, name: str) -> tuple[tuple[str, str], ...]:
        return self.pods.get((namespace, name), ())

    def node(self, name: str) -> tuple[tuple[str, str], ...]:
        return self.node_labels

    def touch(self, pods: Any, node: str) -> None:
        for _ in pods:
            pass


async def scrape_cost(nodes: int, gpus: int, rounds: int) -> dict[str, float]:
    """CPU ns per sample of a warm parse + settle, attribution on and off; cache memory."""
    from openagent.exposition import Limits
    from openagent.scrape.cache import TargetCache
    from tests.scrape.test_attribution import static_target

    limits = Limits(sample_limit=200_000)
    answers = Answers(nodes, gpus)
    payloads = [Payload(s) for s in shapes(nodes, gpus)]
    bodies = [p.render(0).decode() for p in payloads]
    samples = sum(p.samples for p in payloads)
    out: dict[str, float] = {}
    caches: dict[str, list[TargetCache]] = {}
    for mode in ("off", "on"):
        gc.collect()
        tracemalloc.start()
        made = []
        for i, shape in enumerate(shapes(nodes, gpus)):
            target = dataclasses.replace(static_target(9400 + i), node=shape.hostname)
            cache = TargetCache(target, limits, answers if mode == "on" else None)
            for _ in range(2):
                await _scrape(cache, bodies[i])
            made.append(cache)
        gc.collect()
        out[f"cache_mb_{mode}"] = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        caches[mode] = made
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for mode in ("off", "on"):
            started = time.process_time()
            for cache, body in zip(caches[mode], bodies, strict=True):
                await _scrape(cache, body)
            times[mode].append((time.process_time() - started) / samples * 1e9)
    for mode in ("off", "on"):
        out[f"ns_per_sample_{mode}"] = statistics.median(times[mode])
    out["samples"] = samples
    return out


async def _scrape(cache: Any, body: str) -> None:
    created = cache.builder.created
    parsed = await cache.parse(body, openmetrics=False, default_ts_ms=0)
    settled = cache.settle(parsed.series, parsed.values, None, created)
    cache.after_success(parsed, settled.changed)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--gpus", type=int, default=25, help="GPUs (and GPU pods) per node")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=serve, args=(theirs, args.nodes, args.gpus), daemon=True)
    server.start()
    url = ours.recv()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            row = asyncio.run(resolve(url, args.nodes, args.gpus, Path(tmp)))
        ours.send("requests")
        seen = ours.recv()
    finally:
        ours.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    cost = asyncio.run(scrape_cost(args.nodes, args.gpus, args.rounds))
    off, on = cost["cache_mb_off"], cost["cache_mb_on"]
    requests = ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
    rows = [
        ("GPU pods on nodes", f"{args.nodes * args.gpus} on {args.nodes}"),
        ("pods attributed", f"{row['pods']:.0f}"),
        ("API requests", f"{row['requests']:.0f} ({requests})"),
        ("resolve, all answers in", f"{row['resolve_s']:.2f} s"),
        ("resolver holds", f"{row['held_mb']:.2f} MB"),
        ("warm scrape CPU, attribution off", f"{cost['ns_per_sample_off']:.0f} ns/sample"),
        ("warm scrape CPU, attribution on", f"{cost['ns_per_sample_on']:.0f} ns/sample"),
        ("scrape caches hold, off / on", f"{off:.1f} / {on:.1f} MB"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
