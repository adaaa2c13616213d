"""A synthetic dcgm-exporter fleet on loopback, for tests, demos and benchmarks.

Each node is its own aiohttp application that answers like dcgm-exporter:
``GET /metrics`` returns ``text/plain; charset=utf-8`` (never gzip), the body
changes once per update interval and is served byte for byte the same in
between, family order changes on each refresh, and ``GET /health`` says OK.
Each node also serves ``GET /-/stats`` (JSON counters) and ``GET``/``POST
/-/fault`` (JSON ``{"delay": s, "status": 500, "drop": true}``; the posted
object replaces the fault, ``{}`` clears it). All nodes run in one process on
one loop. ``benchmarks/README.md`` documents the command line and endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import resource
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from benchmarks.dcgm_payload import FAMILIES, NodeShape, Payload

CONTENT_TYPE = "text/plain; charset=utf-8"
#: Loopback addresses of --ip-per-node: 250 nodes per /24, from 127.0.1.1 on.
MAX_IP_NODES = 250 * 254


def node_address(i: int) -> str:
    """The loopback address of node ``i`` when every node has its own IP."""
    if not 0 <= i < MAX_IP_NODES:
        raise ValueError(f"node index {i} outside 0..{MAX_IP_NODES - 1} for per-node addresses")
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def check_loopback(host: str) -> None:
    """Raise ValueError unless ``host`` is a loopback address (the fleet serves nothing else)."""
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ValueError(f"host {host!r} is not an IP address") from None
    if not ok:
        raise ValueError(f"host {host!r} is not a loopback address (127.0.0.0/8 or ::1)")


@dataclass
class Fault:
    """What a node does wrong on ``/metrics``: delay, fail with a status, or drop."""

    delay: float = 0.0
    status: int | None = None
    drop: bool = False

    @classmethod
    def from_json(cls, obj: object) -> Fault:
        """Validate a fault object as posted to ``/-/fault``; ValueError names the bad key."""
        if not isinstance(obj, dict):
            raise ValueError("fault must be a JSON object")
        unknown = set(obj) - {"delay", "status", "drop"}
        if unknown:
            raise ValueError(
                f"unknown fault keys: {sorted(unknown)} (allowed: delay, status, drop)"
            )
        delay = obj.get("delay", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 3600:
            raise ValueError(f"fault.delay must be seconds in 0..3600, got {delay!r}")
        status = obj.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599
        ):
            raise ValueError(
                f"fault.status must be an HTTP status 200..599 or null, got {status!r}"
            )
        drop = obj.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError(f"fault.drop must be true or false, got {drop!r}")
        return cls(delay=float(delay), status=status, drop=drop)


@dataclass
class NodeStats:
    """Counters of one node, as served by ``/-/stats``."""

    requests: int = 0
    scrapes: int = 0
    errors: int = 0
    dropped: int = 0
    aborted: int = 0
    bytes: int = 0
    last_samples: int = 0
    refreshes: int = 0


@dataclass
class Node:
    """One synthetic dcgm-exporter: its payload, current body, fault and counters."""

    index: int
    host: str
    port: int
    payload: Payload
    update_interval: float
    fault: Fault = field(default_factory=Fault)
    stats: NodeStats = field(default_factory=NodeStats)
    last_body: bytes | None = None
    _epoch: int = -1
    _t0: float = 0.0
    _runner: web.AppRunner | None = None

    @property
    def hostname(self) -> str:
        """The node's ``Hostname`` label value."""
        return self.payload.shape.hostname

    @property
    def url(self) -> str:
        """The node's ``/metrics`` URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def body(self, now: float) -> bytes:
        """The body for time ``now`` (loop time); rendered at most once per interval."""
        if self.update_interval > 0:
            epoch = int((now - self._t0) // self.update_interval)
        else:
            epoch = self.stats.refreshes
        if epoch != self._epoch or self.last_body is None:
            body = self.payload.render(epoch)
            self._epoch = epoch
            self.last_body = body
            self.stats.refreshes += 1
            self.stats.last_samples = sum(
                1 for line in body.split(b"\n") if line and not line.startswith(b"#")
            )
        return self.last_body

    def app(self) -> web.Application:
        """The node's aiohttp application."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/-/stats", self._stats)
        app.router.add_get("/-/fault", self._get_fault)
        app.router.add_post("/-/fault", self._post_fault)
        return app

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        fault = self.fault
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        transport = request.transport
        if transport is None or transport.is_closing():
            self.stats.aborted += 1
            return web.Response(status=499)
        if fault.drop:
            self.stats.dropped += 1
            transport.abort()
            return web.Response(status=499)
        if fault.status is not None and fault.status != 200:
            self.stats.errors += 1
            return web.Response(status=fault.status, text=f"injected fault on node {self.index}\n")
        body = self.body(asyncio.get_running_loop().time())
        self.stats.scrapes += 1
        self.stats.bytes += len(body)
        return web.Response(
            body=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Content-Type-Options": "nosniff"},
        )

    async def _health(self, request: web.Request) -> web.Response:
        bad = self.fault.status is not None and self.fault.status != 200
        return web.Response(status=503 if bad else 200, text="KO" if bad else "OK")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"node": self.index, "hostname": self.hostname} | asdict(self.stats)
        )

    async def _get_fault(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.fault))

    async def _post_fault(self, request: web.Request) -> web.Response:
        try:
            self.fault = Fault.from_json(json.loads(await request.read()))
        except json.JSONDecodeError as exc:
            return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(asdict(self.fault))


class Fleet:
    """Many synthetic dcgm-exporter nodes in this process; an async context manager.

    ``base_port=0`` gives every node an ephemeral port; with ``ip_per_node``
    node ``i`` listens on :func:`node_address` ``(i)`` at ``node_port``.
    """

    def __init__(
        self,
        nodes: int = 4,
        *,
        gpus: int = 8,
        families: int = 40,
        pods_per_gpu: int = 0,
        host: str = "127.0.0.1",
        base_port: int = 0,
        ip_per_node: bool = False,
        node_port: int = 9400,
        update_interval: float = 1.0,
        faults: Mapping[int, Fault] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, got {nodes}")
        if not 1 <= families <= len(FAMILIES):
            raise ValueError(f"families must be in 1..{len(FAMILIES)}, got {families}")
        if gpus < 1 or pods_per_gpu < 0:
            raise ValueError(f"need gpus >= 1 and pods_per_gpu >= 0, got {gpus}, {pods_per_gpu}")
        if update_interval < 0:
            raise ValueError(f"update_interval must be >= 0, got {update_interval}")
        check_loopback(host)
        if not ip_per_node and base_port and base_port + nodes - 1 > 65535:
            raise ValueError(f"ports {base_port}..{base_port + nodes - 1} exceed 65535")
        for i in faults or {}:
            if not 0 <= i < nodes:
                raise ValueError(f"fault for node {i}, but nodes are 0..{nodes - 1}")
        self.nodes: list[Node] = []
        for i in range(nodes):
            shape = NodeShape(f"gpu-node-{i}", gpus, families, pods_per_gpu, seed=i)
            addr = node_address(i) if ip_per_node else host
            port = node_port if ip_per_node else (base_port + i if base_port else 0)
            node = Node(i, addr, port, Payload(shape), update_interval)
            node.fault = (faults or {}).get(i, Fault())
            self.nodes.append(node)

    @property
    def urls(self) -> list[str]:
        """The ``/metrics`` URL of every node, in node order."""
        return [n.url for n in self.nodes]

    async def start(self) -> None:
        """Bind and serve every node; on failure nothing stays bound."""
        t0 = asyncio.get_running_loop().time()
        try:
            for node in self.nodes:
                node._t0 = t0
                runner = web.AppRunner(
                    node.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
                )
                await runner.setup()
                node._runner = runner
                site = web.TCPSite(runner, node.host, node.port, reuse_address=True)
                await site.start()
                node.port = runner.addresses[0][1]
        except OSError as exc:
            await self.stop()
            raise OSError(exc.errno, f"cannot listen on {node.host}:{node.port}: {exc}") from exc

    async def stop(self) -> None:
        """Close every node's listener and connections."""
        runners = [n._runner for n in self.nodes if n._runner is not None]
        for node in self.nodes:
            node._runner = None
        await asyncio.gather(*(r.cleanup() for r in runners))

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def scrapes(self, i: int) -> int:
        """Bodies node ``i`` served with status 200."""
        return self.nodes[i].stats.scrapes

    def total_scrapes(self) -> int:
        """Bodies served with status 200 by all nodes."""
        return sum(n.stats.scrapes for n in self.nodes)

    def set_fault(
        self, i: int, *, delay: float = 0.0, status: int | None = None, drop: bool = False
    ) -> None:
        """Replace node ``i``'s fault; with no arguments the node is healthy again."""
        self.nodes[i].fault = Fault.from_json({"delay": delay, "status": status, "drop": drop})

    def payload(self, i: int) -> Payload:
        """The payload generator of node ``i``."""
        return self.nodes[i].payload

    def last_body(self, i: int) -> bytes | None:
        """The body node ``i`` serves now (None before its first scrape)."""
        return self.nodes[i].last_body

    def endpoints(self) -> list[dict[str, Any]]:
        """JSON-ready description of every node."""
        return [
            {"index": n.index, "hostname": n.hostname, "host": n.host, "port": n.port, "url": n.url}
            for n in self.nodes
        ]


def _node_value(text: str, what: str) -> tuple[int, str]:
    index, sep, value = text.partition(":")
    if not sep or not index.isdigit() or not value:
        raise argparse.ArgumentTypeError(f"expected NODE:{what}, got {text!r}")
    return int(index), value


def _parse_faults(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[int, Fault]:
    faults: dict[int, Fault] = {}
    for flag, items, key in (
        ("--slow-node", args.slow_node, "delay"),
        ("--fail-node", args.fail_node, "status"),
    ):
        for text in items:
            try:
                i, raw = _node_value(text, "SECONDS" if key == "delay" else "STATUS")
                value = float(raw) if key == "delay" else int(raw)
                old = asdict(faults.get(i, Fault()))
                faults[i] = Fault.from_json(old | {key: value})
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"{flag} {text}: {exc}")
            if not 0 <= i < args.nodes:
                parser.error(
                    f"{flag} {text}: node {i} does not exist (nodes are 0..{args.nodes - 1})"
                )
    return faults


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fleet",
        description="Serve synthetic dcgm-exporter nodes on loopback until SIGINT/SIGTERM.",
    )
    p.add_argument("--nodes", type=int, default=4, help="number of nodes (default 4)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--families", type=int, default=40, help=f"metric families, 1..{len(FAMILIES)}")
    p.add_argument("--pods-per-gpu", type=int, default=0, help="time-sliced pods per GPU")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument(
        "--base-port", type=int, default=19400, help="node i listens on base+i (0: ephemeral)"
    )
    p.add_argument(
        "--ip-per-node",
        action="store_true",
        help="node i listens on 127.0.<1+i//250>.<1+i%%250> at --port instead",
    )
    p.add_argument("--port", type=int, default=9400, help="port with --ip-per-node (default 9400)")
    p.add_argument(
        "--update-interval", type=float, default=1.0, help="seconds between value refreshes"
    )
    p.add_argument("--slow-node", action="append", default=[], metavar="I:SECONDS")
    p.add_argument("--fail-node", action="append", default=[], metavar="I:STATUS")
    p.add_argument("--endpoints-file", type=Path, help="write the endpoints as JSON here")
    p.add_argument(
        "--detach",
        action="store_true",
        help="serve in the background: return once every node listens, printing its pid",
    )
    p.add_argument("--pid-file", type=Path, help="with --detach, write the server's pid here")
    return p


async def _serve(fleet: Fleet, endpoints_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fleet:
        if endpoints_file is not None:
            tmp = endpoints_file.with_name(endpoints_file.name + ".tmp")
            doc = {"pid": os.getpid(), "nodes": fleet.endpoints()}
            tmp.write_text(json.dumps(doc, indent=1) + "\n")
            tmp.replace(endpoints_file)
        else:
            print("\n".join(fleet.urls), flush=True)
        await stop.wait()


def _raise_nofile() -> None:
    """Hundreds of nodes need more descriptors than the usual soft limit of 1024."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _summary(endpoints_json: str) -> str:
    """One line naming the nodes of an endpoints file: ``4 nodes: http://...:19400 .. :19403``."""
    urls = [node["url"] for node in json.loads(endpoints_json)["nodes"]]
    return f"{len(urls)} nodes: " + (urls[0] if len(urls) == 1 else f"{urls[0]} .. {urls[-1]}")


def _without_detach(argv: list[str]) -> list[str]:
    """``argv`` less ``--detach``, ``--pid-file`` and ``--endpoints-file`` (the child's own)."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--pid-file", "--endpoints-file"):
            skip = True
        elif arg != "--detach" and not arg.startswith(("--pid-file=", "--endpoints-file=")):
            rest.append(arg)
    return rest


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    faults = _parse_faults(args, parser)
    try:
        shape = ("gpus", "families", "pods_per_gpu", "host", "base_port", "ip_per_node")
        fleet = Fleet(
            args.nodes,
            **{k: getattr(args, k) for k in shape},
            node_port=args.port,
            update_interval=args.update_interval,
            faults=faults,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.detach:
        from benchmarks.detach import detach

        rest = _without_detach(list(sys.argv[1:] if argv is None else argv))
        return detach("benchmarks.fleet", rest, "--endpoints-file", args.pid_file, _summary)
    _raise_nofile()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(_serve(fleet, args.endpoints_file))
    except OSError as exc:
        print(f"fleet: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
