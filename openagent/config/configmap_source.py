"""The scrape configuration from a ConfigMap, read and watched through the Kubernetes API.

The Whatap Operator mounts its ConfigMap ``whatap-open-agent-config`` with
``subPath``, so the kubelet never updates the mounted file; the Go agent
reads the ConfigMap through the API in Kubernetes mode, and so does
`ConfigMapSource` when ``config_map`` is set (by default when the agent is
started the Go agent's way in a cluster, see `openagent.settings`).

One informer watches ``configmaps`` in one namespace with
``fieldSelector=metadata.name=<name>``: the agent reacts to watch events,
it does not poll. On every event the value of the key is hashed (sha256) and
compared with the last content reported; new content is parsed
(`openagent.config.parse_config_bytes`, named ``configmap <ns>/<name>:<key>``
in every problem) and handed to ``on_change``, or its problems to
``on_error``. ``on_error`` also hears, once per new state, of:

* no cluster connection (no service account, no kubeconfig): retried with
  backoff;
* a first list that fails (a 403 names the missing permission, an API server
  that does not answer names the address): the informer retries with backoff;
* a ConfigMap or key that does not exist: picked up as soon as it is created
  (the Go agent idles for good in that case);
* a ConfigMap deleted after it was read: the caller keeps its last good
  config.

After any error the next content is reported even if it equals the last good
one, so the caller can clear its error state. Failures after the first list
(a watch that breaks) keep the cached ConfigMap; the informer logs and heals
them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openagent.backoff import Backoff
from openagent.config import ConfigError, LoadedConfig, Problem, parse_config_bytes
from openagent.kube.client import KubeClient, connect
from openagent.kube.credentials import SERVICE_ACCOUNT_DIR
from openagent.kube.informer import Informer, InformerKey, InformerOptions
from openagent.telemetry import get_logger

if TYPE_CHECKING:
    from openagent.settings import Settings

log = get_logger("config.configmap")

#: Where a pod finds its own namespace.
NAMESPACE_FILE = SERVICE_ACCOUNT_DIR / "namespace"
#: The namespace of last resort (the Go agent's and the operator's default).
DEFAULT_NAMESPACE = "whatap-monitoring"

OnChange = Callable[[LoadedConfig], Awaitable[None]]
OnError = Callable[[ConfigError], Awaitable[None]]
Connect = Callable[[], Awaitable[KubeClient]]


def config_map_namespace(pod_namespace: str | None, namespace_file: Path = NAMESPACE_FILE) -> str:
    """``pod_namespace`` (POD_NAMESPACE), else the service account's namespace file,
    else `DEFAULT_NAMESPACE`: the Go agent's order."""
    if pod_namespace and pod_namespace.strip():
        return pod_namespace.strip()
    try:
        found = namespace_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        found = ""
    return found or DEFAULT_NAMESPACE


class _Informer(Informer):
    """An `Informer` that also calls ``on_failure`` whenever a request fails."""

    def __init__(
        self,
        client: KubeClient,
        key: InformerKey,
        options: InformerOptions | None,
        on_failure: Callable[[], None],
    ) -> None:
        super().__init__(client, key, options)
        self._on_failure = on_failure

    def _failed(self, text: str, reason: str, status: int | None) -> None:
        super()._failed(text, reason, status)
        self._on_failure()


class ConfigMapSource:
    """Reports every new version of one key of one ConfigMap (see the module docs).

    ``connect`` makes the API client (retried until it works); nothing
    touches the network before `run`.
    """

    def __init__(
        self,
        connect: Connect,
        namespace: str,
        name: str,
        key: str,
        on_change: OnChange,
        on_error: OnError,
        *,
        options: InformerOptions | None = None,
    ) -> None:
        self.connect = connect
        self.namespace = namespace
        self.name = name
        self.key = key
        self.options = options or InformerOptions()
        self.informer_key = InformerKey(
            "configmaps", namespace, field_selector=f"metadata.name={name}"
        )
        self._on_change = on_change
        self._on_error = on_error
        #: The resourceVersion of the ConfigMap as last examined ("" before that).
        self.resource_version = ""
        self._dirty = asyncio.Event()
        self._seen: str | None = None
        self._problem: str | None = None
        self._found = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        on_change: OnChange,
        on_error: OnError,
        *,
        namespace_file: Path = NAMESPACE_FILE,
    ) -> ConfigMapSource:
        """The source ``settings`` ask for (``config_map`` must be set)."""
        if not settings.config_map:
            raise ValueError("no ConfigMap configured (OPENAGENT_CONFIG_MAP)")
        kubeconfig = settings.kubeconfig

        async def make_client() -> KubeClient:
            return await connect(kubeconfig)

        namespace = config_map_namespace(settings.pod_namespace, namespace_file)
        return cls(
            make_client,
            namespace,
            settings.config_map,
            settings.config_map_key,
            on_change,
            on_error,
        )

    @property
    def source(self) -> str:
        """``configmap <namespace>/<name>:<key>``: how problems name this source."""
        return f"configmap {self.namespace}/{self.name}:{self.key}"

    # -- the loop ----------------------------------------------------------

    async def run(self) -> None:
        """Watch until cancelled; never raises otherwise."""
        client = await self._connect()
        informer = _Informer(client, self.informer_key, self.options, self._dirty.set)
        unsubscribe = informer.subscribe(lambda _type, _old, _new: self._dirty.set())
        task = asyncio.create_task(informer.run(), name=f"informer {self.informer_key}")
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                try:
                    await self._check(informer)
                except Exception:  # a bug must not end the config source
                    log.exception("checking the ConfigMap failed", source=self.source)
        finally:
            unsubscribe()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    async def _connect(self) -> KubeClient:
        opts = self.options
        backoff = Backoff(opts.backoff_initial, opts.backoff_max, jitter=0.5)
        while True:
            try:
                return await self.connect()
            except Exception as exc:
                await self._report_problem(f"no Kubernetes connection: {exc}")
                await asyncio.sleep(backoff.next())

    async def _check(self, informer: Informer) -> None:
        """Look at what the informer holds now and report what is new."""
        if not informer.synced.is_set():
            if informer.error:
                await self._report_problem(informer.error)
            return
        obj = informer.objects.get((self.namespace, self.name))
        if obj is None:
            if self._found:
                await self._report_problem(
                    "the ConfigMap was deleted; keeping the last good config until it is back"
                )
            else:
                await self._report_problem(
                    f"ConfigMap {self.name!r} not found in namespace {self.namespace!r}; "
                    "waiting for it to be created"
                )
            return
        self._found = True
        self.resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        value = self._value(obj)
        if isinstance(value, str):
            await self._report_problem(value)
            return
        digest = hashlib.sha256(value).hexdigest()
        if digest == self._seen:
            return
        self._seen = digest
        self._problem = None
        try:
            loaded = await asyncio.to_thread(parse_config_bytes, value, self.source)
        except ConfigError as exc:
            await self._report(self._on_error, exc)
            return
        await self._report(self._on_change, loaded)

    def _value(self, obj: dict[str, Any]) -> bytes | str:
        """The key's content as bytes, or a problem (str) saying why there is none."""
        data = obj.get("data") or {}
        binary = obj.get("binaryData") or {}
        if self.key in data:
            value = data[self.key]
            if not isinstance(value, str):
                return f"data[{self.key!r}] is not a string"
            return value.encode("utf-8")
        if self.key in binary:
            try:
                return base64.b64decode(str(binary[self.key]), validate=True)
            except (binascii.Error, ValueError):
                return f"binaryData[{self.key!r}] is not valid base64"
        keys = sorted({*data, *binary})
        have = f"its keys: {', '.join(keys)}" if keys else "it has no data"
        return f"the ConfigMap has no key {self.key!r} ({have})"

    async def _report_problem(self, message: str) -> None:
        """Report a problem of the source itself, once until the state changes."""
        if message == self._problem:
            return
        self._problem = message
        self._seen = None  # the next content is reported, even the last good one
        await self._report(self._on_error, ConfigError([Problem(self.source, "", message)]))

    async def _report(self, callback: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        try:
            await callback(arg)
        except Exception:
            log.exception("config handler failed", source=self.source)
