"""A protocol-faithful fake Kubernetes API server for tests (aiohttp, in-process).

No real kube-apiserver can run where these tests run, so discovery code is
tested against this one. It serves GET (get, list, watch) for pods,
services, endpointslices (discovery.k8s.io/v1), namespaces, nodes, secrets
and configmaps, cluster-wide and per namespace where the real API does,
plus ``/version``, legacy discovery documents and ``/healthz``-style probes.
It is checked against kubernetes_asyncio and kubectl in this directory's
tests. Behaviours confirmed in the upstream sources are described in the
modules that implement them: `options` (query decoding, validation, 422),
`selectors` (grammar), `kinds` (field selectors), `listing` (resourceVersion
rules, pagination), `watch` (event conversion, bookmarks, 410), `status`
(error bodies), `server` (auth, faults, lifecycle).

Use::

    async with FakeKubeServer(token="t") as kube:
        kube.store.create(objects.pod("dcgm-a", "gpu-operator", {"app": "dcgm"}))
        ...  # point a client at kube.url (or kube.write_kubeconfig(path))

Client behaviour the tests pin (kubernetes_asyncio 36.1.0, aiohttp 3.14,
kubectl 1.32): a watch cut mid-stream raises ``aiohttp.ClientPayloadError``
from the stream (no reconnect); a watch cut before its response headers is
retried once by aiohttp (idempotent GET); a stream ended cleanly is resumed
from the last resourceVersion when no ``timeout_seconds`` was given; a 410
is retried once, then raised; kubectl sends no bearer token over plain HTTP
(use ``tls=True``); a token file with a trailing newline makes aiohttp refuse
the request.

What it does NOT model, precisely:

* Writes over HTTP: POST/PUT/PATCH/DELETE get 405. Tests mutate through
  `Store`; no admission (NamespaceLifecycle, defaulting, validation beyond
  what clients need), no server-side apply, no field managers or
  ``managedFields``, no ``generation``, no finalizers or graceful deletion
  (``Store.mark_deleting`` + ``Store.delete`` stand in), no garbage collection,
  no namespace cascade.
* Encodings: JSON only. No protobuf, no CBOR, no ``as=Table`` (kubectl prints
  its own columns), no aggregated discovery (``apidiscovery.k8s.io/v2``,
  kubectl falls back to legacy), no OpenAPI, no ``pretty``.
* Other resources, subresources (``/status``, ``/log``, ``/exec``), legacy
  ``/api/v1/watch/...`` paths, watches of a single named object, Endpoints,
  CRDs.
* Authorization: no RBAC evaluation. All authenticated users may do
  everything unless a test denies it with ``faults.forbid``, which answers
  with the authorizer's exact 403 message. Authentication is bearer tokens
  only (no client certificates); anonymous requests may read the public-info
  paths and get 403 elsewhere, as with ``--anonymous-auth=true``.
* Watch cache internals: one store plays etcd and the watch cache, so there
  is no cache lag, no consistent-read-from-cache fallback, no per-resource
  resourceVersion lagging behind the global one (bookmarks carry the global
  current RV, as if progress notifications were instant), no watch
  cache reinitialisation. History is bounded per kind by count (not by
  etcd's time-based compaction); `Store.compact` drops it explicitly.
* Bookmark timing is simplified: every ``bookmark_interval`` and just before
  a ``timeoutSeconds`` close (upstream: about a minute, and 2 s before the
  deadline). A watch with no ``timeoutSeconds`` runs forever unless
  ``default_watch_timeout`` is set (upstream: 30-60 min at random).
* API Priority and Fairness (no 429 unless injected with ``faults.fail``),
  request timeouts (``timeout=``), audit, warnings headers, HTTP/2.
* A non-integer ``resourceVersion`` gets a 400 here; the exact upstream
  response for that case was not confirmed.
"""

from tests.kubefake.server import FakeKubeServer, InClusterFiles, RequestRecord
from tests.kubefake.store import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    Store,
    StoreError,
)

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "FakeKubeServer",
    "InClusterFiles",
    "NotFoundError",
    "RequestRecord",
    "Store",
    "StoreError",
]
