"""Discovery: from the scrape config to the desired set of targets.

`Discovery` is what the agent talks to. It takes each new config, derives
the targets of every kind it knows (static endpoints now; Kubernetes pods
and services where a cluster connection is configured) and reports the
whole desired set through its callback whenever that set may have changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from openagent.config import ScrapeConfig
from openagent.discovery.build import Dropped
from openagent.discovery.static import static_targets
from openagent.discovery.target import Target
from openagent.telemetry import get_logger

log = get_logger("discovery")

OnTargets = Callable[[list[Target]], Awaitable[None]]


class Discovery:
    """Keeps the desired target set current and hands it to ``on_targets``."""

    def __init__(self, on_targets: OnTargets) -> None:
        self.on_targets = on_targets
        self.static: list[Target] = []
        self.dropped: list[Dropped] = []

    async def apply_config(self, config: ScrapeConfig) -> None:
        """Take a new config and publish the targets it yields."""
        self.static, self.dropped = static_targets(config)
        for d in self.dropped:
            log.info("candidate dropped", source=d.source, reason=d.reason)
        await self.publish()

    def targets(self) -> list[Target]:
        """The desired set now."""
        return list(self.static)

    async def publish(self) -> None:
        """Report the desired set."""
        await self.on_targets(self.targets())

    async def run(self) -> None:
        """Background work (watches); static discovery needs none."""

    async def close(self) -> None:
        """Stop background work."""
