"""The scrape configuration from a ConfigMap, read and watched through the Kubernetes API.

The Whatap Operator mounts its ConfigMap ``whatap-open-agent-config`` with
``subPath``, so the kubelet never updates the mounted file; the Go agent
reads the ConfigMap through the API in Kubernetes mode, and so does
`ConfigMapSource`, a `ConfigSource`, when the shell asks for it (by
default when the agent is started the Go agent's way in a cluster).

One informer of the shared `openagent.kube.Cluster` watches ``configmaps``
in one namespace with ``fieldSelector=metadata.name=<name>``: the agent
reacts to watch events, it does not poll. On every event the value of the
key goes to the shared `ContentReporter`, which reports new content once
(named ``configmap <ns>/<name>:<key>`` in every problem) to ``on_change``,
or its problems to ``on_error``. ``on_error`` also hears, once per new
state, of:

* no cluster connection (no service account, no kubeconfig): retried with
  backoff;
* a first list that fails (a 403 names the missing permission, an API server
  that does not answer names the address): the informer retries with backoff;
* a ConfigMap or key that does not exist: picked up as soon as it is created
  (the Go agent idles for good in that case);
* a ConfigMap deleted after it was read: the caller keeps its last good
  config.

`ConfigMapSource.reload` (SIGHUP) fetches the ConfigMap with a GET instead of
trusting the watch, and reports it the same way.

After any error the next content is reported even if it equals the last good
one, so the caller can clear its error state. Failures after the first list
(a watch that breaks) keep the cached ConfigMap; the informer logs and heals
them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from openagent.backoff import Backoff
from openagent.config.limits import DEFAULT_LIMITS, ConfigLimits, size_problem
from openagent.config.source import ContentReporter, OnChange, OnError
from openagent.kube import (
    Cluster,
    Informer,
    InformerKey,
    InformerOptions,
    InformerPool,
    KubeError,
    follow,
)


class ConfigMapSource:
    """Reports every new version of one key of one ConfigMap (see the module docs).

    Nothing touches the network before `run`; ``retry`` paces the attempts
    to connect while there is no cluster connection.
    """

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        name: str,
        key: str,
        on_change: OnChange,
        on_error: OnError,
        *,
        retry: InformerOptions | None = None,
        limits: ConfigLimits = DEFAULT_LIMITS,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.config_map = name
        self.key = key
        self.retry = retry or InformerOptions()
        self.informer_key = InformerKey(
            "configmaps", namespace, field_selector=f"metadata.name={name}"
        )
        self.limits = limits
        self._reporter = ContentReporter(self.name, on_change, on_error, limits=limits)
        #: The resourceVersion of the ConfigMap as last examined ("" before that).
        self.resource_version = ""
        self._found = False

    @property
    def name(self) -> str:
        """``configmap <namespace>/<name>:<key>``: how problems name this source."""
        return f"configmap {self.namespace}/{self.config_map}:{self.key}"

    # -- the loop ----------------------------------------------------------

    async def run(self) -> None:
        """Watch until cancelled; never raises otherwise."""
        pool = await self._connect()
        await follow(
            pool, self.informer_key, self._check, "checking the ConfigMap failed", source=self.name
        )

    async def reload(self) -> bool:
        """Fetch the ConfigMap now through the API and report it if it is new (True)."""
        try:
            pool = await self.cluster.pool()
            obj = await pool.client.get(
                "configmaps", namespace=self.namespace, name=self.config_map
            )
        except KubeError as exc:
            if exc.status == 404:
                return await self._reporter.problem(self._not_found())
            return await self._reporter.problem(f"reading the ConfigMap failed: {exc}")
        except Exception as exc:
            return await self._reporter.problem(f"no Kubernetes connection: {exc}")
        return await self._examine(obj)

    def _not_found(self) -> str:
        if self._found:
            return "the ConfigMap was deleted; keeping the last good config until it is back"
        return (
            f"ConfigMap {self.config_map!r} not found in namespace {self.namespace!r}; "
            "waiting for it to be created"
        )

    async def _connect(self) -> InformerPool:
        opts = self.retry
        backoff = Backoff(opts.backoff_initial, opts.backoff_max, jitter=0.5)
        while True:
            try:
                return await self.cluster.pool()
            except Exception as exc:
                await self._reporter.problem(f"no Kubernetes connection: {exc}")
                await asyncio.sleep(backoff.next())

    async def _check(self, informer: Informer) -> None:
        """Look at what the informer holds now and report what is new."""
        if not informer.synced.is_set():
            if informer.error:
                await self._reporter.problem(informer.error)
            return
        obj = informer.objects.get((self.namespace, self.config_map))
        if obj is None:
            await self._reporter.problem(self._not_found())
            return
        await self._examine(obj)

    async def _examine(self, obj: dict[str, Any]) -> bool:
        """Report the key's content in ``obj``, or why there is none; True when reported."""
        self._found = True
        self.resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        value = self._value(obj)
        if isinstance(value, str):
            return await self._reporter.problem(value)
        return await self._reporter.content(value)

    def _value(self, obj: dict[str, Any]) -> bytes | str:
        """The key's content as bytes, or a problem (str) saying why there is none."""
        data = obj.get("data") or {}
        binary = obj.get("binaryData") or {}
        if self.key in data:
            value = data[self.key]
            if not isinstance(value, str):
                return f"data[{self.key!r}] is not a string"
            # Each character is at least one byte: more characters than bytes allowed is
            # too big without encoding it.
            return size_problem(len(value), self.limits) or value.encode("utf-8")
        if self.key in binary:
            encoded = str(binary[self.key])
            too_big = size_problem(len(encoded) // 4 * 3, self.limits)  # before decoding
            if too_big is not None:
                return too_big
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                return f"binaryData[{self.key!r}] is not valid base64"
        keys = sorted({*data, *binary})
        have = f"its keys: {', '.join(keys)}" if keys else "it has no data"
        return f"the ConfigMap has no key {self.key!r} ({have})"
