"""The one connection to the API server that every room shares, made when first needed.

Discovery, the ConfigMap config source and the Secret resolver each ask the
`Cluster` for its `InformerPool`; the first ask connects (in-cluster service
account, else the kubeconfig), later ones share that client and its
informers. A failed connect is not remembered: the next ask tries again, so
each user keeps its own retry policy. Nothing touches the network until a
user asks, and kubernetes_asyncio is imported only when the answer is a
kubeconfig: a pod on its service account never loads it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from openagent.kube.errors import KubeConfigError
from openagent.kube.informer import InformerOptions
from openagent.kube.pool import InformerPool

if TYPE_CHECKING:
    from openagent.kube.client import KubeClient

#: Where a pod finds its service-account token, CA and namespace.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Where a pod finds its own namespace.
NAMESPACE_FILE = SERVICE_ACCOUNT_DIR / "namespace"
#: The namespace of last resort (the Go agent's and the operator's default).
DEFAULT_NAMESPACE = "whatap-monitoring"


def own_namespace(pod_namespace: str | None, namespace_file: Path = NAMESPACE_FILE) -> str:
    """This agent's namespace: ``pod_namespace`` (POD_NAMESPACE), else the service
    account's namespace file, else `DEFAULT_NAMESPACE` (the Go agent's order)."""
    if pod_namespace and pod_namespace.strip():
        return pod_namespace.strip()
    try:
        found = namespace_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        found = ""
    return found or DEFAULT_NAMESPACE


def kubeconfig_spec(path: Path | None) -> tuple[str, str]:
    """The kubeconfig file list to read and where it came from; checks that one exists."""
    if path is not None:
        spec, origin = str(path), "--kubeconfig"
    elif os.environ.get("KUBECONFIG"):
        spec, origin = os.environ["KUBECONFIG"], "$KUBECONFIG"
    else:
        spec, origin = str(Path("~/.kube/config").expanduser()), "the default kubeconfig"
    files = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    if not any(os.path.isfile(f) for f in files):
        raise KubeConfigError(
            f"no kubeconfig: {spec} (from {origin}) does not exist, and this is not a pod "
            "with a service account (KUBERNETES_SERVICE_HOST unset or no token file)"
        )
    return spec, origin


def in_cluster_available(
    token_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """True when this process looks like it runs in a pod with a service account."""
    env = os.environ if environ is None else environ
    token_path = token_path or SERVICE_ACCOUNT_DIR / "token"
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and token_path.is_file()


def cluster_problem(
    kubeconfig: Path | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """Why no cluster can be reached from here (None when one is configured): no service
    account in a pod, and no kubeconfig file."""
    if kubeconfig is None and in_cluster_available(environ=environ):
        return None
    try:
        kubeconfig_spec(kubeconfig)
    except KubeConfigError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Client timeouts in seconds.

    ``connect``: establishing a connection. ``read``: silence allowed while
    reading a list response. ``watch_read``: silence allowed on a watch
    before it counts as stalled (longer than the bookmark cadence).
    """

    connect: float = 10.0
    read: float = 60.0
    watch_read: float = 90.0


@dataclass(frozen=True, slots=True)
class KubeOptions:
    """How to reach the cluster: ``kubeconfig`` (None: in-cluster, ``$KUBECONFIG`` or
    ``~/.kube/config``), request timeouts and informer tuning."""

    kubeconfig: Path | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    informers: InformerOptions = field(default_factory=InformerOptions)


Connect = Callable[[], Awaitable["KubeClient"]]


class Cluster:
    """The shared client and informer pool (see the module docs)."""

    def __init__(self, connect: Connect, informers: InformerOptions | None = None) -> None:
        self._connect = connect
        self._informers = informers
        self._pool: InformerPool | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, options: KubeOptions) -> Cluster:
        """A cluster reached as ``options`` say."""

        async def connect() -> KubeClient:
            # Imported here: the client module imports this one. It loads
            # kubernetes_asyncio only for a kubeconfig (see `connect_client`).
            from openagent.kube.client import connect as connect_client

            return await connect_client(options.kubeconfig, timeouts=options.timeouts)

        return cls(connect, options.informers)

    @property
    def connected(self) -> bool:
        """True once a connection was made (and until `close`)."""
        return self._pool is not None

    async def pool(self) -> InformerPool:
        """The informer pool, connecting first if needed.

        Raises what connecting raised (`openagent.kube.KubeConfigError` when
        no cluster is configured); the next call tries again.
        """
        async with self._lock:
            if self._pool is None:
                self._pool = InformerPool(await self._connect(), self._informers)
            return self._pool

    async def close(self) -> None:
        """Stop every informer and close the connection (a later `pool` connects again)."""
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
            await pool.client.close()
