"""Sinks: where scrape results go (see `openagent.sinks.base` for the protocol).

The shell builds the sinks it was asked for from its own options
(`openagent.wiring`); nothing here reads the process settings.
"""

from __future__ import annotations

from openagent.sinks.base import DELIVERED, Batch, Encoded, Loss, Sent, Sink, SinkError

__all__ = ["DELIVERED", "Batch", "Encoded", "Loss", "Sent", "Sink", "SinkError"]
