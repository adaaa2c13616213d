"""Hands every scrape result to every sink, each through its own `SinkLane`.

Scrape loops call `Delivery.submit`, which only encodes and queues: it never
waits for a sink. Each sink has its own ledger, memory queue, spool
subdirectory and sender task, so a slow or failing sink never holds back
another one. Each sink also gets its own per-series encoding slot
(`openagent.model.SERIES_SLOTS`), so a new sink needs no change to the model.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from openagent.delivery.lane import SinkLane
from openagent.delivery.options import DeliveryOptions
from openagent.model import SERIES_SLOTS, ScrapeResult
from openagent.sinks.base import Sink
from openagent.telemetry import get_logger

log = get_logger("delivery")

_SINK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Delivery:
    """The delivery layer: one lane per sink."""

    def __init__(self, sinks: Sequence[Sink], options: DeliveryOptions | None = None) -> None:
        self.options = options or DeliveryOptions()
        seen: set[str] = set()
        for sink in sinks:
            if not _SINK_NAME.fullmatch(sink.name):
                raise ValueError(f"sink name {sink.name!r} cannot name a spool directory")
            if sink.name in seen:
                raise ValueError(f"two sinks are named {sink.name!r}; each needs its own name")
            seen.add(sink.name)
        for i, sink in enumerate(sinks):
            sink.use_series_slot(SERIES_SLOTS[i] if i < len(SERIES_SLOTS) else None)
        self.lanes = [SinkLane(s, self.options) for s in sinks]

    def lane(self, name: str) -> SinkLane:
        """The lane of the sink called ``name``."""
        for lane in self.lanes:
            if lane.name == name:
                return lane
        raise KeyError(name)

    def submit(self, result: ScrapeResult) -> None:
        """Queue ``result`` for every sink; never blocks."""
        for lane in self.lanes:
            lane.submit(result)

    async def start(self) -> None:
        """Open the spools and start every sink's consumer (spooled data is sent first).

        Without a spool a crash loses what is queued; the agent says so once at start.
        """
        await asyncio.gather(*(lane.start() for lane in self.lanes))

    def abort_drain(self) -> None:
        """End the drain of `close` at once (a second SIGTERM); what is left is kept."""
        for lane in self.lanes:
            lane.abort_drain()

    async def close(self, grace: float) -> None:
        """Flush held-back batches, deliver for up to ``grace`` seconds, then keep the rest.

        What is still queued after the grace period goes to each sink's spool
        (or, without a spool, is counted as dropped with ``reason="shutdown"``).
        """
        for lane in self.lanes:
            lane.flush()
        drained = await asyncio.gather(*(lane.drain(grace) for lane in self.lanes))
        for lane, done in zip(self.lanes, drained, strict=True):
            if not done:
                log.warning(
                    "drain ended with batches still queued"
                    + (" (ended on request)" if lane.drain_aborted else " (grace period over)"),
                    sink=lane.name,
                )
        await asyncio.gather(*(lane.close() for lane in self.lanes))
