"""The connection a kubeconfig file describes, through kubernetes_asyncio.

Local runs point the agent at a kubeconfig, and kubeconfig files carry what
is worth a library: client certificates, exec plugins, auth providers,
proxies, several files merged from ``$KUBECONFIG``. kubernetes_asyncio's
loader parses them and its ``ApiClient`` sends the request; bodies are read
by `openagent.kube.client`.

This module is imported only when a kubeconfig is used: the loader brings
the library's whole generated client, about 43 MiB of RSS, which a pod on
its service account does without (`openagent.kube.incluster`).

A 401 reloads the file (an exec plugin runs again), so an expired
credential heals without a restart.
"""

from __future__ import annotations

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import kube_config
from kubernetes_asyncio.config.config_exception import ConfigException

from openagent.kube.credentials import USER_AGENT, Query
from openagent.kube.errors import KubeConfigError
from openagent.telemetry import get_logger

log = get_logger("kube")


class KubeconfigTransport:
    """GETs through kubernetes_asyncio's ``ApiClient``, configured from a kubeconfig."""

    def __init__(self, configuration: k8s.Configuration, path: str) -> None:
        self.configuration = configuration
        self.path = path
        configuration.connection_pool_maxsize = 0  # unlimited: every open watch holds one
        self.api = k8s.ApiClient(configuration)
        self.api.user_agent = USER_AGENT

    @property
    def host(self) -> str:
        """The API server URL."""
        return str(self.configuration.host)

    @property
    def source(self) -> str:
        """Where the credentials come from."""
        return f"kubeconfig {self.path} ({self.host})"

    async def get(
        self, path: str, query: Query, limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Send ``GET path?query``; the body is left unread."""
        resp: aiohttp.ClientResponse = await self.api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=limits,
        )
        return resp

    async def refresh(self) -> bool:
        """Load the kubeconfig again (after a 401); True if the credentials changed."""
        fresh = k8s.Configuration()
        try:
            await kube_config.load_kube_config(
                config_file=self.path, client_configuration=fresh, persist_config=False
            )
        except (ConfigException, OSError, ValueError, KeyError, yaml.YAMLError) as err:
            log.warning("kubeconfig reload failed", path=self.path, error=str(err))
            return False
        old = dict(self.configuration.api_key)
        self.configuration.api_key.clear()
        self.configuration.api_key.update(fresh.api_key)
        return old != fresh.api_key

    async def close(self) -> None:
        """Close the connection pool."""
        await self.api.close()


async def load_kubeconfig(spec: str, origin: str) -> KubeconfigTransport:
    """The kubeconfig files ``spec`` (a ``:`` list) named by ``origin``; raises
    `KubeConfigError`."""
    cfg = k8s.Configuration()
    try:
        await kube_config.load_kube_config(
            config_file=spec, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise KubeConfigError(f"kubeconfig {spec} (from {origin}): {err}") from err
    return KubeconfigTransport(cfg, spec)
