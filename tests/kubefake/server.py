"""`FakeKubeServer`: the aiohttp application, its lifecycle, auth and fault hooks."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import trustme
from aiohttp import web
from multidict import CIMultiDict

from tests.kubefake.faults import Faults
from tests.kubefake.kinds import kind_of
from tests.kubefake.listing import list_objects
from tests.kubefake.options import parse_list_options, query_bool
from tests.kubefake.routing import (
    HEALTH_PATHS,
    PUBLIC_PATHS,
    Document,
    ResourcePath,
    json_response,
    resolve,
)
from tests.kubefake.status import (
    StatusError,
    forbidden,
    forbidden_path,
    injected,
    not_found,
    path_not_found,
    unauthorized,
)
from tests.kubefake.store import Store
from tests.kubefake.watch import WatchSettings, WatchStream

ANONYMOUS = "system:anonymous"
DEFAULT_USER = "system:serviceaccount:whatap-monitoring:whatap-open-agent"


@dataclass(slots=True)
class RequestRecord:
    """One request as the server saw it (for assertions).

    ``query`` holds the first value of each parameter (as the apiserver reads
    them); ``verb`` is get, list or watch for resource requests; ``status`` is
    None while a watch stream is still open.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class InClusterFiles:
    """What a pod sees: token file, CA file and the service environment."""

    token_path: Path
    ca_path: Path | None
    environ: dict[str, str] = field(default_factory=dict)


class FakeKubeServer:
    """A protocol-faithful Kubernetes API server for tests (see the package docs).

    ``token``: require ``Authorization: Bearer <token>`` (401 for a wrong one; a
    missing one is ``system:anonymous`` if ``anonymous_auth``). ``user`` is the
    name in 403 messages. ``tls`` serves HTTPS with a trustme CA for
    ``host`` (kubectl sends tokens only over HTTPS). ``bookmark_interval``:
    seconds between bookmarks. ``default_watch_timeout``: close watches that
    set no ``timeoutSeconds`` after this long (None: never).
    ``watch_queue_limit``: end a watch whose backlog exceeds this many events,
    as the watch cache drops unresponsive watchers. ``watch_list``: the
    WatchList feature gate (on in 1.32 and 1.34+, off in 1.33).
    ``fresh_wait``: how long a request for a future resourceVersion waits
    before 504. ``git_version`` feeds ``/version``.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str | None = None,
        user: str = DEFAULT_USER,
        anonymous_auth: bool = True,
        bookmark_interval: float = 1.0,
        default_watch_timeout: float | None = None,
        watch_queue_limit: int | None = None,
        watch_list: bool = True,
        fresh_wait: float = 3.0,
        git_version: str = "v1.32.4",
    ) -> None:
        self.store = store if store is not None else Store()
        self.host = host
        self.port = port
        self.user = user
        #: bearer token → user name; empty means no authentication at all.
        self.tokens: dict[str, str] = {token: user} if token else {}
        self.anonymous_auth = anonymous_auth
        self.watch_list = watch_list
        self.git_version = git_version
        self.settings = WatchSettings(
            bookmark_interval, default_watch_timeout, watch_queue_limit, fresh_wait
        )
        self.faults = Faults(self._wake_watches)
        self.requests: list[RequestRecord] = []
        self.watches_started = 0
        self._watches: set[WatchStream] = set()
        self._runner: web.AppRunner | None = None
        self.ca: trustme.CA | None = trustme.CA() if tls else None
        self._ssl: ssl.SSLContext | None = None
        if self.ca is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(host, "localhost").configure_cert(self._ssl)

    # -- lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>``."""
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the listener is up."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen (on the same port as before after a `stop`); the store is kept."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self._ssl)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Cut every connection and stop listening (clients get refused until `start`)."""
        if self._runner is None:
            return
        self.drop_watches()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeKubeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- watches ---------------------------------------------------------

    @property
    def open_watches(self) -> int:
        """How many watch streams are open now."""
        return len(self._watches)

    def watch_count(self, resource: str | None = None) -> int:
        """Open watch streams, optionally of one resource."""
        if resource is None:
            return len(self._watches)
        plural = kind_of(resource).plural
        return sum(1 for w in self._watches if w.kind.plural == plural)

    async def wait_for(
        self, condition: Callable[[], bool], within: float = 5.0, what: str = "the condition"
    ) -> None:
        """Poll ``condition`` until it holds; `TimeoutError` naming ``what`` otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if loop.time() > deadline:
                raise TimeoutError(f"{what} did not happen within {within} s")
            await asyncio.sleep(0.01)

    async def wait_for_watches(
        self, count: int, resource: str | None = None, within: float = 5.0
    ) -> None:
        """Wait until exactly ``count`` watches (of ``resource``) are open."""
        await self.wait_for(
            lambda: self.watch_count(resource) == count,
            within,
            f"{count} open watches of {resource or 'any resource'} "
            f"(have {self.watch_count(resource)})",
        )

    def drop_watches(self) -> int:
        """Abort every open watch connection now (no terminating chunk)."""
        watches = list(self._watches)
        for w in watches:
            w.abort()
        return len(watches)

    def end_watches(self) -> int:
        """End every open watch cleanly, as a server-side timeout does."""
        watches = list(self._watches)
        for w in watches:
            w.end()
        return len(watches)

    def _wake_watches(self) -> None:
        for w in self._watches:
            w.wake()

    # -- request log -----------------------------------------------------

    def requests_for(
        self, resource: str | None = None, verb: str | None = None
    ) -> list[RequestRecord]:
        """Logged resource requests, filtered by resource and verb (get/list/watch)."""
        plural = kind_of(resource).plural if resource else None
        return [
            r
            for r in self.requests
            if (plural is None or r.resource == plural) and (verb is None or r.verb == verb)
        ]

    # -- client configuration files --------------------------------------

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (PEM) a client needs to trust the server."""
        if self.ca is None:
            raise RuntimeError("the server runs without TLS; there is no CA")
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def write_kubeconfig(self, path: Path, token: str | None = None) -> Path:
        """Write a kubeconfig (JSON, which is YAML) for this server; returns ``path``."""
        cluster: dict[str, str] = {"server": self.url}
        if self.ca is not None:
            cluster["certificate-authority"] = str(self.write_ca(path.with_suffix(".ca.crt")))
        if token is None and self.tokens:
            token = next(iter(self.tokens))
        user: dict[str, str] = {"token": token} if token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": "fake", "user": user}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    def write_incluster_files(
        self, directory: Path, token: str | None = None, trailing_newline: bool = False
    ) -> InClusterFiles:
        """Write a service-account token (and CA) as a pod sees them, plus the env."""
        directory.mkdir(parents=True, exist_ok=True)
        token = token if token is not None else next(iter(self.tokens), "")
        token_path = directory / "token"
        token_path.write_text(token + ("\n" if trailing_newline else ""))
        ca_path = self.write_ca(directory / "ca.crt") if self.ca is not None else None
        environ = {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port)}
        return InClusterFiles(token_path, ca_path, environ)

    # -- request handling ------------------------------------------------

    def _authenticate(self, request: web.Request) -> str:
        if not self.tokens:
            return self.user
        header = request.headers.get("Authorization", "").strip()
        parts = header.split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            if self.anonymous_auth:
                return ANONYMOUS
            raise unauthorized()
        user = self.tokens.get(parts[1])
        if user is None:
            raise unauthorized()
        return user

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(
            request.method,
            request.path,
            {key: request.query[key] for key in request.query},
            CIMultiDict(request.headers),
        )
        self.requests.append(record)
        try:
            resp = await self._dispatch(request, record)
        except StatusError as err:
            resp = json_response(request, err.to_bytes(), err.code, err.headers)
        record.status = resp.status
        return resp

    async def _dispatch(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        user = self._authenticate(request)
        path = request.path.rstrip("/") or "/"
        if user == ANONYMOUS and path not in PUBLIC_PATHS:
            target = resolve(request.path, f"{self.host}:{self.port}", self.git_version)
            if not isinstance(target, ResourcePath):
                raise forbidden_path(ANONYMOUS, request.path)
        if request.method != "GET":
            raise StatusError(
                405, "the server does not allow this method on the requested resource", details={}
            )
        if path in HEALTH_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        target = resolve(request.path, f"{self.host}:{self.port}", self.git_version)
        if target is None:
            if path.startswith(("/api/", "/apis/")):
                raise path_not_found()
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        if isinstance(target, Document):
            return json_response(request, json.dumps(target.body, separators=(",", ":")).encode())
        return await self._resource(request, record, user, target)

    async def _resource(
        self, request: web.Request, record: RequestRecord, user: str, target: ResourcePath
    ) -> web.StreamResponse:
        kind, namespace, name = target.kind, target.namespace, target.name
        query = request.query
        watch = "watch" in query and query_bool(query["watch"])
        verb = "get" if name else "watch" if watch else "list"
        record.verb, record.resource = verb, kind.plural
        record.namespace, record.name = namespace, name
        if user == ANONYMOUS or self.faults.forbidden(kind.plural, verb, namespace):
            raise forbidden(user, verb, kind.plural, kind.group, namespace, name)
        if name is not None:
            await self._before_storage(kind.plural, verb)
            stored = self.store.state(kind).objects.get(kind.key(namespace, name))
            if stored is None:
                raise not_found(kind.plural, kind.group, name)
            return json_response(request, stored.full_json())
        opts = parse_list_options(query, kind, self.watch_list)
        if not watch:
            await self._before_storage(kind.plural, verb)
            page = await list_objects(self.store, kind, namespace, opts, self.settings.fresh_wait)
            return json_response(request, page.body(kind))
        rule = self.faults.failure(kind.plural, verb)
        if rule is not None:
            raise injected(rule.code, rule.message)
        stream = WatchStream(
            self.store, kind, namespace, opts, self.settings, lambda: self.faults.stall_watches
        )
        self._watches.add(stream)
        self.watches_started += 1
        try:
            return await stream.serve(request)
        finally:
            self._watches.discard(stream)

    async def _before_storage(self, plural: str, verb: str) -> None:
        rule = self.faults.failure(plural, verb)
        if rule is not None:
            raise injected(rule.code, rule.message)
        await self.faults.wait_requests_flowing()
