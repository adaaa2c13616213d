"""Fixtures: a running fake API server and kubernetes_asyncio clients for it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kubefake import FakeKubeServer

TOKEN = "kubefake-test-token"

ClientFactory = Callable[..., client.ApiClient]


def api_status(err: ApiException) -> dict[str, Any]:
    """The Status body of an ApiException (asserting it is one line of JSON)."""
    body = err.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    assert "\n" not in text, "the apiserver sends single-line JSON"
    status: dict[str, Any] = json.loads(text)
    return status


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    """A plain-HTTP server requiring ``TOKEN``; bookmarks every 0.2 s to keep tests short."""
    async with FakeKubeServer(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def kube_tls() -> AsyncIterator[FakeKubeServer]:
    """An HTTPS server (trustme CA) requiring ``TOKEN``."""
    async with FakeKubeServer(token=TOKEN, tls=True, bookmark_interval=0.2) as server:
        yield server


def client_configuration(
    server: FakeKubeServer, token: str | None = TOKEN, ca: Path | None = None
) -> client.Configuration:
    """A kubernetes_asyncio configuration pointing at ``server``."""
    cfg = client.Configuration(host=server.url)
    if token is not None:
        cfg.api_key = {"BearerToken": token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
    if ca is not None:
        cfg.ssl_ca_cert = str(ca)
    return cfg


@pytest.fixture
async def api_for() -> AsyncIterator[ClientFactory]:
    """Make ApiClients for any server (closed at teardown)."""
    made: list[client.ApiClient] = []

    def make(
        server: FakeKubeServer, token: str | None = TOKEN, ca: Path | None = None
    ) -> client.ApiClient:
        api = client.ApiClient(client_configuration(server, token, ca))
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()


@pytest.fixture
async def api(kube: FakeKubeServer, api_for: ClientFactory) -> client.ApiClient:
    """An ApiClient for the ``kube`` server, authenticated with ``TOKEN``."""
    return api_for(kube)


@pytest.fixture
async def core(api: client.ApiClient) -> client.CoreV1Api:
    """CoreV1Api on ``api``."""
    return client.CoreV1Api(api)
