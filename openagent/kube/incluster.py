"""The in-cluster connection: the pod's service account, on aiohttp alone.

This is the path of the Deployment. It is written here rather than taken
from kubernetes_asyncio because that library's config loaders import its
whole generated client: ``import kubernetes_asyncio.config`` alone adds about
37 MiB of RSS (43 MiB with its ``ApiClient``; measured with aiohttp already
loaded) to every agent pod, to read two environment variables and two files.
An agent discovering four dcgm-exporter pods went from 95 MiB to 61 MiB
(``python -m benchmarks.idle_memory --shape in-cluster``). Kubeconfig files,
with their client certificates, exec plugins and auth providers, stay with
kubernetes_asyncio (`openagent.kube.kubeconfig`).

What is read, as client-go's ``rest.InClusterConfig`` reads it:

* the API server, ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``
  (both set and non-empty; an IPv6 address is bracketed);
* the CA file: the only root trusted (not the system's), and the server's
  certificate must name the host;
* the token file, through `ServiceAccountToken`: checked before every
  request and read again when it changed or is a minute old, and at once
  after a 401, so kubelet's rotation of projected tokens needs no restart.

Proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``) are honoured, as
client-go and kubernetes_asyncio do.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from openagent.kube.cluster import SERVICE_ACCOUNT_DIR
from openagent.kube.credentials import USER_AGENT, Query, ServiceAccountToken
from openagent.kube.errors import KubeConfigError

#: aiohttp's read buffer. A watch event is one line, and aiohttp's ``readline``
#: refuses a line longer than twice this; 2 MiB is what kubernetes_asyncio used.
READ_BUFFER = 2 << 20


class InClusterTransport:
    """GETs to the API server with the service-account token (see the module docs)."""

    def __init__(self, host: str, token: ServiceAccountToken, ssl_context: ssl.SSLContext) -> None:
        self._host = host
        self.token = token
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @property
    def host(self) -> str:
        """The API server URL."""
        return self._host

    @property
    def source(self) -> str:
        """Where the credentials come from."""
        return f"in-cluster service account ({self._host})"

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on the event loop, at the first request
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl),  # a watch holds one
                headers={"User-Agent": USER_AGENT},
                trust_env=True,
                read_bufsize=READ_BUFFER,
            )
        return self._session

    async def get(
        self, path: str, query: Query, limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Send ``GET path?query`` with the current token; the body is left unread."""
        self.token.refresh()  # a stat; the file is read only when it changed or aged
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token.token}"}
        return await self._pool().get(
            self._host + path, params=query, headers=headers, timeout=limits
        )

    async def refresh(self) -> bool:
        """Read the token file again (after a 401); True if the token changed."""
        return self.token.refresh(force=True)

    async def close(self) -> None:
        """Close the connection pool."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def service_host(environ: Mapping[str, str]) -> str:
    """``https://host:port`` from ``KUBERNETES_SERVICE_HOST/PORT``; raises `KubeConfigError`."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeConfigError(
            "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
            "must both be set (is this a pod?)"
        )
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def ca_context(ca_path: Path) -> ssl.SSLContext:
    """A client TLS context trusting only the CA file, checking the server's name."""
    try:
        return ssl.create_default_context(cafile=str(ca_path))
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        raise KubeConfigError(f"in-cluster config: CA file {ca_path}: {err}") from err


def in_cluster_config(
    token_path: Path | None = None,
    ca_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> InClusterTransport:
    """The pod's service account: ``KUBERNETES_SERVICE_HOST/PORT``, token and CA files.

    ``token_path``, ``ca_path`` and ``environ`` replace the pod's (tests).
    Raises `KubeConfigError` naming what is missing; sends nothing yet.
    """
    host = service_host(os.environ if environ is None else environ)
    token = ServiceAccountToken(token_path or SERVICE_ACCOUNT_DIR / "token")
    context = ca_context(ca_path or SERVICE_ACCOUNT_DIR / "ca.crt")
    return InClusterTransport(host, token, context)
