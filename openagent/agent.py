"""The running agent: wires config, discovery, scraping, delivery and the server.

The config comes from the file ``settings.config`` (polled for changes), or,
when ``settings.config_map`` is set, from that ConfigMap through the
Kubernetes API (watched; the file is then not read). ``config_map`` defaults
to the operator's ``whatap-open-agent-config`` when the agent is started the
Go agent's way (no arguments, ``-d``, ``foreground``; not ``standalone``) in a
cluster and ``OPENAGENT_CONFIG_MAP`` is unset: see `openagent.settings`.

Start-up never dies on a bad or missing config (file or ConfigMap, or an API
server that does not answer): the agent serves ``/healthz`` and ``/metrics``,
reports ``openagent_config_last_reload_successful 0``, stays unready, and
picks the config up as soon as it becomes valid. A reload that fails keeps
the last good config running.

On SIGTERM or SIGINT: stop scraping, deliver what is queued for up to the
drain grace period, keep the rest in the spool (when there is one), close
the sinks, and return 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from openagent import __version__
from openagent.config import ConfigError, ConfigWatcher, LoadedConfig, load_config
from openagent.delivery import Delivery, DeliveryOptions
from openagent.discovery import Discovery
from openagent.exposition import Limits
from openagent.model import Target
from openagent.scrape.http import ScrapeClient
from openagent.scrape.manager import ScrapeManager
from openagent.server import ServerView, bound_port, start_server
from openagent.settings import Settings
from openagent.sinks import build_sinks
from openagent.telemetry import (
    BUILD_INFO,
    RELOAD_OK,
    RELOAD_TIME,
    RELOADS,
    get_logger,
    watch_loop_lag,
)

if TYPE_CHECKING:
    from openagent.config.configmap_source import ConfigMapSource

log = get_logger("agent")


def scrape_limits(settings: Settings) -> Limits:
    """Process-wide scrape limits from the settings (an endpoint's own limits win)."""
    return Limits(
        sample_limit=settings.sample_limit,
        label_limit=settings.label_limit,
        label_name_length_limit=settings.label_name_length_limit,
        label_value_length_limit=settings.label_value_length_limit,
    )


def delivery_options(settings: Settings) -> DeliveryOptions:
    """The delivery layer's knobs, from the process settings."""
    return DeliveryOptions(
        memory_queue_bytes=settings.memory_queue_bytes,
        spool_dir=settings.spool_dir,
        spool_max_bytes=settings.spool_max_bytes,
        spool_fsync=settings.spool_fsync,
        spool_fsync_interval=settings.spool_fsync_interval,
        backoff_max=settings.retry_max_backoff,
        backoff_initial=min(0.5, settings.retry_max_backoff),
    )


class Agent:
    """One agent process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loaded: LoadedConfig | None = None
        self.config_error: str | None = "configuration not loaded yet"
        self.reconciled = False
        self.listen_port = 0
        self._stop = asyncio.Event()
        self.client = ScrapeClient(
            default_body_limit=settings.body_size_limit,
            user_agent=f"openagent/{__version__}",
        )
        self.delivery = Delivery(build_sinks(settings), delivery_options(settings))
        self.manager = ScrapeManager(
            self.client,
            self.delivery.submit,
            default_limits=scrape_limits(settings),
            seed=settings.pod_name or socket.gethostname(),
            shard_index=settings.shard_index,
            shard_count=settings.shard_count,
        )
        self.discovery = Discovery.from_settings(self._on_targets, settings)
        self.config_map: ConfigMapSource | None = None
        if settings.config_map:
            from openagent.config.configmap_source import ConfigMapSource

            self.config_map = ConfigMapSource.from_settings(
                settings, self._on_config, self._on_config_error
            )
        #: Where the config comes from: the file, or ``configmap <ns>/<name>:<key>``.
        self.config_source = self.config_map.source if self.config_map else str(settings.config)

    # -- config ----------------------------------------------------------------

    async def _on_targets(self, targets: list[Target]) -> None:
        await self.manager.apply(targets)
        self.reconciled = True

    async def _on_config(self, loaded: LoadedConfig) -> None:
        for w in loaded.warnings:
            log.warning("config warning", problem=str(w))
        await self.discovery.apply_config(loaded.config)
        first = self.loaded is None
        self.loaded = loaded
        self.config_error = None
        RELOAD_OK.set(1)
        RELOAD_TIME.set(time.time())
        RELOADS.labels("success").inc()
        log.info(
            "config loaded" if first else "config reloaded",
            source=self.config_source,
            digest=loaded.digest[:12],
            targets=len(self.discovery.targets()),
        )

    async def _on_config_error(self, error: ConfigError) -> None:
        RELOAD_OK.set(0)
        RELOADS.labels("failure").inc()
        self.config_error = "; ".join(str(p) for p in error.problems) or str(error)
        log.error(
            "config rejected, keeping the last good one" if self.loaded else "config rejected",
            source=self.config_source,
            problems=[str(p) for p in error.problems],
        )

    # -- server view -----------------------------------------------------------

    def _ready(self) -> tuple[bool, str]:
        if self.loaded is None:
            return False, f"not ready: {self.config_error}"
        if not self.reconciled:
            return False, "not ready: targets not reconciled yet"
        return True, "ready"

    def _config_view(self) -> dict[str, Any]:
        if self.loaded is None:
            return {"loaded": False, "source": self.config_source, "error": self.config_error}
        return {
            "loaded": True,
            "source": self.config_source,
            "digest": self.loaded.digest,
            "last_error": self.config_error,
            "config": self.loaded.config.model_dump(mode="json"),
        }

    async def _config_watch(self) -> Coroutine[Any, Any, None]:
        """Load the config file now (file mode) and return what keeps the config current."""
        if self.config_map is not None:
            log.info(
                "reading the config from a ConfigMap through the Kubernetes API",
                source=self.config_source,
                ignored_file=str(self.settings.config),
            )
            return self.config_map.run()
        known: str | None = None
        try:
            loaded = load_config(self.settings.config)
            known = loaded.digest
            await self._on_config(loaded)
        except ConfigError as exc:
            await self._on_config_error(exc)
        watcher = ConfigWatcher(
            self.settings.config,
            self._on_config,
            self._on_config_error,
            interval=self.settings.reload_interval,
            known_digest=known,
        )
        return watcher.run()

    # -- lifecycle -------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the agent to shut down (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        BUILD_INFO.info({"version": __version__})
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        runner = await start_server(
            ServerView(
                ready=self._ready,
                targets=self.manager.states,
                config=self._config_view,
                discovery=self.discovery.status,
            ),
            self.settings.listen_host,
            self.settings.listen_port,
        )
        self.listen_port = bound_port(runner)
        log.info("agent started", version=__version__, listen=self.settings.listen)
        await self.delivery.start()
        tasks = [
            asyncio.create_task(await self._config_watch(), name="config source"),
            asyncio.create_task(watch_loop_lag(), name="loop lag"),
            asyncio.create_task(self.discovery.run(), name="discovery"),
        ]
        await self._stop.wait()
        log.info("shutting down: stopping scrapes")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.discovery.close()
        await self.manager.stop()
        await self.delivery.close(self.settings.drain_grace)
        await self.client.close()
        await runner.cleanup()
        log.info("agent stopped")
        return 0
