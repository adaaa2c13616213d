"""Fixtures: a fake API server, a client for it, and informers that stop at teardown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openagent.kube import Informer, InformerKey, InformerOptions, Timeouts
from openagent.kube.client import KubeClient, connect
from openagent.telemetry import REGISTRY
from tests.kubefake import FakeKubeServer

TOKEN = "informer-test-token"
#: Short backoffs and watch timeouts so failures and restarts show within a test.
FAST = InformerOptions(
    page_size=500, watch_timeout=(5, 10), backoff_initial=0.02, backoff_max=0.2, backoff_reset=5.0
)
#: A watch silent this long counts as stalled (bookmarks come every 0.2 s while the store moves).
TIMEOUTS = Timeouts(connect=2.0, read=5.0, watch_read=2.0)


def metric(name: str, **labels: str) -> float:
    """The current value of one sample of the agent's registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Recorder:
    """A subscriber that keeps ``(type, namespace/name)`` of every notification."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.objects: list[tuple[str, Any, Any]] = []

    def __call__(self, event_type: str, old: Any, new: Any) -> None:
        obj = new if new is not None else old
        name = (
            "-"
            if obj is None
            else f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        )
        self.events.append((event_type, name))
        self.objects.append((event_type, old, new))

    def after(self, mark: int) -> list[tuple[str, str]]:
        """Events since ``mark`` (a previous ``len(events)``)."""
        return self.events[mark:]


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    """Plain HTTP, bearer token required, bookmarks every 0.2 s."""
    async with FakeKubeServer(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def client(kube: FakeKubeServer, tmp_path: Path) -> AsyncIterator[KubeClient]:
    """A client for ``kube`` through a kubeconfig file."""
    c = await connect(kube.write_kubeconfig(tmp_path / "kubeconfig"), timeouts=TIMEOUTS)
    yield c
    await c.close()


InformerFactory = Callable[..., Informer]


@pytest.fixture
async def start_informer(client: KubeClient) -> AsyncIterator[InformerFactory]:
    """Start informers on ``client`` (FAST options unless given); cancelled at teardown."""
    tasks: list[asyncio.Task[None]] = []

    def start(
        key: InformerKey, options: InformerOptions = FAST, on_client: KubeClient | None = None
    ) -> Informer:
        informer = Informer(on_client or client, key, options)
        tasks.append(asyncio.create_task(informer.run()))
        return informer

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def synced(informer: Informer, within: float = 10.0) -> Informer:
    """Wait for the informer's first complete list."""
    await asyncio.wait_for(informer.synced.wait(), within)
    return informer
