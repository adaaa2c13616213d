"""The connection to the Kubernetes API server: raw JSON lists and watch streams.

`KubeClient` sends GETs through a `Transport` (credentials, TLS, proxies:
`openagent.kube.incluster` in a pod, `openagent.kube.kubeconfig` otherwise)
and reads the bodies itself: lists are parsed with orjson into plain dicts
(turning 5,000 pods into typed models costs ~10 s; raw parsing ~0.4 s), and
watch streams are read line by line here rather than through
``kubernetes_asyncio.watch``, because that one does not check the HTTP
status, retries a 410 once with the same stale resourceVersion before
raising, yields non-JSON lines as events and deserialises every object into
a model.

Every request has a connect timeout and a read timeout (aiohttp's default
has none, so a stalled watch would hang forever); a watch's read timeout
should exceed the server's bookmark cadence (about a minute).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from openagent.kube.cluster import Timeouts, in_cluster_available, kubeconfig_spec
from openagent.kube.credentials import Query, Transport
from openagent.kube.errors import RESOURCES, KubeConfigError, KubeError, Resource, resource_info
from openagent.kube.incluster import in_cluster_config
from openagent.kube.prune import gc_paused

__all__ = [
    "RESOURCES",
    "KubeClient",
    "KubeConfigError",
    "KubeError",
    "Resource",
    "Timeouts",
    "WatchStream",
    "connect",
]

_ERROR_BODY_LIMIT = 64 * 1024
_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})


def _selectors(label_selector: str | None, field_selector: str | None) -> Query:
    query: Query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


class KubeClient:
    """Raw-JSON access to the API server; one connection pool for all informers."""

    def __init__(self, transport: Transport, timeouts: Timeouts | None = None) -> None:
        self.transport = transport
        self.timeouts = timeouts or Timeouts()

    @property
    def host(self) -> str:
        """The API server URL."""
        return self.transport.host

    def _timeout(self, read: float) -> aiohttp.ClientTimeout:
        connect = self.timeouts.connect
        return aiohttp.ClientTimeout(connect=connect, sock_connect=connect, sock_read=read)

    async def _get(
        self,
        verb: str,
        resource: str,
        namespace: str | None,
        query: Query,
        read_timeout: float,
        name: str | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a GET (of one object when ``name`` is given); a 401 refreshes the
        credentials and retries once."""
        path = resource_info(resource, namespace).path(resource, namespace)
        if name:
            path += "/" + name
        for attempt in range(2):
            try:
                resp = await self.transport.get(path, query, self._timeout(read_timeout))
            except TimeoutError as err:
                message = _timeout_text(err, self.host)
                raise KubeError(
                    verb, resource, namespace, reason="Timeout", message=message
                ) from err
            except (aiohttp.ClientError, OSError, ValueError) as err:
                message = f"{self.host}: {err}"
                raise KubeError(
                    verb, resource, namespace, reason="ConnectionError", message=message
                ) from err
            if resp.status == 401 and attempt == 0:
                resp.close()
                if await self.transport.refresh():
                    continue
                raise KubeError(verb, resource, namespace, status=401, reason="Unauthorized")
            return resp
        raise AssertionError("unreachable")

    async def _error(
        self, verb: str, resource: str, namespace: str | None, resp: aiohttp.ClientResponse
    ) -> KubeError:
        try:
            body = await resp.content.read(_ERROR_BODY_LIMIT)
        except (aiohttp.ClientError, OSError, TimeoutError):
            body = b""
        finally:
            resp.close()
        return KubeError.from_status(verb, resource, namespace, resp.status, body)

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        limit: int = 500,
        continue_: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list, as the raw list JSON (``items``, ``metadata.continue``...).

        No resourceVersion is sent: the answer is the latest state (a
        consistent read), and ``limit`` pages it (``resourceVersion=0`` would
        make the server ignore ``limit`` and send everything at once).
        """
        query = _selectors(label_selector, field_selector)
        if limit > 0:
            query.append(("limit", str(limit)))
        if continue_:
            query.append(("continue", continue_))
        resp = await self._get("list", resource, namespace, query, self.timeouts.read)
        data = await self._json("list", resource, namespace, resp)
        if not isinstance(data.get("items", []), list):
            raise KubeError(
                "list", resource, namespace, reason="BadResponse", message="not a list object"
            )
        return data

    async def get(self, resource: Resource, *, namespace: str | None, name: str) -> dict[str, Any]:
        """One object by name, as raw JSON; `KubeError` (``status`` 404 when not found)."""
        resp = await self._get("get", resource, namespace, [], self.timeouts.read, name)
        return await self._json("get", resource, namespace, resp)

    async def _json(
        self, verb: str, resource: str, namespace: str | None, resp: aiohttp.ClientResponse
    ) -> dict[str, Any]:
        """The JSON object of a 200 answer, or the `KubeError` it stands for."""
        if resp.status != 200:
            raise await self._error(verb, resource, namespace, resp)
        try:
            body = await resp.read()
        except TimeoutError as err:
            raise KubeError(
                verb, resource, namespace, reason="Timeout", message=_timeout_text(err, self.host)
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            raise KubeError(
                verb, resource, namespace, reason="ConnectionError", message=str(err)
            ) from err
        finally:
            resp.release()
        try:
            with gc_paused():
                data = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise KubeError(
                verb, resource, namespace, reason="BadResponse", message=f"not JSON: {err}"
            ) from err
        if not isinstance(data, dict):
            raise KubeError(
                verb, resource, namespace, reason="BadResponse", message="not an object"
            )
        return data

    def open_watch(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
    ) -> WatchStream:
        """A watch as an async context manager: entering connects and checks the status."""
        query = _selectors(label_selector, field_selector)
        query += [("watch", "true"), ("timeoutSeconds", str(int(timeout_seconds)))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if allow_bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        return WatchStream(self, resource, namespace, query)

    async def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw watch events ``{"type", "object"}`` (BOOKMARK included) until the server ends.

        Raises `KubeError` for an HTTP error, an ERROR event (``status`` is its
        code, 410 when the resourceVersion is too old), a broken stream or
        silence longer than the watch read timeout (``reason="Stalled"``).
        """
        stream = self.open_watch(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
        async with stream:
            async for event in stream:
                yield event

    async def close(self) -> None:
        """Close the connection pool."""
        await self.transport.close()


class WatchStream:
    """One open watch response, read line by line (see `KubeClient.watch`)."""

    def __init__(
        self, client: KubeClient, resource: str, namespace: str | None, query: Query
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.query = query
        self._resp: aiohttp.ClientResponse | None = None

    def _fail(self, reason: str, message: str, status: int | None = None) -> KubeError:
        return KubeError(
            "watch", self.resource, self.namespace, status=status, reason=reason, message=message
        )

    async def __aenter__(self) -> WatchStream:
        c = self.client
        resp = await c._get(
            "watch", self.resource, self.namespace, self.query, c.timeouts.watch_read
        )
        if resp.status != 200:
            raise await c._error("watch", self.resource, self.namespace, resp)
        self._resp = resp
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._resp is not None:
            self._resp.close()  # drops the connection: a half-read stream cannot be reused
            self._resp = None

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        resp = self._resp
        if resp is None:
            raise StopAsyncIteration
        while True:
            try:
                line = await resp.content.readline()
            except TimeoutError as err:
                timeout = self.client.timeouts.watch_read
                raise self._fail("Stalled", f"nothing received for {timeout:g} s") from err
            except (aiohttp.ClientError, OSError) as err:
                raise self._fail("ConnectionError", f"stream broken: {err}") from err
            except ValueError as err:  # a line beyond aiohttp's read buffer
                raise self._fail("BadResponse", f"event too large: {err}") from err
            if not line:
                raise StopAsyncIteration
            line = line.strip()
            if line:
                return self._event(line)

    def _event(self, line: bytes) -> dict[str, Any]:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise self._fail("BadResponse", f"not JSON: {line[:120]!r}") from err
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise self._fail("BadResponse", f"not a watch event: {line[:120]!r}")
        kind = event.get("type")
        if kind == "ERROR":
            raise KubeError.from_status(
                "watch", self.resource, self.namespace, 500, event["object"]
            )
        if kind not in _EVENT_TYPES:
            raise self._fail("BadResponse", f"unknown watch event type {kind!r}")
        return event


def _timeout_text(err: BaseException, host: str) -> str:
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return f"{host}: connect timed out"
    return f"{host}: no answer in time ({err or type(err).__name__})"


async def connect(
    kubeconfig: Path | None,
    *,
    in_cluster: bool | None = None,
    timeouts: Timeouts | None = None,
    token_path: Path | None = None,
    ca_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> KubeClient:
    """A client for the cluster; nothing is requested from the API server yet.

    ``in_cluster=None`` picks: an explicit ``kubeconfig`` first (as client-go
    does), else the pod's service account when ``KUBERNETES_SERVICE_HOST`` is
    set and the token file exists, else ``$KUBECONFIG``, else
    ``~/.kube/config``. ``token_path``, ``ca_path`` and ``environ`` replace
    the in-cluster defaults (tests). Raises `KubeConfigError`.
    """
    if in_cluster is None:
        in_cluster = kubeconfig is None and in_cluster_available(token_path, environ)
    if in_cluster:
        return KubeClient(in_cluster_config(token_path, ca_path, environ), timeouts)
    spec, origin = kubeconfig_spec(kubeconfig)  # no file: an error, and no import
    # Imported here: it loads kubernetes_asyncio (43 MiB), which a pod does without.
    from openagent.kube.kubeconfig import load_kubeconfig

    return KubeClient(await load_kubeconfig(spec, origin), timeouts)
