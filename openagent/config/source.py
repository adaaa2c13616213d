"""The config-source seam: where ``scrape_config.yaml`` comes from, and how news is reported.

A `ConfigSource` (the file, `openagent.config.file_source.FileSource`, or a
ConfigMap read through the API, `openagent.config.configmap_source.ConfigMapSource`)
watches its origin and hands what it finds to a `ContentReporter`, the state
machine both share:

* new content (a sha256 not reported last) is parsed off the event loop,
  so ``/healthz`` and SIGTERM are answered meanwhile, within the source's
  `ConfigLimits`, and reported to ``on_change`` when valid, to ``on_error``
  with its problems when not; the same content again reports nothing;
* a problem of the source itself (a file that vanished or cannot be read, a
  ConfigMap or key that does not exist, no cluster) is reported to
  ``on_error`` once, until the state changes;
* after any error the next content is reported even if it equals the last
  good one, so the caller can clear its error state.

A failing callback is logged and does not stop the source.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from openagent.config.limits import DEFAULT_LIMITS, ConfigLimits
from openagent.config.loader import LoadedConfig, parse_config_bytes
from openagent.config.problems import ConfigError, Problem
from openagent.telemetry import get_logger

log = get_logger("config")

OnChange = Callable[[LoadedConfig], Awaitable[None]]
OnError = Callable[[ConfigError], Awaitable[None]]


class ConfigSource(Protocol):
    """Where the configuration comes from; `run` reports every new version until cancelled."""

    @property
    def name(self) -> str:
        """How problems and logs name the source (a path, ``configmap ns/name:key``)."""
        ...

    async def run(self) -> None:
        """Report the current configuration, then every change; never raises but cancellation."""
        ...

    async def reload(self) -> bool:
        """Read the origin again now (SIGHUP), whatever the watch says, and report what is
        new; False when nothing was (the same content as last reported)."""
        ...


class ContentReporter:
    """Reports new content and problems of one source, each once (see the module docs).

    ``known_digest`` is the sha256 of content the caller already has; ``limits``
    bound what is parsed.
    """

    def __init__(
        self,
        name: str,
        on_change: OnChange,
        on_error: OnError,
        known_digest: str | None = None,
        limits: ConfigLimits = DEFAULT_LIMITS,
    ) -> None:
        self.name = name
        self.limits = limits
        self._on_change = on_change
        self._on_error = on_error
        self._seen = known_digest
        self._problem: str | None = None

    async def content(self, data: bytes) -> bool:
        """The source holds ``data`` now: parse and report it unless it was reported last
        (then return False)."""
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._seen:
            return False
        self._seen = digest
        self._problem = None
        try:
            loaded = await asyncio.to_thread(parse_config_bytes, data, self.name, self.limits)
        except ConfigError as exc:
            await self._report(self._on_error, exc)
            return True
        await self._report(self._on_change, loaded)
        return True

    async def problem(self, message: str) -> bool:
        """The source itself has a problem: report it once, until the state changes
        (False when it was reported already)."""
        if message == self._problem:
            return False
        self._problem = message
        self._seen = None  # the next content is reported, even the last good one
        await self._report(self._on_error, ConfigError([Problem(self.name, "", message)]))
        return True

    async def _report(self, callback: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        try:
            await callback(arg)
        except Exception:
            log.exception("config handler failed", source=self.name)
