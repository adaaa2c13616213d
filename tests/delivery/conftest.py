"""Fixtures for the delivery tests: a running loopback receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.delivery.support import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def receiver2() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
