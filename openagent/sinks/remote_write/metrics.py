"""Self-metrics of the remote-write sink (what it lost is booked by the delivery layer)."""

from __future__ import annotations

from prometheus_client import Counter

from openagent.telemetry import REGISTRY

SPLIT_REQUESTS_SENT = Counter(
    "openagent_remote_write_split_requests",
    "Requests spent sending batches the receiver refused with 400 again in parts.",
    registry=REGISTRY,
)
SPLIT_BATCHES = Counter(
    "openagent_remote_write_split_batches",
    "Batches the receiver refused with 400 whole and that were sent again in parts.",
    registry=REGISTRY,
)
