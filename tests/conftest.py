"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings

from tests.support import Exporter

# Property tests judge correctness, not speed: on a loaded 2-core CI machine input
# generation and single examples can be slow, which is no failure of the code.
settings.register_profile("openagent", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("openagent")


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    exp = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", exp.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    exp.port = runner.addresses[0][1]
    yield exp
    await runner.cleanup()
