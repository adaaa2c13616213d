"""Static targets are built off the event loop, which keeps serving while a big config is read."""

from __future__ import annotations

import asyncio
import threading

import pytest

import openagent.discovery as discovery_room
from openagent.config import ScrapeConfig
from openagent.discovery import Discovery
from openagent.discovery.candidates import Dropped
from openagent.discovery.static import static_targets
from openagent.model import Target

from .targets_support import config_of


async def test_the_event_loop_runs_while_static_targets_are_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_ran = threading.Event()

    def build_once_the_loop_ran(config: ScrapeConfig) -> tuple[list[Target], list[Dropped]]:
        # On the event loop's own thread this would wait for itself until the timeout.
        if not loop_ran.wait(timeout=30):
            raise AssertionError("the event loop did not run while static targets were built")
        return static_targets(config)

    monkeypatch.setattr(discovery_room, "static_targets", build_once_the_loop_ran)
    published: list[list[Target]] = []

    async def record(targets: list[Target]) -> None:
        published.append(targets)

    asyncio.get_running_loop().call_soon(loop_ran.set)
    cfg = config_of(
        "- targetName: dcgm\n  type: StaticEndpoints\n  endpoints: [{address: '127.0.0.1:9400'}]\n"
    )
    await Discovery(record).apply_config(cfg)
    assert [[t.url for t in p] for p in published] == [["http://127.0.0.1:9400/metrics"]]
