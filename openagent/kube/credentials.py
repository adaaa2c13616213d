"""How requests reach the API server: the `Transport` seam and the service-account token.

`KubeClient` builds paths and reads bodies; a `Transport` sends the GET with
the credentials and answers a 401 by refreshing them. There are two:

* `openagent.kube.incluster` (the pod's service account, what the
  Deployment uses), on aiohttp alone;
* `openagent.kube.kubeconfig` (client certificates, exec plugins, proxies
  from a kubeconfig file: local runs), on kubernetes_asyncio, which is
  imported only on that path.

`ServiceAccountToken` is the token file of the in-cluster path, as
client-go's cached file token source: surrounding whitespace is stripped (a
token written with ``echo`` ends in a newline, which aiohttp refuses in a
header), and the file is read again whenever it changes (kubelet rotates
projected tokens by swapping a symlink) and at least once a minute. A 401
re-reads it at once, so an expired credential heals without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import aiohttp

from openagent import __version__
from openagent.httpauth.files import WatchedFiles
from openagent.kube.errors import KubeConfigError
from openagent.telemetry import get_logger

TOKEN_MAX_AGE = 60.0
#: What both transports send as ``User-Agent``.
USER_AGENT = f"openagent/{__version__}"

log = get_logger("kube")

#: Query parameters of one request, in order.
Query = list[tuple[str, str]]


class Transport(Protocol):
    """Sends authenticated GETs to one API server."""

    @property
    def host(self) -> str:
        """The API server URL (``https://host:port``)."""
        ...

    @property
    def source(self) -> str:
        """Where the credentials come from, for messages (never the credentials)."""
        ...

    async def get(
        self, path: str, query: Query, limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Send ``GET path?query`` asking for JSON; the body is left unread."""
        ...

    async def refresh(self) -> bool:
        """Reload the credentials after a 401; True if they changed (worth a retry)."""
        ...

    async def close(self) -> None:
        """Close the connection pool."""
        ...


class ServiceAccountToken:
    """A bearer token file, re-read when it changes; whitespace around it is stripped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = WatchedFiles(max_age=TOKEN_MAX_AGE, max_entries=1)
        self.token = ""
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Re-read the file if it changed, aged or ``force``; True if the token changed."""
        try:
            token = self._files.read(str(self.path), force=force).decode().strip()
        except (OSError, ValueError) as err:  # ValueError: too large, or not UTF-8
            if not self.token:
                raise KubeConfigError(f"service-account token {self.path}: {err}") from err
            return False  # mid-rotation; keep the current token
        if not token:
            if not self.token:
                raise KubeConfigError(f"service-account token {self.path} is empty")
            return False
        changed = token != self.token
        if changed and self.token:
            log.info("service-account token changed; using the new one", path=str(self.path))
        self.token = token
        return changed
