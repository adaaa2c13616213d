"""The shard room's own metrics (the agent process fills them; workers never do)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from openagent.telemetry import REGISTRY

MEMBERS = Gauge(
    "openagent_shard_members",
    "Members sharing the targets as this agent sees them (1 when not sharded).",
    registry=REGISTRY,
)
OWNED = Gauge(
    "openagent_shard_targets",
    "Discovered targets this agent owns, by whether it owns them (this, other).",
    ["owner"],
    registry=REGISTRY,
)
HANDOVERS = Counter(
    "openagent_shard_handovers",
    "Targets this agent stopped or started scraping because the members changed "
    "(to: another member, from: another member).",
    ["direction"],
    registry=REGISTRY,
)
