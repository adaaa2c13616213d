"""Kubernetes Secret references, read through watches on exactly the Secrets referenced.

`KubeSecrets` is the `openagent.httpauth.SecretResolver` the shell wires when
the configuration references Secrets (``basicAuth``, ``authorization`` and
TLS ``*Secret`` keys, as the Whatap Operator renders them). The first lookup
of a Secret starts one informer for it, in its namespace and with
``fieldSelector=metadata.name=<name>``: the agent lists and watches that one
Secret, never the namespace's others, so RBAC can grant list and watch on it
by ``resourceNames`` alone (the API server authorizes a list or watch with
that selector as a request for the named object). Later lookups read the
informer's copy: a rotated Secret is used from the watch event on, without a
restart and without a request per scrape.

A reference without a namespace means the agent's own namespace (the
operator's CRDs say so; the Go agent used ``default``). A Secret or key that
does not exist, an API server that refuses (403) or does not answer, or no
cluster at all, fails the lookup with a `SecretError` naming the namespace,
the name and the key; the scrape of that target fails with it, and nothing
else is affected.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import Any

from openagent.httpauth import SecretError, SecretRefLike
from openagent.kube.cluster import Cluster
from openagent.kube.informer import Informer, InformerKey
from openagent.kube.pool import InformerPool

#: How long a first lookup waits for its Secret's first list when the caller sets no deadline.
SYNC_TIMEOUT = 10.0


class KubeSecrets:
    """Reads Secret keys from informers on the Secrets referenced (see the module docs)."""

    def __init__(
        self, cluster: Cluster, namespace: str, *, sync_timeout: float = SYNC_TIMEOUT
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.sync_timeout = sync_timeout
        self._held: dict[InformerKey, tuple[InformerPool, Informer]] = {}

    def key_of(self, ref: SecretRefLike) -> InformerKey:
        """The informer key that watches the Secret ``ref`` names."""
        namespace = ref.namespace or self.namespace
        return InformerKey("secrets", namespace, field_selector=f"metadata.name={ref.name}")

    async def get(self, ref: SecretRefLike) -> bytes:
        """The decoded value of the referenced key; `SecretError` names what is missing."""
        key = self.key_of(ref)
        where = f"Secret {key.namespace}/{ref.name} key {ref.key!r}"
        informer = await self._informer(key, where)
        await self._synced(informer, where)
        obj = informer.objects.get((key.namespace or "", ref.name))
        if obj is None:
            raise SecretError(f"{where}: the Secret does not exist")
        return _value(obj, ref.key, where)

    async def _informer(self, key: InformerKey, where: str) -> Informer:
        held = self._held.get(key)
        if held is None:
            try:
                pool = await self.cluster.pool()
            except Exception as exc:
                raise SecretError(f"{where}: no Kubernetes connection: {exc}") from None
            held = self._held.get(key)  # another lookup may have started it meanwhile
            if held is None:
                held = self._held[key] = (pool, pool.acquire(key))
        return held[1]

    async def _synced(self, informer: Informer, where: str) -> None:
        """Wait for the informer's first list, or fail at its first error."""
        if informer.synced.is_set():
            return
        if informer.error:
            raise SecretError(f"{where}: {informer.error}")
        failed = asyncio.Event()
        unsubscribe = informer.subscribe_failures(lambda _: failed.set())
        waits = [
            asyncio.ensure_future(informer.synced.wait()),
            asyncio.ensure_future(failed.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=self.sync_timeout, return_when="FIRST_COMPLETED")
        finally:
            unsubscribe()
            for wait in waits:
                wait.cancel()
        if informer.synced.is_set():
            return
        reason = informer.error or f"no answer from the API server within {self.sync_timeout:g} s"
        raise SecretError(f"{where}: {reason}")

    def keep_only(self, refs: list[SecretRefLike]) -> None:
        """Stop watching the Secrets no longer referenced (after a config change)."""
        wanted = {self.key_of(ref) for ref in refs}
        for key in [k for k in self._held if k not in wanted]:
            pool, _ = self._held.pop(key)
            with contextlib.suppress(KeyError):  # the pool was closed meanwhile
                pool.release(key)

    def close(self) -> None:
        """Stop watching every Secret."""
        self.keep_only([])


def _value(obj: dict[str, Any], key: str, where: str) -> bytes:
    data = obj.get("data") or {}
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise SecretError(f"{where}: the Secret has no such key (its keys: {keys})")
    try:
        return base64.b64decode(str(data[key]), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"{where}: the value is not valid base64") from None
