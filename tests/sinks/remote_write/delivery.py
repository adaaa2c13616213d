"""Sending through the real delivery layer, so a test reads what the ledger booked."""

from __future__ import annotations

from openagent.delivery.lane import SinkLane
from openagent.delivery.ledger import Ledger
from openagent.delivery.options import DeliveryOptions
from openagent.model import ScrapeResult
from openagent.sinks.base import Sink


async def deliver(sink: Sink, *results: ScrapeResult) -> Ledger:
    """Hand ``results`` to ``sink`` through a `SinkLane` (memory queue, sender, ledger), wait
    until everything is delivered or dropped, and return the lane's ledger."""
    lane = SinkLane(sink, DeliveryOptions(backoff_initial=0.05, backoff_max=0.2))
    try:
        await lane.start()
        for result in results:
            lane.submit(result)
        lane.flush()
        assert await lane.drain(within=60), "delivery did not drain"
    finally:
        await lane.close()
    return lane.ledger
