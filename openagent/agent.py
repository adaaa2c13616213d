"""The running agent: the composition of config source, discovery, scraping, delivery and server.

`openagent.wiring` turns the settings into each room's options; the agent
builds the rooms from them and connects them in data-flow order: the config
source feeds discovery, discovery the scrape manager, the scrape loops
delivery. One `openagent.kube.Cluster` connection serves discovery, the
ConfigMap source and the Secret resolver, made only when one of them needs it.

The config comes from the file ``settings.config`` (polled for changes), or,
when ``settings.config_map`` is set, from that ConfigMap through the
Kubernetes API (watched; the file is then not read). ``config_map`` defaults
to the operator's ``whatap-open-agent-config`` when the agent is started the
Go agent's way (no arguments, ``-d``, ``foreground``; not ``standalone``) in a
cluster and ``OPENAGENT_CONFIG_MAP`` is unset: see `openagent.settings`.

A config file named on the command line (``--config FILE`` after ``run`` or a
Go agent word; the CLI hands that down as ``config_named``) must load at
start: if it is missing or invalid the agent exits 2 with one line naming the
file and the problem, as Prometheus and vmagent do. Otherwise (no arguments,
``-d``, ``foreground``, ``run`` without ``--config``: the file named by
``OPENAGENT_CONFIG`` or by default, or a ConfigMap) start-up never dies on a
bad or missing config,
since the Whatap Operator may create it after the agent: the agent serves
``/healthz`` and ``/metrics``, reports
``openagent_config_last_reload_successful 0``, stays unready, and picks the
config up as soon as it becomes valid. A reload that fails always keeps the
last good config running. A config over ``config_max_bytes`` (never read
beyond it) or ``config_max_endpoints`` is invalid, like any other
(`openagent.config.limits`). Before starting, the agent also checks that the
jsonl file and the spool directory can be written, and it exits 1 when its
listen address cannot be bound (`openagent.preflight`).

Which of the discovered targets this agent scrapes is decided by
`openagent.shard` (`wiring.shard`): all of them, a static share, or, with a
shard selector, a share among its own Ready pods that follows them as they
come and go; a target handed to another replica stops without stale markers.

With ``workers`` above 1, scraping and delivery run in that many worker
processes instead (`openagent.workers.WorkerPool`), each with a hash share of
the targets; this process keeps the config source, discovery, the Kubernetes
connection and the HTTP server, and sends the workers their targets. With 1,
they run here (`openagent.inprocess.InProcess`) and no other process starts.

Signals (`signal_handlers`):

* SIGTERM, SIGINT and SIGQUIT: stop scraping, deliver what is queued for up
  to the drain grace period, keep the rest in the spool (when there is one),
  close the sinks, and return 0 (with workers: each worker does so, then the
  agent). SIGQUIT is a graceful stop too, as nginx reads it: Python's default
  (terminate at once, nothing drained or spooled) lost the memory queue, and
  ignoring a request to quit would surprise whoever sent it.
* A second SIGTERM, SIGINT or SIGQUIT during the drain ends it at once: what
  is still queued goes to the spool (or is counted ``shutdown`` without one),
  and the agent exits.
* SIGHUP reloads the config now, as Prometheus does (the file is read again
  even when its stamp did not change; a ConfigMap is fetched again); a bad
  config keeps the last good one, as any reload.
* SIGUSR1 logs one status line: targets up and down, queued and spooled
  bytes per sink, the config digest.
* SIGUSR2 is logged and ignored; SIGPIPE is ignored (Python's start-up does so).

The worker processes are in the agent's process group, so a signal sent to
the group reaches them too: they ignore SIGHUP, SIGUSR1 and SIGUSR2 (the
agent acts on them) and stop on SIGTERM, SIGINT and SIGQUIT as the agent
tells them to (see `openagent.workers.child`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import signal
import sys
import time
from collections.abc import Callable, Collection, Coroutine
from typing import Any, Protocol

from openagent import __version__, wiring
from openagent.config import ConfigError, LoadedConfig, secret_references
from openagent.delivery import Delivery
from openagent.discovery import Discovery
from openagent.httpauth import HTTPAuth
from openagent.inprocess import InProcess
from openagent.kube.attribution import WorkloadResolver
from openagent.kube.secrets import KubeSecrets
from openagent.model import Target
from openagent.preflight import StartError, check_config_file, check_outputs, listen_error
from openagent.scrape import ScrapeManager
from openagent.server import ServerView, TargetRow, bound_port, queue_summary, start_server
from openagent.settings import Settings, SettingsError, load_settings
from openagent.shard import Assigner
from openagent.telemetry import (
    BUILD_INFO,
    RELOAD_OK,
    RELOAD_TIME,
    RELOADS,
    get_logger,
    setup_logging,
    watch_loop_lag,
)
from openagent.workers import WorkerPool

log = get_logger("agent")


class Scrapers(Protocol):
    """What scrapes and delivers the agent's targets: `InProcess` or a `WorkerPool`."""

    async def start(self) -> None: ...
    async def apply(self, targets: list[Target], handed_over: Collection[str] = ()) -> None: ...
    async def rows(self) -> list[TargetRow]: ...
    async def metrics(self) -> bytes: ...
    def ready(self) -> tuple[bool, str]: ...
    async def stop(self, grace: float, end_drain: asyncio.Event | None = None) -> None: ...


#: The signals that stop the agent (a second one ends the drain).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Agent:
    """One agent process (and its workers, when it has any)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loaded: LoadedConfig | None = None
        self.config_error: str | None = "configuration not loaded yet"
        self.reconciled = False
        self.listen_port = 0
        self._stop = asyncio.Event()
        self._end_drain = asyncio.Event()
        self._signal_tasks: set[asyncio.Task[None]] = set()
        self.cluster = wiring.cluster(settings)
        self.secrets = KubeSecrets(self.cluster, wiring.agent_namespace(settings))
        self.scrape_options = wiring.scrape_options(settings)
        self.manager: ScrapeManager | None = None
        self.delivery: Delivery | None = None
        self.attribution: WorkloadResolver | None = None
        self.scrapers: Scrapers
        if settings.workers > 1:
            wiring.build_sinks(settings)  # a sink the settings cannot make fails here, not N times
            self.scrapers = WorkerPool(wiring.worker_options(settings), self.secrets)
        else:
            here = InProcess.build(settings, HTTPAuth(self.secrets), cluster=self.cluster)
            self.manager, self.delivery, self.scrapers = here.manager, here.delivery, here
            self.attribution = here.attribution
        self.assigner = Assigner(wiring.shard(settings, self.cluster), self.scrapers.apply)
        self.discovery = Discovery(
            self._on_targets, wiring.discovery_options(settings), self.cluster
        )
        self.config_source = wiring.config_source(
            settings, self.cluster, self._on_config, self._on_config_error
        )

    # -- config ----------------------------------------------------------------

    async def _on_targets(self, targets: list[Target]) -> None:
        if await self.assigner.targets(targets):
            self.reconciled = True

    async def _on_members(self) -> None:
        if await self.assigner.reassign():
            self.reconciled = True

    async def _on_config(self, loaded: LoadedConfig) -> None:
        for w in loaded.warnings:
            log.warning("config warning", problem=str(w))
        await self.discovery.apply_config(loaded.config)
        self.secrets.keep_only([use.ref for use in secret_references(loaded.config)])
        first = self.loaded is None
        self.loaded = loaded
        self.config_error = None
        RELOAD_OK.set(1)
        RELOAD_TIME.set(time.time())
        RELOADS.labels("success").inc()
        log.info(
            "config loaded" if first else "config reloaded",
            source=self.config_source.name,
            digest=loaded.digest[:12],
            targets=len(self.discovery.targets()),
        )

    async def _on_config_error(self, error: ConfigError) -> None:
        RELOAD_OK.set(0)
        RELOADS.labels("failure").inc()
        self.config_error = "; ".join(str(p) for p in error.problems) or str(error)
        log.error(
            "config rejected, keeping the last good one" if self.loaded else "config rejected",
            source=self.config_source.name,
            problems=[str(p) for p in error.problems],
        )

    # -- server view -----------------------------------------------------------

    def _ready(self) -> tuple[bool, str]:
        if self.loaded is None:
            return False, f"not ready: {self.config_error}"
        if not self.reconciled:
            return False, f"not ready: {self.assigner.waiting or 'targets not reconciled yet'}"
        return self.scrapers.ready()

    def _discovery_view(self) -> dict[str, Any]:
        view = {**self.discovery.status(), "shard": self.assigner.status()}
        if self.attribution is not None:
            view["attribution"] = self.attribution.snapshot()
        return view

    def _config_view(self) -> dict[str, Any]:
        source = self.config_source.name
        if self.loaded is None:
            return {"loaded": False, "source": source, "error": self.config_error}
        return {
            "loaded": True,
            "source": source,
            "digest": self.loaded.digest,
            "last_error": self.config_error,
            "config": self.loaded.config.model_dump(mode="json"),
        }

    # -- lifecycle -------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the agent to shut down (what SIGTERM does); asked again, end the drain now."""
        if self._stop.is_set():
            self._end_drain.set()
        self._stop.set()

    def signal_handlers(self) -> dict[signal.Signals, Callable[[], None]]:
        """What each signal the agent handles does (see the module docs)."""
        handlers: dict[signal.Signals, Callable[[], None]] = {
            sig: functools.partial(self._on_stop_signal, sig.name) for sig in STOP_SIGNALS
        }
        handlers[signal.SIGHUP] = functools.partial(self._in_task, self._on_sighup)
        handlers[signal.SIGUSR1] = functools.partial(self._in_task, self._log_status)
        handlers[signal.SIGUSR2] = functools.partial(
            log.info, "SIGUSR2 received; it means nothing to the agent (ignored)"
        )
        return handlers

    def _on_stop_signal(self, name: str) -> None:
        if not self._stop.is_set():
            log.info(f"{name} received: shutting down (again to end the drain at once)")
        elif not self._end_drain.is_set():
            log.warning(
                f"{name} received again: ending the drain now; what is still queued is "
                "kept in the spool (counted dropped, reason shutdown, without one)"
            )
        self.request_stop()

    def _in_task(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` beside the agent (a signal handler must not wait); not once it is
        shutting down, when the config source and the scrapers are going away."""
        if self._stop.is_set():
            log.info("signal ignored: the agent is shutting down", action=work.__name__)
            return
        task = asyncio.create_task(work(), name=work.__name__)
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_tasks.discard)

    async def _on_sighup(self) -> None:
        log.info("SIGHUP received: reloading the config", source=self.config_source.name)
        try:
            changed = await self.config_source.reload()
        except Exception:
            log.exception("reloading the config on SIGHUP failed", source=self.config_source.name)
            return
        if not changed:
            log.info("config unchanged", source=self.config_source.name)

    async def _log_status(self) -> None:
        rows = await self.scrapers.rows()
        health = collections.Counter(state.health for _, state, _ in rows)
        queues = queue_summary(await self.scrapers.metrics())
        log.info(
            "status (SIGUSR1)",
            ready=self._ready()[1],
            config=self.loaded.digest[:12] if self.loaded else self.config_error,
            targets=len(rows),
            targets_up=health.get("up", 0),
            targets_down=health.get("down", 0),
            **queues,
        )

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        BUILD_INFO.info({"version": __version__})
        loop = asyncio.get_running_loop()
        for sig, handler in self.signal_handlers().items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
        view = ServerView(
            ready=self._ready,
            targets=self.scrapers.rows,
            config=self._config_view,
            discovery=self._discovery_view,
            metrics=self.scrapers.metrics,
            shard=self.assigner.member,
        )
        options = wiring.server_options(self.settings)
        try:
            runner = await start_server(view, options)
        except OSError as exc:
            raise listen_error(self.settings.listen, options.host, options.port, exc) from None
        self.listen_port = bound_port(runner)
        log.info(
            "agent started",
            version=__version__,
            listen=self.settings.listen,
            port=self.listen_port,
            workers=self.settings.workers,
            shard=self.assigner.member(),
        )
        if self.settings.spool_dir is None:  # said once here, not by every worker
            log.warning(
                "no spool directory: a crash (SIGKILL, OOM) loses the queued batches, up to "
                "memory_queue_bytes per sink; set --spool-dir to keep them on disk",
                memory_queue_bytes=self.settings.memory_queue_bytes,
            )
        if self.settings.config_map:
            log.info(
                "reading the config from a ConfigMap through the Kubernetes API",
                source=self.config_source.name,
                ignored_file=str(self.settings.config),
            )
        await self.scrapers.start()
        tasks = [
            asyncio.create_task(self.config_source.run(), name="config source"),
            asyncio.create_task(watch_loop_lag(), name="loop lag"),
            asyncio.create_task(self.discovery.run(), name="discovery"),
            asyncio.create_task(self.assigner.run(self._on_members), name="shard members"),
        ]
        await self._stop.wait()
        log.info("shutting down: stopping scrapes")
        running = [*tasks, *self._signal_tasks]  # a reload on SIGHUP too
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.discovery.close()
        await self.scrapers.stop(self.settings.drain_grace, self._end_drain)
        self.secrets.close()
        await self.cluster.close()
        await runner.cleanup()
        log.info("agent stopped")
        return 0


async def run(*, config_named: bool = False, **overrides: object) -> int:
    """``openagent run``: the agent, with flags in ``overrides`` over the environment.

    Exit 2, with one line per problem, for settings the agent cannot run with,
    and for a config file the command line named (``config_named``) that does
    not load; exit 1, with one line, when a path or the listen address is refused.
    """
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    try:
        if config_named and not settings.config_map:
            check_config_file(settings.config, wiring.config_limits(settings))
        check_outputs(settings)
        agent = Agent(settings)
    except StartError as exc:
        return _refused(exc)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return await agent.run()
    except StartError as exc:
        return _refused(exc)


def _refused(exc: StartError) -> int:
    print(f"openagent: {exc}", file=sys.stderr)
    return exc.code
