"""Sinks: where scrape results go (see `openagent.sinks.base` for the protocol)."""

from __future__ import annotations

from openagent.settings import Settings
from openagent.sinks.base import Batch, Sink, SinkError

__all__ = ["Batch", "Sink", "SinkError", "build_sinks"]


def build_sinks(settings: Settings) -> list[Sink]:
    """The sinks named in the settings, in order."""
    sinks: list[Sink] = []
    for name in settings.sinks:
        if name == "jsonl":
            from openagent.sinks.jsonl import JsonlSink

            sinks.append(JsonlSink(settings.jsonl_path))
        elif name == "remote_write":
            from openagent.sinks.remote_write import RemoteWriteSink

            sinks.append(RemoteWriteSink.from_settings(settings))
        elif name == "whatap":
            from openagent.sinks.whatap.sink import WhatapSink

            sinks.append(WhatapSink.from_settings(settings))
        else:
            raise ValueError(f"sink {name!r} is not available in this build")
    return sinks
