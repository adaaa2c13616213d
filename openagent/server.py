"""The agent's HTTP server: /metrics, /healthz, /readyz, /targets, /discovery, /config.

Read-only: nothing here changes the agent. ``/targets`` answers JSON, or the
targets page (`openagent.status_page`) when the client asks for HTML, as a
browser does; ``?format=json|html`` overrides the Accept header and
``?health=up|down|unknown`` lists only targets in that health. Each target
names the worker process that scrapes it (null when the agent scrapes in its
own process) and the agent's shard (null when unsharded). ``/`` links them all.
``/metrics`` serves what the view's ``metrics`` gives: this process's registry,
or, with worker processes, theirs merged in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from openagent import __version__
from openagent.model import Target, TargetState
from openagent.status_page import HEALTHS, index_page, targets_page, utc_iso
from openagent.telemetry import REGISTRY

#: A target, its state, and the number of the worker process that scrapes it (None: this one).
TargetRow = tuple[Target, TargetState, int | None]

#: What the HTML pages may load: their own inline style and nothing else. Escaping keeps
#: target text out of the markup; this keeps a slip in it from running or fetching anything.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def no_shard() -> str | None:
    """The shard of an agent that scrapes every target: none."""
    return None


async def own_metrics() -> bytes:
    """This process's metrics in the text exposition format, rendered in a thread.

    With 5,000 targets rendering took 130 ms (257 ms with ``_created`` series);
    on the event loop's thread that stalled every scrape for as long. In a
    thread the interpreter hands the loop its turn every few milliseconds.
    """
    return await asyncio.to_thread(generate_latest, REGISTRY)


@dataclass
class ServerView:
    """What the server reads from the running agent (all callables, evaluated per request)."""

    ready: Callable[[], tuple[bool, str]]
    targets: Callable[[], Awaitable[list[TargetRow]]]
    config: Callable[[], dict[str, Any]]
    discovery: Callable[[], dict[str, Any]] = dict
    metrics: Callable[[], Awaitable[bytes]] = field(default=own_metrics)
    shard: Callable[[], str | None] = field(default=no_shard)


#: The delivery gauges SIGUSR1's status line sums per sink, under the names it logs them.
_QUEUE_GAUGES = {
    "openagent_delivery_queue_batches": "queued_batches",
    "openagent_delivery_queue_bytes": "queued_bytes",
    "openagent_delivery_spool_bytes": "spooled_bytes",
}


def queue_summary(exposition: bytes) -> dict[str, dict[str, int]]:
    """Queued batches and bytes, and spooled bytes, per sink, read from an exposition of
    ``/metrics`` (which gathers the workers' too): SIGUSR1's status line."""
    out: dict[str, dict[str, int]] = {name: {} for name in _QUEUE_GAUGES.values()}
    for family in text_string_to_metric_families(exposition.decode("utf-8", "replace")):
        name = _QUEUE_GAUGES.get(family.name)
        if name is None:
            continue
        for sample in family.samples:
            sink = sample.labels.get("sink", "")
            out[name][sink] = out[name].get(sink, 0) + int(sample.value)
    return out


def target_json(
    target: Target, state: TargetState, worker: int | None = None, shard: str | None = None
) -> dict[str, Any]:
    """The JSON form of one target's state; ``worker`` and ``shard`` say who scrapes it."""
    ep = target.endpoint
    return {
        "id": target.id,
        "worker": worker,
        "shard": shard,
        "job": target.job,
        "instance": target.instance,
        "url": target.url,
        "source": target.source,
        "labels": dict(target.labels),
        "health": state.health,
        "last_scrape": utc_iso(state.last_scrape_ms / 1000),
        "last_scrape_duration_seconds": round(state.last_duration, 6),
        "last_error": state.last_error,
        "samples": state.samples,
        "interval_seconds": ep.interval,
        "timeout_seconds": state.timeout or ep.timeout,
        "next_scrape": utc_iso(state.next_scrape),
    }


def _health_filter(request: web.Request) -> str | None:
    """The ``health`` query parameter: None for all targets; 400 for an unknown health."""
    health = request.query.get("health") or None
    if health is not None and health not in HEALTHS:
        raise web.HTTPBadRequest(text=f"health is one of: {', '.join(HEALTHS)}\n")
    return health


def _wants_html(request: web.Request) -> bool:
    """``?format=html|json`` if given, else whether the Accept header names HTML."""
    fmt = request.query.get("format")
    if fmt not in (None, "html", "json"):
        raise web.HTTPBadRequest(text="format is html or json\n")
    return fmt == "html" if fmt else "text/html" in request.headers.get("Accept", "")


def _page(text: str) -> web.Response:
    return web.Response(
        text=text, content_type="text/html", headers={"Content-Security-Policy": PAGE_POLICY}
    )


def build_app(view: ServerView) -> web.Application:
    """The aiohttp application."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=await view.metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = view.ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def index(_: web.Request) -> web.Response:
        return _page(index_page(__version__))

    async def targets(request: web.Request) -> web.Response:
        health, html = _health_filter(request), _wants_html(request)
        rows, shard = await view.targets(), view.shard()
        if html:
            # In a thread, as /metrics: 5,000 targets take tens of milliseconds to render,
            # which would otherwise hold up every scrape. A state the loop updates meanwhile
            # shows torn at worst, and only on this page.
            page = await asyncio.to_thread(
                targets_page, rows, shard=shard, now=time.time(), health=health
            )
            return _page(page)
        body = [
            target_json(t, s, w, shard) for t, s, w in rows if health is None or s.health == health
        ]
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def discovery(_: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(view.discovery(), default=str), content_type="application/json"
        )

    async def config(_: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(view.config(), default=str), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/targets", targets)
    app.router.add_get("/config", config)
    app.router.add_get("/discovery", discovery)
    return app


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Where the server listens: ``host`` None means every interface; port 0 any free port."""

    host: str | None = None
    port: int = 9401


async def start_server(view: ServerView, options: ServerOptions) -> web.AppRunner:
    """Start serving as ``options`` say; return the runner."""
    runner = web.AppRunner(build_app(view), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the server actually listens on (useful with port 0)."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("server is not listening")
