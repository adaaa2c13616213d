"""WATCH streams, with the watch cache's event conversion and bookmark rules.

Confirmed against ``storage/cacher`` (``cache_watcher.go``, ``watch_cache.go``):

* An event is converted per watcher from the object before and after the
  change: it passes now and not before → ADDED; both → MODIFIED; only
  before → DELETED carrying the *previous* object with the event's new
  resourceVersion (``convertToWatchEvent``). So a label change that makes an
  object leave a selector is a DELETED for that watcher, one that makes it
  enter is an ADDED.
* Only events newer than the watch's starting resourceVersion are sent;
  bookmarks too (``process``: ``event.ResourceVersion > resourceVersion``),
  so a bookmark goes out only once the store has moved past that point.
* Too old: ``N < oldest - 1`` → one ERROR event with a 410 Expired Status,
  ``too old resource version: N (oldest - 1)``, then the stream ends.
* A watch-list request (``sendInitialEvents=true``) gets synthetic ADDED
  events and then, if bookmarks were allowed, a BOOKMARK annotated
  ``k8s.io/initial-events-end: "true"`` at the snapshot's resourceVersion.

Bookmarks go out every ``bookmark_interval`` seconds (upstream: about a
minute) after any pending events, and once more just before a
``timeoutSeconds`` close; a bookmark object carries only kind, apiVersion
and metadata.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from tests.kubefake.kinds import Kind
from tests.kubefake.options import ListOptions, parse_resource_version
from tests.kubefake.status import StatusError, expired, too_large_resource_version
from tests.kubefake.store import Event, Store, Stored

_BATCH = 500


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Server-wide watch behaviour."""

    bookmark_interval: float = 1.0
    default_timeout: float | None = None
    queue_limit: int | None = None
    fresh_wait: float = 3.0


def _line(event_type: bytes, obj: bytes) -> bytes:
    return b'{"type":"' + event_type + b'","object":' + obj + b"}\n"


class WatchStream:
    """One open watch on one kind (optionally one namespace) with selectors."""

    def __init__(
        self,
        store: Store,
        kind: Kind,
        namespace: str | None,
        opts: ListOptions,
        settings: WatchSettings,
        is_stalled: Callable[[], bool],
    ) -> None:
        self.store = store
        self.kind = kind
        self.namespace = namespace if kind.namespaced else None
        self.opts = opts
        self.settings = settings
        self.is_stalled = is_stalled
        self.queue: deque[Event] = deque()
        self.wakeup = asyncio.Event()
        self.closing: str | None = None
        self.floor = 0
        self.request: web.Request | None = None

    # -- Sink ------------------------------------------------------------

    def push(self, event: Event) -> None:
        """Queue a store event (called synchronously by the store)."""
        self.queue.append(event)
        limit = self.settings.queue_limit
        if limit is not None and len(self.queue) > limit and self.closing is None:
            self.closing = "overflow"
        self.wakeup.set()

    # -- control from the server ----------------------------------------

    def wake(self) -> None:
        """Re-check stall and close flags."""
        self.wakeup.set()

    def end(self) -> None:
        """Finish the stream cleanly (terminating chunk), as on a server timeout."""
        if self.closing is None:
            self.closing = "end"
        self.wakeup.set()

    def abort(self) -> None:
        """Cut the connection without finishing the chunked body."""
        self.closing = "abort"
        transport = self.request.transport if self.request is not None else None
        if transport is not None:
            transport.abort()
        self.wakeup.set()

    # -- filtering -------------------------------------------------------

    def _passes(self, obj: Stored) -> bool:
        if self.namespace is not None and obj.namespace != self.namespace:
            return False
        return self.opts.label_selector.matches(obj.labels) and self.opts.field_selector.matches(
            obj.fields
        )

    def convert(self, event: Event) -> bytes | None:
        """The wire line this watcher gets for ``event``, or None."""
        if event.rv <= self.floor:
            return None
        now = event.type != "DELETED" and self._passes(event.obj)
        prev = event.prev
        before = prev is not None and self._passes(prev)
        if now:
            return _line(b"MODIFIED" if before else b"ADDED", event.obj.full_json())
        if prev is None or not before:
            return None
        gone = event.obj if event.type == "DELETED" else prev.with_rv(event.rv)
        return _line(b"DELETED", gone.full_json())

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        """A BOOKMARK line for ``rv``."""
        meta: dict[str, object] = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": meta}
        return _line(b"BOOKMARK", orjson.dumps(obj))

    # -- serving ---------------------------------------------------------

    async def _start(self) -> tuple[list[bytes], bool]:
        """Initial lines, and whether the watch goes on (registered for live events)."""
        opts, store = self.opts, self.store
        requested = parse_resource_version(opts.resource_version)
        if (
            opts.send_initial_events
            and requested > store.resource_version
            and not await store.wait_for_rv(requested, self.settings.fresh_wait)
        ):
            err = too_large_resource_version(requested, store.resource_version)
            return [watch_error(err)], False
        initial: list[bytes] = []
        if opts.send_initial_events or (opts.send_initial_events is None and requested == 0):
            st = store.state(self.kind)
            initial = [
                _line(b"ADDED", st.objects[key].full_json())
                for key in st.sorted_keys()
                if self._passes(st.objects[key])
            ]
            self.floor = store.resource_version
            if opts.send_initial_events and opts.allow_watch_bookmarks:
                initial.append(self.bookmark(self.floor, initial_end=True))
        elif requested == 0:
            self.floor = store.resource_version
        else:
            events = store.events_after(self.kind, requested)
            if events is None:
                oldest = store.state(self.kind).oldest_watchable()
                err = expired(f"too old resource version: {requested} ({oldest})")
                return [watch_error(err)], False
            self.floor = requested
            for ev in events:
                line = self.convert(ev)
                if line is not None:
                    initial.append(line)
            self.floor = max(requested, events[-1].rv if events else requested)
        store.subscribe(self.kind, self)
        return initial, True

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Run the watch until timeout, client disconnect, or a server-side close."""
        self.request = request
        try:
            return await self._serve(request)
        except ConnectionResetError:
            # the client went away mid-stream (aiohttp raises ClientConnectionResetError,
            # a ConnectionResetError, from write); a real apiserver just ends the watch
            return web.Response(status=499)
        finally:
            self.store.unsubscribe(self.kind, self)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        timeout = self.opts.timeout_seconds or self.settings.default_timeout
        deadline = None if timeout is None else loop.time() + max(timeout, 0)
        initial, subscribed = await self._start()
        while self.is_stalled() and self.closing is None:
            self.wakeup.clear()
            await self._sleep(None)
        if self.closing == "abort":
            # Cut before the headers: nothing reaches the client; aiohttp's write fails quietly.
            return web.Response(status=503)
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/json",
                "Cache-Control": "no-cache, private",
                "Audit-Id": str(uuid.uuid4()),
            },
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(initial), _BATCH):
            await resp.write(b"".join(initial[i : i + _BATCH]))
        if not subscribed:
            await resp.write_eof()
            return resp
        next_bookmark = loop.time() + self.settings.bookmark_interval
        while True:
            self.wakeup.clear()
            if self.closing == "abort":
                return resp  # transport already aborted; aiohttp ignores the failed eof
            if self.closing is not None:
                break
            if self.is_stalled():
                await self._sleep(None)
                continue
            if self.queue:
                await self._flush(resp)
                continue
            now = loop.time()
            if deadline is not None and now >= deadline:
                if self.opts.allow_watch_bookmarks and self.store.resource_version > self.floor:
                    await resp.write(self.bookmark(self.store.resource_version))
                break
            if self.opts.allow_watch_bookmarks and now >= next_bookmark:
                next_bookmark = now + self.settings.bookmark_interval
                if self.store.resource_version > self.floor:
                    await resp.write(self.bookmark(self.store.resource_version))
                continue
            wait = None if deadline is None else deadline - now
            if self.opts.allow_watch_bookmarks:
                wait = next_bookmark - now if wait is None else min(wait, next_bookmark - now)
            await self._sleep(wait)
        await resp.write_eof()
        return resp

    async def _flush(self, resp: web.StreamResponse) -> None:
        lines: list[bytes] = []
        while self.queue and len(lines) < _BATCH:
            line = self.convert(self.queue.popleft())
            if line is not None:
                lines.append(line)
        if lines:
            await resp.write(b"".join(lines))

    async def _sleep(self, seconds: float | None) -> None:
        try:
            await asyncio.wait_for(self.wakeup.wait(), seconds)
        except TimeoutError:
            pass


def watch_error(err: StatusError) -> bytes:
    """An ERROR event line for ``err``."""
    return _line(b"ERROR", err.to_bytes())
