"""A shared list+watch cache of one resource, namespace and selector pair.

`Informer.run` lists (paginated, selectors pushed to the API server), then
watches from the list's resourceVersion with bookmarks, so an idle watch
still moves its resourceVersion forward and a reconnect resumes where it
stopped. What happens when something goes wrong:

* watch ended by the server (``timeoutSeconds``, 5-10 min at random as in
  client-go): watch again from the last resourceVersion at once;
* watch broken or silent longer than the read timeout (``Stalled``): watch
  again from the last resourceVersion (after a backoff if it broke);
* 410 Gone (an ERROR event or HTTP 410): list again; subscribers get only
  the difference between what they had and the new list, then ``RESYNC``;
* any other failure (403, 500, connection refused, timeouts): ``error``
  holds the text, it is logged once per change of state, the informer
  retries with exponential backoff and jitter, and nothing else waits.

Objects are stored pruned (`openagent.kube.prune`), and each list
page is dropped as soon as its items are stored.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openagent.backoff import Backoff
from openagent.kube import informer_metrics as metrics
from openagent.kube.errors import KubeError, Resource, resource_info
from openagent.kube.prune import gc_paused, keep_all, prune
from openagent.telemetry import Throttle, get_logger

if TYPE_CHECKING:
    from openagent.kube.client import KubeClient

JSON = dict[str, Any]
ObjectKey = tuple[str, str]
Callback = Callable[[str, JSON | None, JSON | None], None]


@dataclass(frozen=True, slots=True)
class InformerKey:
    """What one informer watches; informers are shared per distinct key."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None

    def __post_init__(self) -> None:
        resource_info(self.resource, self.namespace)  # ValueError for a wrong combination

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        sel = [f"labels {self.label_selector}"] if self.label_selector else []
        sel += [f"fields {self.field_selector}"] if self.field_selector else []
        return f"{self.resource}{where}" + (f" ({', '.join(sel)})" if sel else "")


@dataclass(frozen=True, slots=True)
class InformerOptions:
    """Tuning knobs; the defaults suit a real cluster, tests shrink them."""

    page_size: int = 500
    watch_timeout: tuple[int, int] = (300, 600)
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_reset: float = 120.0
    prune: bool = True


def _object_key(meta: Any) -> ObjectKey | None:
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    return (str(meta.get("namespace") or ""), meta["name"])


def same_object(a: JSON, b: JSON) -> bool:
    """Equal apart from ``metadata.resourceVersion`` (a change only in pruned fields)."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        if key != "metadata":
            if value != b[key]:
                return False
            continue
        other = b[key]
        if not isinstance(value, dict) or not isinstance(other, dict):
            if value != other:
                return False
        elif value.keys() != other.keys() or any(
            v != other[k] for k, v in value.items() if k != "resourceVersion"
        ):
            return False
    return True


class Informer:
    """The current objects of one `InformerKey`, kept up to date by list+watch."""

    def __init__(
        self, client: KubeClient, key: InformerKey, options: InformerOptions | None = None
    ) -> None:
        self.client = client
        self.key = key
        self.options = options or InformerOptions()
        self.objects: dict[ObjectKey, JSON] = {}
        self.synced = asyncio.Event()
        self.error: str | None = None
        self.resource_version = ""
        self.last_event: float | None = None
        self._subscribers: dict[int, Callback] = {}
        self._failure_subscribers: dict[int, Callable[[str], None]] = {}
        self._next_id = 0
        self._error_key: tuple[int | None, str] | None = None
        self._relist_reason = "initial"
        self._need_list = True
        self._progressed = False
        self._prune = prune if self.options.prune else keep_all
        opts = self.options
        self._backoff = Backoff(
            opts.backoff_initial, opts.backoff_max, jitter=0.5, reset_after=opts.backoff_reset
        )
        self._log = get_logger("kube").bind(informer=str(key))
        self._throttle = Throttle(60.0)
        self._event_counters = {
            t: metrics.EVENTS.labels(key.resource, t)
            for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
        }

    # -- what others read ------------------------------------------------

    @property
    def resource(self) -> str:
        """The resource watched."""
        return self.key.resource

    @property
    def up(self) -> bool:
        """Synced and the last request succeeded."""
        return self.synced.is_set() and self.error is None

    @property
    def object_count(self) -> int:
        """How many objects are held."""
        return len(self.objects)

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(type, old, new)`` on every change; returns the unsubscribe function.

        Types: ``ADDED`` (old None), ``MODIFIED``, ``DELETED`` (new None), and
        ``RESYNC`` (both None) after each complete list, once its difference
        has been delivered. Nothing is replayed: read `objects` when
        subscribing. Callbacks run on the event loop and must not block; an
        exception is logged and does not stop the informer.
        """
        return self._add(self._subscribers, callback)

    def subscribe_failures(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(error)`` whenever a list or watch request fails (the informer
        retries on its own); returns the unsubscribe function. Same rules as `subscribe`."""
        return self._add(self._failure_subscribers, callback)

    def _add(self, into: dict[int, Any], callback: Any) -> Callable[[], None]:
        sub_id = self._next_id
        self._next_id += 1
        into[sub_id] = callback

        def unsubscribe() -> None:
            into.pop(sub_id, None)

        return unsubscribe

    def _notify(self, event_type: str, old: JSON | None, new: JSON | None) -> None:
        for callback in tuple(self._subscribers.values()):
            try:
                callback(event_type, old, new)
            except Exception:
                if self._throttle.allow("subscriber"):
                    self._log.exception("informer subscriber failed", event_type=event_type)

    # -- the loop --------------------------------------------------------

    async def run(self) -> None:
        """List, then watch, forever (until cancelled); never raises otherwise."""
        metrics.GAUGES.informers.add(self)
        expired_in_a_row = 0
        try:
            while True:
                watching = False
                try:
                    if self._need_list:
                        await self._list()
                    watching = True
                    started = time.monotonic()
                    delivered = await self._watch()
                    expired_in_a_row = 0
                    self._restarted("timeout")
                    if not delivered and time.monotonic() - started < 1.0:
                        # Ended at once with nothing sent: do not hammer the server.
                        await asyncio.sleep(self._backoff.next())
                except KubeError as err:
                    if err.expired:
                        # Back off only if 410s repeat with no progress in between.
                        expired_in_a_row = 1 if self._progressed else expired_in_a_row + 1
                        self._expired(watching)
                        if expired_in_a_row > 1:
                            await asyncio.sleep(self._backoff.next())
                        continue
                    if err.reason == "Stalled":
                        self._restarted("stalled")
                        continue
                    if watching:
                        self._restarted("dropped" if err.status is None else "error")
                    self._failed(str(err), err.reason or "Unknown", err.status)
                    await asyncio.sleep(self._backoff.next())
                except Exception as err:  # a bug must not end discovery
                    self._log.exception("informer failed unexpectedly")
                    self._failed(f"internal error: {err!r}", "Internal", None)
                    await asyncio.sleep(self._backoff.next())
        finally:
            metrics.GAUGES.informers.discard(self)

    def _restarted(self, reason: str) -> None:
        metrics.WATCH_RESTARTS.labels(self.resource, reason).inc()

    def _expired(self, watching: bool) -> None:
        self._need_list = True
        self._relist_reason = "expired"
        if watching:
            self._restarted("expired")
        self._log.info(
            "resourceVersion expired; listing again", resource_version=self.resource_version
        )

    def _failed(self, text: str, reason: str, status: int | None) -> None:
        metrics.ERRORS.labels(self.resource, reason).inc()
        self.error = text
        state = (status, reason)
        if state != self._error_key:
            self._error_key = state
            self._log.warning("informer failing; retrying with backoff", error=text)
        for callback in tuple(self._failure_subscribers.values()):
            try:
                callback(text)
            except Exception:
                if self._throttle.allow("failure-subscriber"):
                    self._log.exception("informer failure subscriber failed")

    def _healthy(self) -> None:
        if self.error is not None:
            self._log.info("informer recovered", objects=len(self.objects))
        self.error = None
        self._error_key = None

    # -- list ------------------------------------------------------------

    async def _list(self) -> None:
        key = self.key
        fresh: dict[ObjectKey, JSON] = {}
        token: str | None = None
        limit = self.options.page_size
        rv = ""
        while True:
            try:
                page = await self.client.list(
                    key.resource,
                    namespace=key.namespace,
                    label_selector=key.label_selector,
                    field_selector=key.field_selector,
                    limit=limit,
                    continue_=token,
                )
            except KubeError as err:
                if err.expired and token is not None:
                    # The continue token outlived the server's history: list again, unpaged.
                    self._log.info("list continue token expired; listing in one piece")
                    fresh, token, limit = {}, None, 0
                    continue
                raise
            with gc_paused():
                for item in page.get("items") or ():
                    self._store(fresh, item)
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            token = meta.get("continue") or None
            del page
            if not token:
                break
        if not rv:
            raise KubeError(
                "list",
                key.resource,
                key.namespace,
                reason="BadResponse",
                message="the list has no metadata.resourceVersion",
            )
        self._replace(fresh, rv)

    def _store(self, into: dict[ObjectKey, JSON], item: Any) -> None:
        obj_key = _object_key(item.get("metadata")) if isinstance(item, dict) else None
        if obj_key is None:
            self._bad_object(item)
            return
        into[obj_key] = self._prune(self.resource, item)

    def _bad_object(self, item: Any) -> None:
        metrics.ERRORS.labels(self.resource, "BadObject").inc()
        if self._throttle.allow("bad-object"):
            self._log.warning("object without metadata.name ignored", object=str(item)[:200])

    def _replace(self, fresh: dict[ObjectKey, JSON], rv: str) -> None:
        """Make ``fresh`` the view; tell subscribers what changed, then RESYNC."""
        current = self.objects
        changes: list[tuple[str, JSON | None, JSON | None]] = []
        for obj_key, obj in fresh.items():
            prev = current.get(obj_key)
            if prev is None:
                changes.append(("ADDED", None, obj))
            elif not same_object(prev, obj):
                changes.append(("MODIFIED", prev, obj))
        gone = [k for k in current if k not in fresh]
        changes.extend(("DELETED", current[k], None) for k in gone)
        for k in gone:
            del current[k]
        current.update(fresh)
        self.resource_version = rv
        self.last_event = time.time()
        metrics.RELISTS.labels(self.resource, self._relist_reason).inc()
        if self._relist_reason == "initial":
            self._log.info("informer synced", objects=len(current), resource_version=rv)
        self._need_list = False
        self._progressed = False
        self._healthy()
        for change in changes:
            self._notify(*change)
        self.synced.set()
        self._notify("RESYNC", None, None)

    # -- watch -----------------------------------------------------------

    async def _watch(self) -> bool:
        """Watch until the server ends the stream; True if any event arrived."""
        key = self.key
        stream = self.client.open_watch(
            key.resource,
            namespace=key.namespace,
            label_selector=key.label_selector,
            field_selector=key.field_selector,
            resource_version=self.resource_version,
            timeout_seconds=random.randint(*self.options.watch_timeout),
        )
        delivered = False
        async with stream:
            self._healthy()
            async for event in stream:
                self._apply(event)
                delivered = True
        return delivered

    def _apply(self, event: JSON) -> None:
        event_type = event["type"]
        obj = event["object"]
        meta = obj.get("metadata")
        self._event_counters[event_type].inc()
        self.last_event = time.time()
        self._progressed = True
        rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if event_type != "BOOKMARK":
            self._change(event_type, obj, meta)
        if isinstance(rv, str) and rv:
            self.resource_version = rv

    def _change(self, event_type: str, obj: JSON, meta: Any) -> None:
        obj_key = _object_key(meta)
        if obj_key is None:
            self._bad_object(obj)
            return
        objects = self.objects
        if event_type == "DELETED":
            prev = objects.pop(obj_key, None)
            if prev is not None:
                self._notify("DELETED", prev, None)
            return
        new = self._prune(self.resource, obj)
        prev = objects.get(obj_key)
        objects[obj_key] = new
        if prev is None:
            self._notify("ADDED", None, new)
        elif not same_object(prev, new):
            self._notify("MODIFIED", prev, new)
