"""The scrape room's own metrics beyond the ones every room shares in `openagent.telemetry`."""

from __future__ import annotations

from prometheus_client import Gauge

from openagent.telemetry import REGISTRY

#: Labelled as the other per-target series (job and instance), one series per target:
#: the agent's own cardinality still follows its targets.
CACHE_SERIES = Gauge(
    "openagent_target_cache_series",
    "Series texts a target's parser cache holds after its last scrape; entries not seen in "
    "the last two scrapes are evicted beyond twice the last good scrape's samples plus 1,000.",
    ["job", "instance"],
    registry=REGISTRY,
)
