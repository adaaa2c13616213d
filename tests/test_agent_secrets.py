"""The whole agent scraping with credentials from Kubernetes Secrets (fake API server).

Two targets reference Secrets as the Whatap Operator renders them: one that
exists (and rotates), one that does not. The first is scraped with the
Secret's credentials before and after the rotation; the second fails with an
error naming the namespace, the Secret and the key, and does not disturb the
first.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from openagent.agent import Agent
from openagent.settings import load_settings
from tests.kubefake import FakeKubeServer, objects
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

TOKEN = "agent-secrets-token"


class AuthExporter:
    """A loopback exporter that answers 401 unless it gets the expected Authorization."""

    def __init__(self) -> None:
        self.expected = ""
        self.accepted: list[str] = []
        self.refused = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        got = request.headers.get("Authorization", "")
        if got != self.expected:
            self.refused += 1
            return web.Response(status=401, text="who are you")
        self.accepted.append(got)
        return web.Response(text="# TYPE dcgm_test gauge\ndcgm_test 1\n")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def config_text(port: int) -> str:
    ref = "{{name: {name}, key: {key}, namespace: gpu}}"
    good = (
        f"username: {ref.format(name='dcgm-creds', key='username')}, "
        f"password: {ref.format(name='dcgm-creds', key='password')}"
    )
    bad = f"username: scraper, password: {ref.format(name='missing', key='password')}"
    return f"""features:
  openAgent:
    enabled: true
    targets:
    - targetName: with-secret
      type: StaticEndpoints
      endpoints:
      - {{address: "127.0.0.1:{port}", interval: 1s, basicAuth: {{{good}}}}}
    - targetName: missing-secret
      type: StaticEndpoints
      endpoints:
      - {{address: "127.0.0.1:{port}", path: /other, interval: 1s, basicAuth: {{{bad}}}}}
"""


@pytest.fixture
async def exporter() -> AsyncIterator[AuthExporter]:
    exp = AuthExporter()
    await exp.start()
    yield exp
    await exp.stop()


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


async def targets_view(agent: Agent) -> dict[str, dict[str, Any]]:
    url = f"http://127.0.0.1:{agent.listen_port}/targets"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return {t["job"]: t for t in orjson.loads(await r.read())}


async def test_secret_credentials_are_used_rotated_and_missing_ones_fail_alone(
    kube: FakeKubeServer, exporter: AuthExporter, tmp_path: Path
) -> None:
    kube.store.create(
        objects.secret("dcgm-creds", "gpu", {"username": "scraper", "password": "first"})
    )
    exporter.expected = basic("scraper", "first")
    cfg = tmp_path / "scrape_config.yaml"
    cfg.write_text(config_text(exporter.port))
    settings = load_settings(
        config=str(cfg),
        kubeconfig=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        listen="127.0.0.1:0",
        jsonl_path=str(tmp_path / "out.jsonl"),
        sinks="jsonl",
    )
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: len(exporter.accepted) >= 2)
        view = await eventually(targets_view_with(agent, "missing-secret", "down"))
        error = view["missing-secret"]["last_error"]
        assert "Secret gpu/missing key 'password': the Secret does not exist" in error
        assert view["with-secret"]["health"] == "up"

        def rotate(obj: dict[str, Any]) -> None:
            obj["data"]["password"] = base64.b64encode(b"second").decode()

        exporter.expected = basic("scraper", "second")
        kube.store.modify("secrets", "gpu", "dcgm-creds", rotate)
        await eventually(lambda: basic("scraper", "second") in exporter.accepted)
        accepted = len(exporter.accepted)
        await eventually(lambda: len(exporter.accepted) >= accepted + 2)  # and it keeps working
        assert (await targets_view(agent))["with-secret"]["health"] == "up"
        watched = {
            (r.namespace, r.query.get("fieldSelector")) for r in kube.requests_for("secrets")
        }
        assert watched == {("gpu", "metadata.name=dcgm-creds"), ("gpu", "metadata.name=missing")}
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 15) == 0


def targets_view_with(agent: Agent, job: str, health: str) -> Any:
    async def check() -> dict[str, dict[str, Any]] | None:
        view = await targets_view(agent)
        return view if job in view and view[job]["health"] == health else None

    return check
